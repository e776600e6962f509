"""`torchx.specs.api` was split into one module per seam; every name it exported is still there,
and is the same object as in its new home (so isinstance checks and monkeypatches agree)."""

from __future__ import annotations

import importlib

import pytest

import torchx.specs
import torchx.specs.api as api

# every public name `torchx.specs.api` had before the split, and the private ones code imported
_API_NAMES = [
    "AppDef", "AppDryRunInfo", "AppHandle", "AppState", "AppStatus", "AppStatusError", "BindMount",
    "CfgVal", "DeviceMount", "InvalidRunConfigException", "MISSING", "MalformedAppHandleException",
    "Mount", "MountType", "NONE", "NULL_RESOURCE", "ParsedAppHandle", "ReplicaStatus", "Resource",
    "RetryPolicy", "Role", "RoleStatus", "StructuredOpts", "T", "TorchXError",
    "UnknownAppException", "UnknownSchedulerException", "VolumeMount", "Workspace",
    "cfg_from_str", "is_terminal", "macros", "make_app_handle", "parse_app_handle",
    "parse_mounts", "runopt", "runopts",
    "_DOCS_CACHE", "_FALSE", "_FIELDS_CACHE", "_HANDLE_RE", "_MOUNT_KEYS", "_OPT_TYPES",
    "_TERMINAL_STATES", "_TRUE", "_base_type", "_class_tree", "_convert", "_error_message",
    "_field_docs", "_indent", "_is_type", "_json_error", "_read_field_docs", "_split_unquoted",
    "_suggest", "_type_name", "_unwrap_optional",
]

_HOMES = {
    "torchx.specs.errors": ["TorchXError", "UnknownAppException", "UnknownSchedulerException",
                            "InvalidRunConfigException", "MalformedAppHandleException",
                            "AppStatusError"],
    "torchx.specs.appdef": ["AppDef", "Role", "Resource", "macros", "Workspace", "AppDryRunInfo",
                            "parse_mounts", "MISSING", "NONE"],
    "torchx.specs.status": ["AppState", "AppStatus", "RoleStatus", "ReplicaStatus", "is_terminal"],
    "torchx.specs.options": ["runopt", "runopts", "cfg_from_str", "CfgVal"],
    "torchx.specs.structured": ["StructuredOpts"],
    "torchx.specs.handles": ["parse_app_handle", "make_app_handle", "ParsedAppHandle"],
}


@pytest.mark.parametrize("name", _API_NAMES)
def test_specs_api_still_exports(name: str) -> None:
    assert hasattr(api, name), f"torchx.specs.api.{name} disappeared"


@pytest.mark.parametrize("name", torchx.specs.__all__)
def test_specs_package_exports_resolve(name: str) -> None:
    assert hasattr(torchx.specs, name)
    if hasattr(api, name):
        assert getattr(torchx.specs, name) is getattr(api, name)


@pytest.mark.parametrize(("module", "names"), list(_HOMES.items()))
def test_new_homes_hold_the_same_objects(module: str, names: list[str]) -> None:
    mod = importlib.import_module(module)
    for name in names:
        assert getattr(mod, name) is getattr(api, name), name


def test_shared_helpers_have_public_homes() -> None:
    from torchx.specs.options import convert_value
    from torchx.util.suggest import suggest
    from torchx.util.types import unwrap_optional

    assert api._suggest is suggest and api._convert is convert_value
    assert api._unwrap_optional is unwrap_optional
    assert suggest("locl_cwd", ["local_cwd", "slurm"], "schedulers") == ". Did you mean `local_cwd`?"
    assert unwrap_optional(int | None) == (int, True)


def test_user_errors_keep_their_builtin_bases() -> None:
    from torchx.specs import named_resources

    with pytest.raises(KeyError) as key_err:
        named_resources["gpu.smal"]
    assert isinstance(key_err.value, api.TorchXError)
    assert "Did you mean `gpu.small`" in str(key_err.value)
    with pytest.raises(ValueError) as val_err:
        api.parse_mounts(["type=bind,src=/a"])
    assert isinstance(val_err.value, api.TorchXError)
    with pytest.raises(KeyError):
        api.AppDef("x").get_role("nope")
