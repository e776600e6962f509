"""The job model users write against: ``import torchx.specs as specs``.

Standard library only; loading this package does no I/O and reads no plugins.
"""

from __future__ import annotations

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

    ``resource(h="gpu.small")`` -> 8 CPU, 1 GPU, 32 GiB. Without ``h``, unset sizes are 1 CPU,
    0 GPU and 1024 MB.
    """
    if h:
        return get_named_resource(h)
    return Resource(
        cpu=1 if cpu is None else cpu,
        gpu=0 if gpu is None else gpu,
        memMB=1024 if memMB is None else memMB,
    )


__all__ = [
    "MISSING", "NONE", "NULL_RESOURCE", "AppDef", "AppDryRunInfo", "AppHandle", "AppState",
    "AppStatus", "AppStatusError", "BindMount", "CfgVal", "DeviceMount",
    "InvalidRunConfigException", "MalformedAppHandleException", "Mount", "MountType",
    "ParsedAppHandle", "ReplicaStatus", "ResolvedCfg", "Resource", "RetryPolicy", "Role", "RoleStatus",
    "StructuredOpts", "TorchXError", "UnknownAppException", "UnknownSchedulerException",
    "UsageError", "UserKeyError", "VolumeMount", "Workspace", "_named_resource_factories", "cfg_from_str",
    "get_named_resources", "is_terminal", "macros", "make_app_handle", "named_resources",
    "parse_app_handle", "parse_mounts", "resource", "runopt", "runopts",
]
