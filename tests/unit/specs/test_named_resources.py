"""Named resources: generic sizes, the AWS table, case, plugins, the custom module and errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchx import specs
from torchx.specs import Resource, named_resources
from torchx.specs.named_resources import _named_resource_factories
from torchx.specs.named_resources_aws import EFA_DEVICE, K8S_ITYPE, NEURON_DEVICE
from torchx.util import entrypoints

GiB = 1024


@pytest.mark.parametrize(
    "name, cpu, gpu, mem_gib",
    [
        ("gpu.small", 8, 1, 32), ("gpu.medium", 16, 2, 64), ("gpu.large", 32, 4, 128),
        ("gpu.xlarge", 64, 8, 256), ("cpu.nano", 1, 0, 0.5), ("cpu.micro", 1, 0, 1),
        ("cpu.small", 1, 0, 2), ("cpu.medium", 2, 0, 4), ("cpu.large", 2, 0, 8),
        ("cpu.xlarge", 8, 0, 32),
    ],
)
def test_generic_sizes(name: str, cpu: int, gpu: int, mem_gib: float) -> None:
    assert specs.resource(h=name) == Resource(cpu=cpu, gpu=gpu, memMB=int(mem_gib * GiB))


# (type, vCPU, GPU, GiB, EFA, Neuron) -- from the AWS instance type pages
@pytest.mark.parametrize(
    "itype, cpu, gpu, gib, efa, neuron",
    [
        ("t3.medium", 2, 0, 4, 0, 0),
        ("m5.large", 2, 0, 8, 0, 0),
        ("m5.24xlarge", 96, 0, 384, 0, 0),
        ("m5d.metal", 96, 0, 384, 0, 0),
        ("c5.18xlarge", 72, 0, 142, 0, 0),
        ("p3.2xlarge", 8, 1, 61, 0, 0),
        ("p3.8xlarge", 32, 4, 244, 0, 0),
        ("p3.16xlarge", 64, 8, 488, 0, 0),
        ("p3dn.24xlarge", 96, 8, 768, 1, 0),
        ("p4d.24xlarge", 96, 8, 1152, 4, 0),
        ("p4de.24xlarge", 96, 8, 1152, 4, 0),
        ("p5.48xlarge", 192, 8, 2048, 32, 0),
        ("p5e.48xlarge", 192, 8, 2048, 32, 0),
        ("p5en.48xlarge", 192, 8, 2048, 16, 0),
        ("g4dn.xlarge", 4, 1, 16, 0, 0),
        ("g4dn.12xlarge", 48, 4, 192, 1, 0),
        ("g4dn.metal", 96, 8, 384, 1, 0),
        ("g5.2xlarge", 8, 1, 32, 0, 0),
        ("g5.48xlarge", 192, 8, 768, 1, 0),
        ("g6e.xlarge", 4, 1, 32, 0, 0),
        ("g6e.48xlarge", 192, 8, 1536, 4, 0),
        ("trn1.2xlarge", 8, 0, 32, 0, 1),
        ("trn1.32xlarge", 128, 0, 512, 8, 16),
        ("inf2.xlarge", 4, 0, 16, 0, 1),
        ("inf2.48xlarge", 192, 0, 768, 0, 12),
    ],
)
def test_aws_table(itype: str, cpu: int, gpu: int, gib: int, efa: int, neuron: int) -> None:
    res = specs.resource(h=f"aws_{itype}")
    assert (res.cpu, res.gpu, res.memMB) == (cpu, gpu, gib * 983)
    assert res.capabilities == {K8S_ITYPE: itype}
    expected_devices = {k: n for k, n in ((EFA_DEVICE, efa), (NEURON_DEVICE, neuron)) if n}
    assert res.devices == expected_devices


@pytest.mark.parametrize(
    "family, sizes",
    [
        ("m5", ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "metal"]),
        ("m5d", ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "metal"]),
        ("g4dn", ["xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "metal"]),
        ("g5", ["xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"]),
        ("g6e", ["xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"]),
        ("inf2", ["xlarge", "8xlarge", "24xlarge", "48xlarge"]),
    ],
)
def test_aws_families_are_complete(family: str, sizes: list[str]) -> None:
    for size in sizes:
        assert f"aws_{family}.{size}" in named_resources


def test_factories_return_fresh_objects() -> None:
    a = specs.resource(h="aws_p4d.24xlarge")
    a.devices[EFA_DEVICE] = 99
    a.capabilities.clear()
    assert specs.resource(h="aws_p4d.24xlarge").devices[EFA_DEVICE] == 4


@pytest.mark.parametrize("name", ["GPU.SMALL", "Gpu.Small", "AWS_P3.2XLARGE", "aws_P3.2xlarge"])
def test_lookup_is_case_insensitive(name: str) -> None:
    assert specs.resource(h=name) == specs.resource(h=name.lower())
    assert specs.get_named_resources(name) == named_resources[name]


@pytest.mark.parametrize(
    "name, suggestion",
    [("gpu.smal", "gpu.small"), ("aws_p3.2xlrge", "aws_p3.2xlarge"), ("cpu-large", "cpu.large"),
     ("GPU.SMAL", "gpu.small")],
)
def test_unknown_name_suggests(name: str, suggestion: str) -> None:
    with pytest.raises(KeyError, match=f"unknown named resource `{name}`. Did you mean.*`{suggestion}`"):
        specs.resource(h=name)
    assert name not in named_resources


def test_explicit_sizes_without_h() -> None:
    assert specs.resource() == Resource(cpu=2, gpu=0, memMB=1024)  # upstream's default
    assert specs.resource(cpu=0, memMB=0) == Resource(cpu=2, gpu=0, memMB=1024)  # 0 = unset
    assert specs.resource(cpu=4, memMB=10) == Resource(cpu=4, gpu=0, memMB=10)


def test_mapping_view() -> None:
    names = list(named_resources)
    assert "gpu.small" in names and "aws_t3.medium" in names
    assert len(named_resources) == len(names)


@pytest.fixture
def restore_registry() -> Iterator[None]:
    before = dict(_named_resource_factories)
    entrypoints.clear_cache()
    yield
    _named_resource_factories.clear()
    _named_resource_factories.update(before)
    entrypoints.clear_cache()


def test_runtime_registration_wins(restore_registry: None) -> None:
    _named_resource_factories["gpu.small"] = lambda: Resource(cpu=99, gpu=9, memMB=1)
    assert specs.resource(h="gpu.small").cpu == 99


def _write_module(tmp_path: Path, name: str, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / f"{name}.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)


def test_custom_module_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_module(tmp_path, "team_sizes", (
        "from torchx.specs import Resource\n"
        "NAMED_RESOURCES = {'Team.Big': lambda: Resource(cpu=7, gpu=3, memMB=77)}\n"
    ), monkeypatch)
    monkeypatch.setenv("TORCHX_CUSTOM_NAMED_RESOURCES", "team_sizes")
    assert specs.resource(h="team.big") == Resource(cpu=7, gpu=3, memMB=77)
    assert "Team.Big" in list(named_resources)
    monkeypatch.delenv("TORCHX_CUSTOM_NAMED_RESOURCES")
    with pytest.raises(KeyError):
        specs.resource(h="team.big")


@pytest.mark.parametrize(
    "body, message",
    [(None, "does not import"), ("X = 1\n", "has no NAMED_RESOURCES dict")],
)
def test_custom_module_errors_name_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str | None, message: str
) -> None:
    if body is not None:
        _write_module(tmp_path, "bad_sizes", body, monkeypatch)
    monkeypatch.setenv("TORCHX_CUSTOM_NAMED_RESOURCES", "bad_sizes" if body else "no_such_module_xyz")
    with pytest.raises(KeyError, match=message):
        specs.resource(h="anything")
    assert specs.resource(h="gpu.small").gpu == 1  # builtins never need the custom module


class _FakeEntryPoint:
    def __init__(self, name: str, obj: object) -> None:
        self.name, self.value, self._obj = name, f"fake:{name}", obj

    def load(self) -> object:
        return self._obj


def test_entry_point_route(restore_registry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def gpu_x2() -> Resource:
        return Resource(cpu=16, gpu=2, memMB=122_000)

    entrypoints._cache["torchx.named_resources"] = {"gpu_x2": _FakeEntryPoint("gpu_x2", gpu_x2)}
    assert specs.resource(h="GPU_X2") == gpu_x2()


def test_factory_returning_wrong_type(restore_registry: None) -> None:
    _named_resource_factories["broken"] = lambda: "nope"  # type: ignore[assignment,return-value]
    with pytest.raises(TypeError, match="not Resource"):
        specs.resource(h="broken")
