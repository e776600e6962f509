"""The AWS named resources equal upstream TorchX's table name by name (inventory 2.3).

The table below is written from the inventory (cpu, gpu, memMB, EFA, Neuron), not from our module,
so a typo on either side fails.
"""

from __future__ import annotations

import logging

import pytest

from torchx import specs
from torchx.specs import Resource, named_resources_aws
from torchx.specs.named_resources_aws import (
    EFA_DEVICE,
    K8S_ITYPE,
    MEM_TAX,
    NEURON_DEVICE,
    GiB,
    instance_type_from_resource,
)

# name, cpu, gpu, memMB, efa, neuron
UPSTREAM = [
    ("aws_t3.medium", 2, 0, 3932, 0, 0),
    ("aws_m5.large", 2, 0, 7864, 0, 0),
    ("aws_m5.xlarge", 4, 0, 15728, 0, 0),
    ("aws_m5.2xlarge", 8, 0, 31456, 0, 0),
    ("aws_m5.4xlarge", 16, 0, 62912, 0, 0),
    ("aws_m5.8xlarge", 32, 0, 125824, 0, 0),
    ("aws_m5.12xlarge", 48, 0, 188736, 0, 0),
    ("aws_m5.16xlarge", 64, 0, 251648, 0, 0),
    ("aws_m5.24xlarge", 96, 0, 377472, 0, 0),
    ("aws_m5.metal", 96, 0, 377472, 0, 0),
    ("aws_m5d.large", 2, 0, 7864, 0, 0),
    ("aws_m5d.xlarge", 4, 0, 15728, 0, 0),
    ("aws_m5d.2xlarge", 8, 0, 31456, 0, 0),
    ("aws_m5d.4xlarge", 16, 0, 62912, 0, 0),
    ("aws_m5d.8xlarge", 32, 0, 125824, 0, 0),
    ("aws_m5d.12xlarge", 48, 0, 188736, 0, 0),
    ("aws_m5d.16xlarge", 64, 0, 251648, 0, 0),
    ("aws_m5d.24xlarge", 96, 0, 377472, 0, 0),
    ("aws_m5d.metal", 96, 0, 377472, 0, 0),
    ("aws_c5.18xlarge", 72, 0, 139586, 0, 0),
    ("aws_p3.2xlarge", 8, 1, 59963, 0, 0),
    ("aws_p3.8xlarge", 32, 4, 239852, 0, 0),
    ("aws_p3.16xlarge", 64, 8, 479704, 0, 0),
    ("aws_p3dn.24xlarge", 96, 8, 754944, 1, 0),
    ("aws_p4d.24xlarge", 96, 8, 1132416, 4, 0),
    ("aws_p4de.24xlarge", 96, 8, 1132416, 4, 0),
    ("aws_p5.48xlarge", 192, 8, 2013184, 32, 0),
    ("aws_p5e.48xlarge", 192, 8, 2013184, 32, 0),
    ("aws_p5en.48xlarge", 192, 8, 2013184, 16, 0),
    ("aws_p6-b200.48xlarge", 192, 8, 2013184, 8, 0),
    ("aws_p6-b300.48xlarge", 192, 8, 4026368, 16, 0),
    ("aws_p6e-gb200.36xlarge", 144, 4, 943680, 16, 0),
    ("aws_g4dn.xlarge", 4, 1, 15728, 0, 0),
    ("aws_g4dn.2xlarge", 8, 1, 31456, 0, 0),
    ("aws_g4dn.4xlarge", 16, 1, 62912, 0, 0),
    ("aws_g4dn.8xlarge", 32, 1, 125824, 1, 0),
    ("aws_g4dn.16xlarge", 64, 1, 251648, 1, 0),
    ("aws_g4dn.12xlarge", 48, 4, 188736, 1, 0),
    ("aws_g4dn.metal", 96, 8, 377472, 1, 0),
    ("aws_g5.xlarge", 4, 1, 15728, 0, 0),
    ("aws_g5.2xlarge", 8, 1, 31456, 0, 0),
    ("aws_g5.4xlarge", 16, 1, 62912, 0, 0),
    ("aws_g5.8xlarge", 32, 1, 125824, 1, 0),
    ("aws_g5.16xlarge", 64, 1, 251648, 1, 0),
    ("aws_g5.12xlarge", 48, 4, 188736, 1, 0),
    ("aws_g5.24xlarge", 96, 4, 377472, 1, 0),
    ("aws_g5.48xlarge", 192, 8, 754944, 1, 0),
    ("aws_g6e.xlarge", 4, 1, 31456, 0, 0),
    ("aws_g6e.2xlarge", 8, 1, 62912, 0, 0),
    ("aws_g6e.4xlarge", 16, 1, 125824, 0, 0),
    ("aws_g6e.8xlarge", 32, 1, 251648, 0, 0),
    ("aws_g6e.16xlarge", 64, 1, 503296, 0, 0),
    ("aws_g6e.12xlarge", 48, 4, 377472, 0, 0),
    ("aws_g6e.24xlarge", 96, 4, 754944, 2, 0),
    ("aws_g6e.48xlarge", 192, 8, 1509888, 4, 0),
    ("aws_trn1.2xlarge", 8, 0, 31456, 0, 1),
    ("aws_trn1.32xlarge", 128, 0, 503296, 8, 16),
    ("aws_inf2.xlarge", 4, 0, 15728, 0, 1),
    ("aws_inf2.8xlarge", 32, 0, 125824, 0, 1),
    ("aws_inf2.24xlarge", 96, 0, 377472, 0, 6),
    ("aws_inf2.48xlarge", 192, 0, 754944, 0, 12),
]


def test_table_has_every_upstream_name_and_no_other() -> None:
    ours = sorted(named_resources_aws.NAMED_RESOURCES)
    assert ours == sorted(row[0] for row in UPSTREAM)
    assert len(ours) == 61


@pytest.mark.parametrize("name, cpu, gpu, mem, efa, neuron", UPSTREAM)
def test_each_name_equals_upstream(
    name: str, cpu: int, gpu: int, mem: int, efa: int, neuron: int
) -> None:
    res = specs.resource(h=name)
    assert (res.cpu, res.gpu, res.memMB) == (cpu, gpu, mem)
    assert res.capabilities == {K8S_ITYPE: name.removeprefix("aws_")}
    devices = {k: n for k, n in ((EFA_DEVICE, efa), (NEURON_DEVICE, neuron)) if n}
    assert res.devices == devices


@pytest.mark.parametrize("name", [row[0] for row in UPSTREAM])
def test_each_name_has_a_factory_function(name: str) -> None:
    fn_name = name.replace(".", "_").replace("-", "_")
    factory = getattr(named_resources_aws, fn_name)
    assert factory.__name__ == fn_name
    assert factory() == named_resources_aws.NAMED_RESOURCES[name]()


def test_upstream_values_that_we_had_wrong() -> None:
    assert named_resources_aws.aws_c5_18xlarge().memMB == 139_586
    for size in ("8xlarge", "12xlarge", "16xlarge"):
        assert named_resources_aws.NAMED_RESOURCES[f"aws_g6e.{size}"]().devices == {}


def test_constants() -> None:
    assert GiB == 1024
    assert MEM_TAX == 0.96
    assert int(GiB * MEM_TAX) == 983


def test_instance_type_from_resource(caplog: pytest.LogCaptureFixture) -> None:
    assert instance_type_from_resource(named_resources_aws.aws_p4d_24xlarge()) == "p4d.24xlarge"
    with caplog.at_level(logging.WARNING):
        assert instance_type_from_resource(Resource(cpu=1, gpu=0, memMB=1)) is None
    assert K8S_ITYPE in caplog.text
