"""Cloud-agnostic t-shirt sizes: ``gpu.small`` ... ``cpu.xlarge``."""

from __future__ import annotations

from collections.abc import Callable

from torchx.specs.api import Resource

GiB = 1024


def _res(cpu: int, gpu: int, mem_gib: float) -> Callable[[], Resource]:
    def factory() -> Resource:
        return Resource(cpu=cpu, gpu=gpu, memMB=int(mem_gib * GiB))

    return factory


NAMED_RESOURCES: dict[str, Callable[[], Resource]] = {
    "gpu.small": _res(8, 1, 32),
    "gpu.medium": _res(16, 2, 64),
    "gpu.large": _res(32, 4, 128),
    "gpu.xlarge": _res(64, 8, 256),
    "cpu.nano": _res(1, 0, 0.5),
    "cpu.micro": _res(1, 0, 1),
    "cpu.small": _res(1, 0, 2),
    "cpu.medium": _res(2, 0, 4),
    "cpu.large": _res(2, 0, 8),
    "cpu.xlarge": _res(8, 0, 32),
}
