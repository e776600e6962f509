"""The torchx.specs and component examples of the spec, run exactly as written there."""

from __future__ import annotations

import doctest
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.spec_examples.rst import blocks, find, spec_dir
from torchx import specs
from torchx.specs import named_resources as nr_module  # noqa: F401  (the mapping instance)
from torchx.specs.builders import materialize_appdef
from torchx.specs.finder import get_component
from torchx.specs.named_resources import _named_resource_factories


@pytest.fixture
def clean_named_resources() -> Iterator[None]:
    before = dict(_named_resource_factories)
    yield
    _named_resource_factories.clear()
    _named_resource_factories.update(before)


def _run(code: str, ns: dict[str, Any]) -> dict[str, Any]:
    exec(compile(code, "<spec example>", "exec"), ns)
    return ns


def _doctest(code: str, ns: dict[str, Any]) -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(code, dict(ns), "spec", "spec.rst", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    result = runner.run(test)
    assert result.failed == 0, f"{result.failed} doctest example(s) failed:\n{code}"


@pytest.mark.parametrize("rst", ["advanced.rst", "advanced-legacy.rst"])
def test_named_resource_factories_example(rst: str) -> None:
    ns = _run(find(rst, "def gpu_x4() -> Resource:", "testcode").code, {})
    hidden = [b for b in blocks(rst) if b.hidden and b.directive == "testcode"]
    assert len(hidden) == 1
    _run(hidden[0].code, ns)
    assert ns["gpu_x4"]() == specs.Resource(cpu=64, gpu=8, memMB=488_000)


@pytest.mark.parametrize("rst", ["advanced.rst", "advanced-legacy.rst"])
def test_registered_named_resource_doctest_and_component(rst: str, clean_named_resources: None) -> None:
    group = [b for b in blocks(rst) if b.group == "role"]
    assert [b.directive for b in group] == ["testsetup", "doctest", "testcode"]
    ns = _run(group[0].code, {})
    _doctest(group[1].code, ns)
    ns = _run(group[2].code, ns)
    app = ns["test_app"]("gpu_x2")
    assert app.roles[0].resource == specs.Resource(cpu=16, gpu=2, memMB=122_000)


def test_verifying_registration_example(clean_named_resources: None) -> None:
    _run(find("advanced.rst", "_named_resource_factories[", "testsetup").code, {})
    _run(find("advanced.rst", 'assert res.gpu == 2, f"expected 2 GPUs').code, {})


def test_unknown_named_resource_suggests_close_names() -> None:
    with pytest.raises(KeyError, match="Did you mean `gpu.small`"):
        specs.resource(h="gpu.smal")


def test_custom_named_resources_module_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = find("advanced.rst", "# my_resources.py").code
    (tmp_path / "my_resources.py").write_text(code)
    export = find("advanced.rst", "export TORCHX_CUSTOM_NAMED_RESOURCES=").code.strip()
    var, _, value = export.removeprefix("export ").partition("=")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(var, value)
    monkeypatch.delitem(sys.modules, "my_resources", raising=False)
    assert specs.resource(h="gpu_x8_efa") == specs.Resource(
        cpu=100, gpu=8, memMB=819200, devices={"vpc.amazonaws.com/efa": 1}
    )
    assert specs.get_named_resources("CPU_X32").memMB == 131072
    assert "cpu_x32" in specs.named_resources


def test_basics_appdef_example() -> None:
    ns = _run(find("basics.rst", 'args=["hello world"]').code, {})
    app = ns["app"]
    assert app.roles[0].entrypoint == "/bin/echo" and app.roles[0].args == ["hello world"]


def test_basics_component_example_through_the_cli_machinery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_component.py").write_text(find("basics.rst", "def ddp(name: str, nnodes").code)
    monkeypatch.chdir(tmp_path)
    cmd = find("basics.rst", "my_component.py:ddp").code.split()
    comp = get_component(cmd[-1])
    assert comp.validation_errors == []
    app = materialize_appdef(
        comp.fn, ["--name", "t", "--nnodes", "2", "--image", "img", "--entrypoint", "echo",
                  "hello", "--world"],
    )
    role = app.roles[0]
    assert (app.name, role.num_replicas, role.image, role.entrypoint, role.args) == (
        "t", 2, "img", "echo", ["hello", "--world"]
    )


def test_api_reference_core_types_examples() -> None:
    ns = _run(find("api_reference.rst", "# Core types — job definitions").code, {})
    for marker in ('name="my_job",             # str', 'name="trainer",            # str',
                   "# Option 1: named resource (preferred)"):
        ns = _run(find("api_reference.rst", marker).code, ns)
    assert ns["role"].resource == specs.Resource(cpu=4, gpu=1, memMB=8192)
    res = ns["res"]  # the last assignment: resource(h="aws_p3.2xlarge")
    assert (res.cpu, res.gpu, res.memMB) == (8, 1, 61 * 983)
    assert res.capabilities == {"node.kubernetes.io/instance-type": "p3.2xlarge"}


@pytest.mark.parametrize("marker", ['"NCCL_DEBUG": "INFO"', "BindMount(src_path=", '"--job_id", macros.app_id'])
def test_api_reference_role_recipes(marker: str) -> None:
    ns = _run("import torchx.specs as specs\n", {})
    role = _run(find("api_reference.rst", marker).code, ns)["role"]
    assert isinstance(role, specs.Role)
    filled = specs.macros.Values(img_root="/img", app_id="app-1", replica_id="3",
                                 rank0_env="RANK0").apply(role)
    if "--job_id" in role.args:
        assert filled.args == ["-m", "my_train", "--job_id", "app-1", "--replica", "3"]
        assert filled.env == {"IMG_ROOT": "/img"}
    if role.mounts:
        assert role.mounts[0] == specs.BindMount("/data/datasets", "/mnt/data", read_only=True)


def test_api_reference_custom_component(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = find("api_reference.rst", "# my_component.py").code
    component, _, launch = code.partition("# Launch it:")
    (tmp_path / "my_component.py").write_text(component)
    monkeypatch.chdir(tmp_path)
    # the arguments the example launches it with
    assert '["--script", "my_train", "--resource_name", "gpu.medium"]' in launch
    comp = get_component("my_component.py:trainer")
    app = materialize_appdef(comp.fn, ["--script", "my_train", "--resource_name", "gpu.medium"])
    assert app.roles[0].args == ["-m", "my_train"]
    assert app.roles[0].resource == specs.resource(h="gpu.medium")
    assert comp.description == "Launch single-node training."


def test_user_notes_python_component_shape() -> None:
    """user-notes.md shows utils.python's AppDef; ours builds the same shape."""
    app = materialize_appdef(get_component("utils.python").fn, ["-m", "hello", "--num_replicas", "2"])
    role = app.roles[0]
    assert (app.name, role.name, role.entrypoint, role.num_replicas) == (
        "torchx_utils_python", "python", "python", 2
    )
    assert role.args == ["-m", "hello"] and role.env == {"HYDRA_MAIN_MODULE": "hello"}
    assert role.image == "ghcr.io/pytorch/torchx:latest"


def test_user_notes_dryrun_example_arguments() -> None:
    """`torchx run --dryrun -s local_cwd utils.python hello.py aptg` materializes."""
    app = materialize_appdef(get_component("utils.python").fn, ["hello.py", "aptg"])
    assert app.roles[0].args == ["hello.py", "aptg"]


def test_examples_do_not_leak_env() -> None:
    assert "TORCHX_CUSTOM_NAMED_RESOURCES" not in os.environ


def _user_notes_command(marker: str) -> list[str]:
    import re
    import shlex

    text = (spec_dir() / "user-notes.md").read_text()
    found = [b.strip() for b in re.findall(r"```shell\n(.*?)```", text, re.S) if marker in b]
    assert len(found) == 1, found
    return shlex.split(found[0])


def _torchx(argv: list[str], cwd: Path) -> Any:
    import subprocess

    assert argv[0] == "torchx"
    return subprocess.run([sys.executable, "-m", "torchx.cli.main", *argv[1:]], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_user_notes_component_help_command(tmp_path: Path) -> None:
    """`torchx run -s local_cwd dist.ddp --help`: the usage names the whole command."""
    p = _torchx(_user_notes_command("dist.ddp --help"), tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("usage: torchx run dist.ddp "), p.stdout[:200]
    assert "Distributed data parallel training with torchrun" in p.stdout
    assert "-j J" in p.stdout and "--script SCRIPT" in p.stdout


def test_user_notes_dryrun_command(tmp_path: Path) -> None:
    """`torchx run --dryrun -s local_cwd utils.python hello.py aptg` prints the app, launches nothing."""
    p = _torchx(_user_notes_command("utils.python hello.py aptg"), tmp_path)
    assert p.returncode == 0, p.stderr
    assert "torchx_utils_python" in p.stdout and '"hello.py", "aptg"' in p.stdout
