"""AWS EC2 instance types as named resources: ``aws_<type>``, e.g. ``aws_p3.2xlarge``.

Each is the whole instance: its vCPUs and GPUs, memory as the instance's GiB x 983 MB (4% kept
back for the system and the kubelet), the capability ``node.kubernetes.io/instance-type`` and,
where the instance has them, EFA (``vpc.amazonaws.com/efa``) and Neuron
(``aws.amazon.com/neurondevice``) devices.
"""

from __future__ import annotations

from collections.abc import Callable

from torchx.specs.api import Resource

K8S_ITYPE = "node.kubernetes.io/instance-type"
EFA_DEVICE = "vpc.amazonaws.com/efa"
NEURON_DEVICE = "aws.amazon.com/neurondevice"
MEM_MB_PER_GIB = 983
"""1 GiB of instance memory -> MB a job may request (1024 minus 4% for the system)."""

# instance type: (vCPU, GPU, memory GiB, EFA devices, Neuron devices)
INSTANCE_TYPES: dict[str, tuple[int, int, int, int, int]] = {
    "t3.medium": (2, 0, 4, 0, 0),
    "m5.large": (2, 0, 8, 0, 0),
    "m5.xlarge": (4, 0, 16, 0, 0),
    "m5.2xlarge": (8, 0, 32, 0, 0),
    "m5.4xlarge": (16, 0, 64, 0, 0),
    "m5.8xlarge": (32, 0, 128, 0, 0),
    "m5.12xlarge": (48, 0, 192, 0, 0),
    "m5.16xlarge": (64, 0, 256, 0, 0),
    "m5.24xlarge": (96, 0, 384, 0, 0),
    "m5.metal": (96, 0, 384, 0, 0),
    "m5d.large": (2, 0, 8, 0, 0),
    "m5d.xlarge": (4, 0, 16, 0, 0),
    "m5d.2xlarge": (8, 0, 32, 0, 0),
    "m5d.4xlarge": (16, 0, 64, 0, 0),
    "m5d.8xlarge": (32, 0, 128, 0, 0),
    "m5d.12xlarge": (48, 0, 192, 0, 0),
    "m5d.16xlarge": (64, 0, 256, 0, 0),
    "m5d.24xlarge": (96, 0, 384, 0, 0),
    "m5d.metal": (96, 0, 384, 0, 0),
    "c5.18xlarge": (72, 0, 144, 0, 0),
    "p3.2xlarge": (8, 1, 61, 0, 0),
    "p3.8xlarge": (32, 4, 244, 0, 0),
    "p3.16xlarge": (64, 8, 488, 0, 0),
    "p3dn.24xlarge": (96, 8, 768, 1, 0),
    "p4d.24xlarge": (96, 8, 1152, 4, 0),
    "p4de.24xlarge": (96, 8, 1152, 4, 0),
    "p5.48xlarge": (192, 8, 2048, 32, 0),
    "p5e.48xlarge": (192, 8, 2048, 32, 0),
    "p5en.48xlarge": (192, 8, 2048, 16, 0),
    "g4dn.xlarge": (4, 1, 16, 0, 0),
    "g4dn.2xlarge": (8, 1, 32, 0, 0),
    "g4dn.4xlarge": (16, 1, 64, 0, 0),
    "g4dn.8xlarge": (32, 1, 128, 1, 0),
    "g4dn.12xlarge": (48, 4, 192, 1, 0),
    "g4dn.16xlarge": (64, 1, 256, 1, 0),
    "g4dn.metal": (96, 8, 384, 1, 0),
    "g5.xlarge": (4, 1, 16, 0, 0),
    "g5.2xlarge": (8, 1, 32, 0, 0),
    "g5.4xlarge": (16, 1, 64, 0, 0),
    "g5.8xlarge": (32, 1, 128, 1, 0),
    "g5.12xlarge": (48, 4, 192, 1, 0),
    "g5.16xlarge": (64, 1, 256, 1, 0),
    "g5.24xlarge": (96, 4, 384, 1, 0),
    "g5.48xlarge": (192, 8, 768, 1, 0),
    "g6e.xlarge": (4, 1, 32, 0, 0),
    "g6e.2xlarge": (8, 1, 64, 0, 0),
    "g6e.4xlarge": (16, 1, 128, 0, 0),
    "g6e.8xlarge": (32, 1, 256, 1, 0),
    "g6e.12xlarge": (48, 4, 384, 1, 0),
    "g6e.16xlarge": (64, 1, 512, 1, 0),
    "g6e.24xlarge": (96, 4, 768, 2, 0),
    "g6e.48xlarge": (192, 8, 1536, 4, 0),
    "trn1.2xlarge": (8, 0, 32, 0, 1),
    "trn1.32xlarge": (128, 0, 512, 8, 16),
    "inf2.xlarge": (4, 0, 16, 0, 1),
    "inf2.8xlarge": (32, 0, 128, 0, 1),
    "inf2.24xlarge": (96, 0, 384, 0, 6),
    "inf2.48xlarge": (192, 0, 768, 0, 12),
}


def _factory(itype: str, spec: tuple[int, int, int, int, int]) -> Callable[[], Resource]:
    cpu, gpu, mem_gib, efa, neuron = spec

    def factory() -> Resource:
        devices = {EFA_DEVICE: efa, NEURON_DEVICE: neuron}
        return Resource(
            cpu=cpu,
            gpu=gpu,
            memMB=mem_gib * MEM_MB_PER_GIB,
            capabilities={K8S_ITYPE: itype},
            devices={k: n for k, n in devices.items() if n},
        )

    factory.__name__ = "aws_" + itype.replace(".", "_")
    factory.__doc__ = f"AWS {itype}: {cpu} vCPU, {gpu} GPU, {mem_gib} GiB."
    return factory


NAMED_RESOURCES: dict[str, Callable[[], Resource]] = {
    f"aws_{itype}": _factory(itype, spec) for itype, spec in INSTANCE_TYPES.items()
}
