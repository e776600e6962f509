"""The job model: AppDef, Role, Resource, states, run options, macros and handles.

Pure data and parsing, standard library only. Every other layer speaks these types. This module
is the public import path (``torchx.specs.api``, as upstream); the code lives in one module per
seam and is re-exported here unchanged:

* :py:mod:`torchx.specs.errors` -- the error tree (``TorchXError`` and its exit codes)
* :py:mod:`torchx.specs.appdef` -- Resource, macros, mounts, Workspace, Role, AppDef, AppDryRunInfo
* :py:mod:`torchx.specs.status` -- AppState, AppStatus, RoleStatus, ReplicaStatus
* :py:mod:`torchx.specs.options` -- runopt/runopts, CfgVal, ``cfg_from_str``
* :py:mod:`torchx.specs.structured` -- StructuredOpts (run options declared as a dataclass)
* :py:mod:`torchx.specs.handles` -- app handles
"""

from __future__ import annotations

from torchx.specs.appdef import (
    _MOUNT_KEYS,
    MISSING,
    NONE,
    NULL_RESOURCE,
    AppDef,
    AppDryRunInfo,
    BindMount,
    DeviceMount,
    Mount,
    MountType,
    Resource,
    RetryPolicy,
    Role,
    T,
    VolumeMount,
    Workspace,
    macros,
    parse_mounts,
)
from torchx.specs.errors import (
    AppStatusError,
    InvalidRunConfigException,
    MalformedAppHandleException,
    TorchXError,
    UnknownAppException,
    UnknownSchedulerException,
    UsageError,
    UserKeyError,
)
from torchx.specs.handles import (
    _HANDLE_RE,
    AppHandle,
    ParsedAppHandle,
    make_app_handle,
    parse_app_handle,
)
from torchx.specs.options import (
    _OPT_TYPES,
    CfgVal,
    ResolvedCfg,
    _base_type,
    _is_type,
    _split_unquoted,
    _type_name,
    cfg_from_str,
    convert_value,
    runopt,
    runopts,
)
from torchx.specs.status import (
    _TERMINAL_STATES,
    AppState,
    AppStatus,
    ReplicaStatus,
    RoleStatus,
    _error_message,
    _indent,
    _json_error,
    is_terminal,
)
from torchx.specs.structured import (
    _DOCS_CACHE,
    _FIELDS_CACHE,
    StructuredOpts,
    _class_tree,
    _field_docs,
    _read_field_docs,
)
from torchx.util.suggest import suggest
from torchx.util.types import FALSE_WORDS as _FALSE
from torchx.util.types import TRUE_WORDS as _TRUE
from torchx.util.types import unwrap_optional

# Old private names, kept as aliases for code (ours and plugins') that imported them from here.
_suggest = suggest
_convert = convert_value
_unwrap_optional = unwrap_optional

__all__ = [
    "MISSING", "NONE", "NULL_RESOURCE", "AppDef", "AppDryRunInfo", "AppHandle", "AppState",
    "AppStatus", "AppStatusError", "BindMount", "CfgVal", "DeviceMount",
    "InvalidRunConfigException", "MalformedAppHandleException", "Mount", "MountType",
    "ParsedAppHandle", "ReplicaStatus", "ResolvedCfg", "Resource", "RetryPolicy", "Role", "RoleStatus",
    "StructuredOpts", "T", "TorchXError", "UnknownAppException", "UnknownSchedulerException",
    "UsageError", "UserKeyError", "VolumeMount", "Workspace", "cfg_from_str", "convert_value",
    "is_terminal", "macros", "make_app_handle", "parse_app_handle", "parse_mounts", "runopt",
    "runopts",
    # private names re-exported for compatibility
    "_DOCS_CACHE", "_FALSE", "_FIELDS_CACHE", "_HANDLE_RE", "_MOUNT_KEYS", "_OPT_TYPES",
    "_TERMINAL_STATES", "_TRUE", "_base_type", "_class_tree", "_convert", "_error_message",
    "_field_docs", "_indent", "_is_type", "_json_error", "_read_field_docs", "_split_unquoted",
    "_suggest", "_type_name", "_unwrap_optional",
]
