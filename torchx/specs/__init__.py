"""The job model users write against: ``import torchx.specs as specs``.

Standard library only; loading this package does no I/O and reads no plugins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from torchx.specs import cases
from torchx.specs.api import (
    MISSING,
    NONE,
    NULL_RESOURCE,
    AppDef,
    AppDryRunInfo,
    AppHandle,
    AppState,
    AppStatus,
    AppStatusError,
    BindMount,
    CfgVal,
    DeviceMount,
    InvalidRunConfigException,
    MalformedAppHandleException,
    Mount,
    MountType,
    ParsedAppHandle,
    ReplicaStatus,
    ResolvedCfg,
    Resource,
    RetryPolicy,
    Role,
    RoleStatus,
    StructuredOpts,
    TorchXError,
    UnknownAppException,
    UnknownSchedulerException,
    UsageError,
    UserKeyError,
    VolumeMount,
    Workspace,
    cfg_from_str,
    is_terminal,
    macros,
    make_app_handle,
    parse_app_handle,
    parse_mounts,
    runopt,
    runopts,
)
from torchx.specs.capabilities import NA, TORCHX_CONTEXT_NAME, CapabilityKey, app_metadata
from torchx.specs.named_resources import (
    NamedResources,
    _named_resource_factories,
    get_named_resource,
)

named_resources: NamedResources = NamedResources()
"""Every named resource: ``named_resources["gpu.small"]``."""


def get_named_resources(res: str) -> Resource:
    """The Resource called ``res`` (legacy name of :py:func:`resource` with ``h=``)."""
    return get_named_resource(res)


def resource(
    cpu: int | None = None,
    gpu: int | None = None,
    memMB: int | None = None,
    h: str | None = None,
) -> Resource:
    """A Resource: the named resource ``h`` when given, otherwise the explicit sizes.

    ``resource(h="gpu.small")`` -> 8 CPU, 1 GPU, 32 GiB. Without ``h``, unset sizes are 2 CPU,
    0 GPU and 1024 MB; as upstream, 0 counts as unset (``cpu=0`` gives 2 CPUs).
    """
    if h:
        return get_named_resource(h)
    return Resource(cpu=cpu or 2, gpu=gpu or 0, memMB=memMB or 1024)


UNKNOWN: str = "<UNKNOWN>"
"""A value that cannot be read back (e.g. the image of a container whose image was deleted)."""
ALL: str = "all"
ReplicaState = AppState
"""A replica's state uses the app states."""


def TORCHX_HOME(*subdirs: str) -> Path:
    """``$TORCHX_HOME`` (default ``~/.torchx``) joined with ``subdirs``; the directory is created."""
    import os

    path = Path(os.environ.get("TORCHX_HOME") or Path.home() / ".torchx", *subdirs)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def get_type_name(tp: Any) -> str:
    """``int`` -> ``"int"``; typing constructs (``list[str]``, ``Optional[int]``) as written."""
    return tp.__name__ if isinstance(tp, type) and not getattr(tp, "__args__", None) else str(tp)


def materialize_appdef(
    fn: Callable[..., AppDef],
    args: Sequence[str] | Mapping[str, Any],
    defaults: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
) -> AppDef:
    """Call component ``fn`` with CLI tokens ``args``; ``config`` (typed values, e.g. JSON
    ``component_args``) comes between the tokens and ``defaults`` (``.torchxconfig`` strings)."""
    from torchx.specs.builders import materialize_appdef as build

    if config and not args:
        return build(fn, {**(defaults or {}), **config})
    merged = dict(defaults or {})
    for key, val in (config or {}).items():
        if isinstance(val, (list, tuple)):
            merged[key] = ",".join(map(str, val))
        elif isinstance(val, Mapping):
            merged[key] = ",".join(f"{k}={v}" for k, v in val.items())
        else:
            merged[key] = str(val)
    return build(fn, args, merged or None)


__all__ = [
    "ALL", "NA", "TORCHX_CONTEXT_NAME", "TORCHX_HOME", "UNKNOWN", "CapabilityKey", "ReplicaState",
    "app_metadata", "cases", "get_type_name", "materialize_appdef",
    "MISSING", "NONE", "NULL_RESOURCE", "AppDef", "AppDryRunInfo", "AppHandle", "AppState",
    "AppStatus", "AppStatusError", "BindMount", "CfgVal", "DeviceMount",
    "InvalidRunConfigException", "MalformedAppHandleException", "Mount", "MountType",
    "ParsedAppHandle", "ReplicaStatus", "ResolvedCfg", "Resource", "RetryPolicy", "Role", "RoleStatus",
    "StructuredOpts", "TorchXError", "UnknownAppException", "UnknownSchedulerException",
    "UsageError", "UserKeyError", "VolumeMount", "Workspace", "_named_resource_factories", "cfg_from_str",
    "get_named_resources", "is_terminal", "macros", "make_app_handle", "named_resources",
    "parse_app_handle", "parse_mounts", "resource", "runopt", "runopts",
]
