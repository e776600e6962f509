"""Public names and behaviour of ``torchx.specs`` that match upstream TorchX's (issue 11)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

import torchx.specs as specs
from torchx.specs import NULL_RESOURCE, AppDef, Resource, Role, runopts
from torchx.specs.errors import TorchXError


@pytest.mark.parametrize("name", ["NULL", "MISSING"])
def test_null_and_missing_named_resources(name: str) -> None:
    assert specs.named_resources[name] == NULL_RESOURCE
    assert specs.resource(h=name) == NULL_RESOURCE
    assert name in specs.named_resources and name in list(specs.named_resources)
    specs.resource(h=name).capabilities["x"] = 1
    assert NULL_RESOURCE.capabilities == {}  # a copy, never the shared constant


def test_named_resources_carry_their_name() -> None:
    res = specs.resource(h="GPU.SMALL")
    assert res.get_resource_name() == "gpu.small" and not res.is_fractional()
    assert Resource(cpu=1, gpu=0, memMB=1).get_resource_name() is None
    assert res == Resource(cpu=8, gpu=1, memMB=32768)  # tags are labels, not hardware


def test_cfg_from_json_repr_null_is_none() -> None:
    opts = runopts()
    opts.add("l", list[str], "a list")
    opts.add("d", dict[str, str], "a dict")
    opts.add("s", str, "a str", default="x")
    assert opts.cfg_from_json_repr('{"l": null, "d": null, "s": null}') == {
        "l": None, "d": None, "s": None}
    assert opts.cfg_from_json_repr('{"l": ["a", "b"]}') == {"l": ["a", "b"]}


def test_capability_key() -> None:
    gpu_type = specs.CapabilityKey("acme", "gpu_type", str)
    count = specs.CapabilityKey("acme", "count", int)
    assert gpu_type.key == "acme.gpu_type"
    res = Resource(cpu=1, gpu=1, memMB=1)
    assert gpu_type.get(res) is None and gpu_type.get(res, "none") == "none"
    gpu_type.set(res, "h100")
    count.set(res, 3)
    assert res.capabilities == {"acme.gpu_type": "h100", "acme.count": 3}
    assert gpu_type.get(res) == "h100" and count.get(res) == 3
    with pytest.raises(TypeError):
        count.set(res, True)  # a bool is not an int here
    res.capabilities["acme.count"] = True
    with pytest.raises(TypeError, match="acme.count"):
        count.get(res)
    with pytest.raises(dataclasses.FrozenInstanceError):
        gpu_type.name = "x"  # type: ignore[misc]


def test_metadata_keys_and_sentinels() -> None:
    assert specs.TORCHX_CONTEXT_NAME == "TORCHX_CONTEXT_NAME"
    assert specs.NA == "<<NA>>"
    assert specs.UNKNOWN == "<UNKNOWN>" and specs.ALL == "all"
    md = specs.app_metadata
    assert (md.CONTEXT, md.VERSION, md.SCHEDULER, md.ROLES_PREFIX) == (
        "torchx/context", "torchx/version", "torchx/scheduler", "torchx/roles.")
    assert specs.ReplicaState is specs.AppState


def test_torchx_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHX_HOME", str(tmp_path / "h"))
    path = specs.TORCHX_HOME("a", "b")
    assert path == tmp_path / "h" / "a" / "b" and path.is_dir()


def test_get_type_name_and_cases() -> None:
    assert specs.get_type_name(int) == "int"
    assert specs.get_type_name(list[str]) == "list[str]"
    assert specs.cases.snake_to_camel("log_dir") == "logDir"
    assert specs.cases.camel_to_snake("logDir") == "log_dir"
    assert specs.cases.camel_to_snake(specs.cases.snake_to_camel("max_retry_count")) == "max_retry_count"


def test_materialize_appdef() -> None:
    from torchx.components.utils import echo

    app = specs.materialize_appdef(echo, ["--msg", "hi"])
    assert app.roles[0].args == ["hi"]
    app = specs.materialize_appdef(echo, [], config={"msg": "from config"})
    assert app.roles[0].args == ["from config"]
    app = specs.materialize_appdef(echo, ["--num_replicas", "2"], defaults={"msg": "d"},
                                   config={"msg": "c"})
    assert app.roles[0].args == ["c"] and app.roles[0].num_replicas == 2


def test_macros_reach_nested_metadata() -> None:
    role = Role("r", image="i", metadata={
        "docker": {"container": {"labels": {"rep": specs.macros.replica_id}},
                   "l": [specs.macros.app_id, 1]},
        "flat": specs.macros.app_id,
    })
    values = specs.macros.Values(img_root="", app_id="app", replica_id="3", rank0_env="X")
    assert values.apply(role).metadata == {
        "docker": {"container": {"labels": {"rep": "3"}}, "l": ["app", 1]}, "flat": "app"}


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from torchx.runner import get_runner

    monkeypatch.setenv("TORCHX_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    with get_runner() as r:
        yield r


def test_dryrun_without_roles_is_a_value_error(runner) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="no roles") as e:
        runner.dryrun(AppDef("empty"), "local_cwd")
    assert isinstance(e.value, TorchXError)


@pytest.mark.parametrize("n", [0, -1])
def test_dryrun_rejects_non_positive_replicas(runner, n: int) -> None:  # type: ignore[no-untyped-def]
    app = AppDef("a", roles=[Role("ok", image="i", entrypoint="true"),
                             Role("trainer", image="i", entrypoint="true", num_replicas=n)])
    with pytest.raises(ValueError, match=f"role `trainer`.*num_replicas={n}"):
        runner.dryrun(app, "local_cwd")


def test_describe_returns_the_submitted_name_and_metadata(runner) -> None:  # type: ignore[no-untyped-def]
    from torchx.runner import get_runner

    app = AppDef("my-job", roles=[Role("r", image="i", entrypoint="true")],
                 metadata={"team": "ml"})
    handle = runner.run(app, "local_cwd")
    desc = runner.describe(handle)
    assert desc is not None and desc.name == "my-job" and desc.metadata == {"team": "ml"}
    assert desc.roles[0].name == "r"
    with get_runner() as other:  # another process's view: from the scheduler's journal
        seen = other.describe(handle)
        assert seen is not None and seen.name == "my-job" and seen.metadata == {"team": "ml"}
    runner.wait(handle, wait_interval=0.1)
    assert os.path.isdir(os.environ["TORCHX_HOME"])


def test_appdef_role_access() -> None:
    app = AppDef("a", roles=[Role("trainer", image="i"), Role("reader", image="i")])
    assert app["reader"] is app.roles[1] and app.get_role("trainer") is app.roles[0]
    assert "trainer" in app and "nope" not in app and app.roles[0] not in app
    with pytest.raises(KeyError, match="trainer"):
        app["nope"]
    with pytest.raises(TypeError):
        iter(app)  # type: ignore[call-overload]


def test_version_and_image() -> None:
    import torchx
    from torchx import version
    from torchx.components import IMAGE

    assert torchx.IMAGE == version.TORCHX_IMAGE == IMAGE
    assert version.__version__ == torchx.__version__
