"""The job model: AppDef, Role, Resource, states, run options, macros and handles.

Pure data and parsing, standard library only. Every other layer speaks these types.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import enum
import json
import re
import string
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

# --------------------------------------------------------------------------- errors


class TorchXError(Exception):
    """Root of every error torchx raises on purpose; messages say what to do next."""


class UnknownAppException(TorchXError):
    """The scheduler has no app with this id (never submitted, or deleted)."""

    def __init__(self, app_handle: str) -> None:
        super().__init__(
            f"unknown app `{app_handle}`: check the handle (`torchx list` shows the apps)"
            " or whether it was deleted"
        )
        self.app_handle = app_handle


class UnknownSchedulerException(TorchXError):
    """No scheduler is registered under this name."""

    def __init__(self, scheduler: str, known: list[str] | None = None) -> None:
        msg = f"unknown scheduler `{scheduler}`"
        if known:
            msg += _suggest(scheduler, known, what="schedulers")
        super().__init__(msg)
        self.scheduler = scheduler


class InvalidRunConfigException(TorchXError, ValueError):
    """A run option is unknown, missing or of the wrong type."""


class MalformedAppHandleException(TorchXError, ValueError):
    """An app handle does not have the form ``{scheduler}://{session_name}/{app_id}``."""

    def __init__(self, app_handle: str) -> None:
        super().__init__(
            f"malformed app handle `{app_handle}`: expected"
            " `{scheduler}://{session_name}/{app_id}`, e.g. `local_cwd://torchx/echo-a1b2c3`"
        )
        self.app_handle = app_handle


class AppStatusError(TorchXError):
    """Raised by :py:meth:`AppStatus.raise_for_status` when an app did not succeed."""

    def __init__(self, status: AppStatus, *args: object) -> None:
        super().__init__(f"app did not succeed: {status.state.name}: {status.msg}", *args)
        self.status = status


def _suggest(name: str, candidates: list[str], what: str) -> str:
    """A sentence suggesting the closest names, or listing all of them."""
    by_lower = {c.lower(): c for c in reversed(candidates)}
    close = [by_lower[c] for c in difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.5)]
    if close:
        return ". Did you mean " + " or ".join(f"`{c}`" for c in close) + "?"
    shown = ", ".join(sorted(candidates)[:20])
    more = "" if len(candidates) <= 20 else f" (and {len(candidates) - 20} more)"
    return f". Known {what}: {shown}{more}"


# --------------------------------------------------------------------------- constants

MISSING: str = "<MISSING>"
"""Placeholder for a required value that was not given."""

NONE: str = "<NONE>"
"""Placeholder for an absent structured value."""

# --------------------------------------------------------------------------- resources


@dataclass
class Resource:
    """Hardware one replica needs.

    Args:
        cpu: number of logical CPU cores
        gpu: number of GPUs
        memMB: memory in MB
        capabilities: scheduler-specific hints (e.g. ``node.kubernetes.io/instance-type``)
        devices: named devices and their counts (e.g. ``vpc.amazonaws.com/efa: 4``)
        tags: free-form labels
    """

    cpu: int
    gpu: int
    memMB: int
    capabilities: dict[str, Any] = field(default_factory=dict)
    devices: dict[str, int] = field(default_factory=dict)
    tags: dict[str, object] = field(default_factory=dict)

    @staticmethod
    def copy(original: Resource, **capabilities: Any) -> Resource:
        """A deep copy of ``original`` with ``capabilities`` merged into its capabilities."""
        res = copy.deepcopy(original)
        res.capabilities.update(capabilities)
        return res


NULL_RESOURCE: Resource = Resource(cpu=-1, gpu=-1, memMB=-1)
"""The "no resource given" resource; schedulers apply their own defaults."""

# --------------------------------------------------------------------------- macros


class macros:
    """Placeholders in ``args``, ``env`` values and ``metadata`` filled in at run time.

    ``$$`` escapes a literal dollar; placeholders not listed here are left alone.
    """

    img_root = "${img_root}"
    """Root directory of the pulled image."""
    base_img_root = "${base_img_root}"
    """Deprecated; kept so old components still resolve."""
    app_id = "${app_id}"
    """The scheduler-assigned app id."""
    replica_id = "${replica_id}"
    """The replica's index within its role (0, 1, ...)."""
    rank0_env = "${rank0_env}"
    """Name of the environment variable holding the rank-0 replica's host."""

    @dataclass
    class Values:
        img_root: str
        app_id: str
        replica_id: str
        rank0_env: str
        base_img_root: str = "DEPRECATED"

        def apply(self, role: Role) -> Role:
            """A copy of ``role`` with the macros in args, env values and metadata filled in."""
            role = copy.deepcopy(role)
            role.args = [self.substitute(a) for a in role.args]
            role.env = {k: self.substitute(v) for k, v in role.env.items()}
            role.metadata = {
                k: self.substitute(v) if isinstance(v, str) else v
                for k, v in role.metadata.items()
            }
            return role

        def to_dict(self) -> dict[str, str]:
            return {k: str(v) for k, v in dataclasses.asdict(self).items()}

        def substitute(self, arg: str) -> str:
            """``arg`` with the macros filled in."""
            return string.Template(arg).safe_substitute(self.to_dict())


# --------------------------------------------------------------------------- mounts


class MountType(str, enum.Enum):
    BIND = "bind"
    VOLUME = "volume"
    DEVICE = "device"


@dataclass
class BindMount:
    """A host path mounted into the replica."""

    src_path: str
    dst_path: str
    read_only: bool = False


@dataclass
class VolumeMount:
    """A named volume (e.g. a Kubernetes PVC) mounted into the replica."""

    src: str
    dst_path: str
    read_only: bool = False


@dataclass
class DeviceMount:
    """A host device made available inside the replica."""

    src_path: str
    dst_path: str
    permissions: str = "rwm"


Mount = BindMount | VolumeMount | DeviceMount

_MOUNT_KEYS = {
    "type": "type",
    "src": "src",
    "source": "src",
    "dst": "dst",
    "destination": "dst",
    "target": "dst",
    "readonly": "readonly",
    "ro": "readonly",
    "perm": "perm",
    "permissions": "perm",
}
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def parse_mounts(opts: list[str]) -> list[Mount]:
    """Parse ``type=bind,src=/a,dst=/b,readonly`` (one or more, as one string or tokens).

    Each mount starts with ``type=`` (bind, volume or device); ``dst`` defaults to ``src``
    for devices.
    """
    tokens = [t.strip() for opt in opts for t in opt.split(",") if t.strip()]
    groups: list[dict[str, str]] = []
    for tok in tokens:
        key, sep, val = tok.partition("=")
        key = key.strip().lower()
        if key not in _MOUNT_KEYS:
            raise ValueError(
                f"unknown mount option `{key}` in `{tok}`: use type=, src=, dst=, readonly"
                " or perm= (e.g. `type=bind,src=/data,dst=/data,readonly`)"
            )
        key = _MOUNT_KEYS[key]
        if key == "type":
            groups.append({})
        elif not groups:
            raise ValueError(f"mount options must start with `type=`; got `{tok}` first")
        groups[-1][key] = val.strip() if sep else "true"
    mounts: list[Mount] = []
    for g in groups:
        kind = g.get("type", "")
        ro = g.get("readonly", "false").lower()
        if ro not in _TRUE | _FALSE:
            raise ValueError(f"readonly must be true or false, not `{ro}`")
        read_only = ro in _TRUE
        if kind not in {t.value for t in MountType}:
            raise ValueError(f"unknown mount type `{kind}`: use bind, volume or device")
        if "src" not in g:
            raise ValueError(f"mount of type `{kind}` needs `src=`")
        if kind == MountType.BIND.value:
            mounts.append(BindMount(g["src"], _need_dst(g), read_only))
        elif kind == MountType.VOLUME.value:
            mounts.append(VolumeMount(g["src"], _need_dst(g), read_only))
        else:
            mounts.append(DeviceMount(g["src"], g.get("dst", g["src"]), g.get("perm", "rwm")))
    return mounts


def _need_dst(g: dict[str, str]) -> str:
    if "dst" not in g:
        raise ValueError(f"mount of type `{g['type']}` from `{g['src']}` needs `dst=`")
    return g["dst"]


# --------------------------------------------------------------------------- workspace


@dataclass
class Workspace:
    """Local directories shipped with a role: ``{local_path: path_in_job}``.

    ``Workspace.from_str("~/proj")`` is one project mapped to the job's working directory.
    """

    projects: dict[str, str]

    def is_unmapped_single_project(self) -> bool:
        """True when there is one project and it maps to the working directory."""
        return len(self.projects) == 1 and not next(iter(self.projects.values()))

    @staticmethod
    def from_str(workspace: str | None) -> Workspace | None:
        """``"a"`` -> ``{a: ""}``; ``"a:x,b:y"`` -> ``{a: x, b: y}``; empty -> None."""
        if not workspace:
            return None
        projects: dict[str, str] = {}
        for part in workspace.split(","):
            src, _, dst = part.partition(":")
            projects[src.strip()] = dst.strip()
        return Workspace(projects)

    def __str__(self) -> str:
        if self.is_unmapped_single_project():
            return next(iter(self.projects))
        return ",".join(f"{k}:{v}" if v else k for k, v in self.projects.items())


# --------------------------------------------------------------------------- roles, apps


class RetryPolicy(str, enum.Enum):
    """What restarts when a replica fails and retries remain.

    REPLICA: only the failed replica. APPLICATION: every replica of every role.
    ROLE: every replica of the failed role.
    """

    REPLICA = "REPLICA"
    APPLICATION = "APPLICATION"
    ROLE = "ROLE"


@dataclass
class Role:
    """A set of identical replicas within an app."""

    name: str
    image: str
    min_replicas: int | None = None
    base_image: str | None = None
    entrypoint: str = MISSING
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    num_replicas: int = 1
    max_retries: int = 0
    retry_policy: RetryPolicy = RetryPolicy.APPLICATION
    resource: Resource = field(default_factory=lambda: copy.deepcopy(NULL_RESOURCE))
    port_map: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    workspace: Workspace | None = None

    def pre_proc(self, scheduler: str, dryrun_info: AppDryRunInfo[Any]) -> AppDryRunInfo[Any]:
        """Hook to adjust the scheduler's request for this role; returns it unchanged by default."""
        return dryrun_info


@dataclass
class AppDef:
    """A job: one or more roles, plus scheduler-specific metadata."""

    name: str
    roles: list[Role] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    def get_role(self, name: str) -> Role:
        """The role called ``name``; KeyError naming the roles there are otherwise."""
        for role in self.roles:
            if role.name == name:
                return role
        names = [r.name for r in self.roles]
        raise KeyError(f"app `{self.name}` has no role `{name}`; its roles: {names}")


# --------------------------------------------------------------------------- states


class AppState(int, enum.Enum):
    """The state of an app (and of each replica)."""

    UNSUBMITTED = 0
    SUBMITTED = 1
    PENDING = 2
    RUNNING = 3
    SUCCEEDED = 4
    FAILED = 5
    CANCELLED = 6
    UNKNOWN = 7

    def __str__(self) -> str:
        return self.name

    def is_terminal(self) -> bool:
        return self in _TERMINAL_STATES


_TERMINAL_STATES = frozenset({AppState.SUCCEEDED, AppState.FAILED, AppState.CANCELLED})


def is_terminal(state: AppState) -> bool:
    """True for SUCCEEDED, FAILED and CANCELLED."""
    return state in _TERMINAL_STATES


@dataclass
class ReplicaStatus:
    """The state of one replica of a role."""

    id: int
    state: AppState
    role: str
    hostname: str
    structured_error_msg: str = NONE
    exit_code: int | None = None
    """The replica's exit code once it ended, as its scheduler reports it (a signal may show as
    -N or 128+N); None while it runs or where the scheduler does not know."""
    num_restarts: int = 0
    """How often this replica was restarted (retries), where the scheduler knows it."""


@dataclass
class RoleStatus:
    """The replicas of one role."""

    role: str
    replicas: list[ReplicaStatus] = field(default_factory=list)


@dataclass
class AppStatus:
    """Where an app is: its state, restarts, message and, where known, each replica."""

    state: AppState
    num_restarts: int = 0
    msg: str = ""
    structured_error_msg: str = NONE
    ui_url: str | None = None
    roles: list[RoleStatus] = field(default_factory=list)

    def is_terminal(self) -> bool:
        return is_terminal(self.state)

    def raise_for_status(self) -> None:
        """Raise :py:class:`AppStatusError` unless the app SUCCEEDED."""
        if self.state != AppState.SUCCEEDED:
            raise AppStatusError(self)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict: states by name, error messages parsed when they are JSON
        and ``null`` when absent."""
        return {
            "state": self.state.name,
            "num_restarts": self.num_restarts,
            "msg": self.msg,
            "structured_error_msg": _json_error(self.structured_error_msg),
            "url": self.ui_url,
            "roles": [
                {
                    "role": r.role,
                    "replicas": [
                        {
                            "id": rep.id,
                            "state": rep.state.name,
                            "role": rep.role,
                            "hostname": rep.hostname,
                            "structured_error_msg": _json_error(rep.structured_error_msg),
                        }
                        for rep in r.replicas
                    ],
                }
                for r in self.roles
            ],
        }

    def format(self, filter_roles: list[str] | None = None) -> str:
        """A human-readable block: state, restarts, message, then each role's replicas."""
        lines = [
            "AppStatus:",
            f"  State: {self.state.name}",
            f"  Num Restarts: {self.num_restarts}",
        ]
        if self.msg:
            lines.append(f"  Msg: {_indent(self.msg, 4)}")
        if self.ui_url:
            lines.append(f"  UI URL: {self.ui_url}")
        if self.structured_error_msg != NONE:
            lines.append(f"  Error: {_indent(_error_message(self.structured_error_msg), 4)}")
        roles = [r for r in self.roles if not filter_roles or r.role in filter_roles]
        if roles:
            lines.append("  Roles:")
        for r in roles:
            lines.append(f"    {r.role}:")
            for rep in r.replicas:
                host = f" on {rep.hostname}" if rep.hostname else ""
                lines.append(f"      {r.role}[{rep.id}] {rep.state.name}{host}")
                if rep.structured_error_msg != NONE:
                    err = _error_message(rep.structured_error_msg)
                    lines.append(f"        error: {_indent(err, 10)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _json_error(structured: str) -> Any:
    """None for the NONE placeholder, the parsed JSON of an error file, or the text as is."""
    if structured == NONE:
        return None
    try:
        return json.loads(structured)
    except ValueError:
        return structured


def _indent(text: str, n: int) -> str:
    return text.replace("\n", "\n" + " " * n)


def _error_message(structured: str) -> str:
    """The message of a torchelastic error file's JSON, or the text as is."""
    try:
        data = json.loads(structured)
    except ValueError:
        return structured
    if isinstance(data, dict):
        msg = data.get("message", data)
        if isinstance(msg, dict):
            return str(msg.get("message", msg))
        return str(msg)
    return structured


# --------------------------------------------------------------------------- run options

CfgVal = str | int | float | bool | list[str] | dict[str, str] | None
"""A run option's value."""

_OPT_TYPES: tuple[type, ...] = (str, int, float, bool, list, dict)


@dataclass
class runopt:
    """One run option a scheduler accepts."""

    default: CfgVal
    opt_type: type
    is_required: bool
    help: str
    aliases: list[str] = field(default_factory=list)

    @property
    def type_name(self) -> str:
        return _type_name(self.opt_type)


def _type_name(t: Any) -> str:
    if t in (list, list[str]):
        return "list[str]"
    if t in (dict, dict[str, str]):
        return "dict[str, str]"
    return getattr(t, "__name__", str(t))


def _base_type(t: Any) -> type:
    """``list[str]`` -> list, ``dict[str, str]`` -> dict, others as they are."""
    origin = getattr(t, "__origin__", None)
    return origin if isinstance(origin, type) else t


class runopts:
    """The run options a scheduler declares: name -> :py:class:`runopt`."""

    def __init__(self) -> None:
        self._opts: dict[str, runopt] = {}

    def add(
        self,
        cfg_key: str,
        type_: Any,
        help: str,
        default: CfgVal = None,
        required: bool = False,
        aliases: list[str] | None = None,
    ) -> None:
        """Declare an option; a required option cannot have a default."""
        base = _base_type(type_)
        if base not in _OPT_TYPES:
            raise TypeError(f"run option `{cfg_key}` has unsupported type {type_}")
        if required and default is not None:
            raise ValueError(f"required run option `{cfg_key}` cannot have a default")
        if default is not None and not _is_type(default, base):
            raise TypeError(f"default of `{cfg_key}` is not a {_type_name(type_)}: {default!r}")
        self._opts[cfg_key] = runopt(default, base, required, help, list(aliases or []))

    def update(self, other: runopts) -> None:
        self._opts.update(other._opts)

    def get(self, name: str) -> runopt | None:
        if name in self._opts:
            return self._opts[name]
        for opt in self._opts.values():
            if name in opt.aliases:
                return opt
        return None

    def _canonical(self, name: str) -> str | None:
        if name in self._opts:
            return name
        for key, opt in self._opts.items():
            if name in opt.aliases:
                return key
        return None

    def __iter__(self) -> Iterator[tuple[str, runopt]]:
        return iter(self._opts.items())

    def __len__(self) -> int:
        return len(self._opts)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def resolve(self, cfg: Mapping[str, CfgVal]) -> dict[str, CfgVal]:
        """``cfg`` checked against the declared options, with defaults filled in.

        Raises InvalidRunConfigException naming the valid options for an unknown key, a
        missing required option or a value of the wrong type.
        """
        resolved: dict[str, CfgVal] = {}
        for key, val in cfg.items():
            name = self._canonical(key)
            if name is None:
                raise self._unknown(key)
            opt = self._opts[name]
            if val is not None and not _is_type(val, opt.opt_type):
                raise InvalidRunConfigException(
                    f"run option `{name}` must be of type {opt.type_name}, got"
                    f" {type(val).__name__} `{val!r}`"
                )
            resolved[name] = val
        for name, opt in self._opts.items():
            if resolved.get(name) is None:
                if opt.is_required:
                    raise InvalidRunConfigException(
                        f"required run option `{name}` is missing: pass `-cfg {name}=...`"
                        f" ({opt.help})"
                    )
                resolved[name] = opt.default
        return resolved

    def cfg_from_str(self, cfg_str: str) -> dict[str, CfgVal]:
        """Parse ``k=v,k2=a;b`` converting each value to its option's declared type."""
        raw = cfg_from_str(cfg_str)
        out: dict[str, CfgVal] = {}
        for key, val in raw.items():
            name = self._canonical(key)
            if name is None:
                raise self._unknown(key)
            out[name] = _convert(name, val, self._opts[name].opt_type)
        return out

    def _unknown(self, key: str) -> InvalidRunConfigException:
        """The error for an unknown key: the closest names, then every valid one."""
        names = sorted(self._opts)
        hint = _suggest(key, names, "options")
        if not hint.startswith(". Known"):  # a suggestion: list the valid options too
            hint += f" Valid options: {', '.join(names)}"
        return InvalidRunConfigException(f"unknown run option `{key}`{hint}")

    def cfg_from_json_repr(self, json_repr: str) -> dict[str, CfgVal]:
        """Options from a JSON object (unknown keys ignored, aliases resolved)."""
        out: dict[str, CfgVal] = {}
        for key, val in json.loads(json_repr).items():
            name = self._canonical(key)
            if name is not None:
                out[name] = _convert(name, val, self._opts[name].opt_type)
        return out

    def __repr__(self) -> str:
        if not self._opts:
            return "    (no run options)"
        width = max(len(k) for k in self._opts)
        lines = []
        for key, opt in sorted(self._opts.items(), key=lambda kv: (not kv[1].is_required, kv[0])):
            if opt.is_required:
                default = "required"
            elif opt.default is None:
                default = "optional"
            else:
                default = f"default: {opt.default!r}"
            lines.append(f"    {key:<{width}}  {opt.type_name:<14} ({default})")
            if opt.help:
                lines.append(f"    {'':<{width}}    {_indent(opt.help, width + 8)}")
        return "\n".join(lines)


def _is_type(val: Any, t: type) -> bool:
    if t is float:
        return isinstance(val, (int, float)) and not isinstance(val, bool)
    if t is int:
        return isinstance(val, int) and not isinstance(val, bool)
    if t is list:
        return isinstance(val, list) and all(isinstance(v, str) for v in val)
    if t is dict:
        return isinstance(val, dict)
    return isinstance(val, t)


def _convert(name: str, val: Any, t: type) -> CfgVal:
    """A value parsed from a string converted to the declared type, or a clear error."""
    try:
        if t is bool:
            if isinstance(val, bool):
                return val
            s = str(val).strip().lower()
            if s in _TRUE:
                return True
            if s in _FALSE:
                return False
            raise ValueError
        if t is list:
            return [str(v) for v in val] if isinstance(val, list) else [str(val)]
        if t is dict:
            items = val if isinstance(val, list) else [val]
            if isinstance(val, dict):
                return {str(k): str(v) for k, v in val.items()}
            out: dict[str, str] = {}
            for item in items:
                k, sep, v = str(item).partition(":")
                if not sep:
                    raise ValueError
                out[k] = v
            return out
        if isinstance(val, list):
            val = ",".join(val)
        if t is int:
            return int(val)
        if t is float:
            return float(val)
        return str(val)
    except ValueError:
        hint = {
            bool: "true or false",
            int: "a whole number",
            float: "a number",
            dict: "key:value pairs separated by `;`",
        }.get(t, _type_name(t))
        raise InvalidRunConfigException(
            f"run option `{name}` must be {hint}, got `{val}`"
        ) from None


def _split_unquoted(text: str, seps: str) -> list[str]:
    """Split on any of ``seps`` outside single or double quotes; quotes are removed."""
    parts: list[str] = []
    buf: list[str] = []
    quote = ""
    quoted = False
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
            else:
                buf.append(ch)
        elif ch in "\"'":
            quote = ch
            quoted = True
        elif ch in seps:
            parts.append("".join(buf))
            buf, quoted = [], False
        else:
            buf.append(ch)
    if quote:
        raise InvalidRunConfigException(f"unbalanced quote in `{text}`")
    if buf or quoted or parts:
        parts.append("".join(buf))
    return parts


def cfg_from_str(cfg_str: str) -> dict[str, CfgVal]:
    """Parse ``k=v,k2=v2`` into a dict of strings and lists of strings.

    A token without ``=`` continues the previous key's value, so ``k=a,b`` and ``k=a;b`` both
    give ``{"k": ["a", "b"]}``; quotes protect separators: ``k="a,b"`` gives ``"a,b"``.
    Convert to declared types with :py:meth:`runopts.cfg_from_str`.
    """
    out: dict[str, list[str]] = {}
    key: str | None = None
    for token in _tokens(cfg_str):
        k, sep, v = token
        if sep:
            key = k.strip()
            if not key:
                raise InvalidRunConfigException(f"empty option name in `{cfg_str}`")
            out[key] = [v] if v != "" else []
        elif key is None:
            raise InvalidRunConfigException(
                f"`{k}` in `{cfg_str}` is not `key=value`: write run options as `k1=v1,k2=v2`"
            )
        else:
            out[key].append(k)
    return {k: (v[0] if len(v) == 1 else v) for k, v in out.items()}


def _tokens(cfg_str: str) -> Iterator[tuple[str, str, str]]:
    """(key, '=', value) for ``k=v`` pieces and (value, '', '') for continuations."""
    # split outside quotes on , and ; but decide key=value before stripping quotes
    buf: list[str] = []
    quote = ""
    pieces: list[str] = []
    for ch in cfg_str:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            buf.append(ch)
        elif ch in ",;":
            pieces.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    if quote:
        raise InvalidRunConfigException(f"unbalanced quote in `{cfg_str}`")
    pieces.append("".join(buf))
    for piece in pieces:
        if not piece.strip():
            continue
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*=(.*)$", piece, re.S)
        if m:
            yield m.group(1), "=", _unquote(m.group(2).strip())
        else:
            yield _unquote(piece.strip()), "", ""


def _unquote(s: str) -> str:
    parts = _split_unquoted(s, "")
    return parts[0] if parts else ""


class StructuredOpts:
    """Run options declared as a dataclass; each field's docstring is its help text.

    ::

        @dataclass
        class SlurmOpts(StructuredOpts):
            partition: str | None = None
            \"\"\"The partition to submit to.\"\"\"
            mail_user: str | None = field(default=None, metadata={"key": "mail-user"})
            \"\"\"Where Slurm sends mail.\"\"\"

    A field without a default is required; ``metadata={"key": ...}`` names the option
    differently from the field (for names that are not identifiers).
    """

    @classmethod
    def _fields(cls) -> list[tuple[str, dataclasses.Field[Any], Any]]:
        """(option key, field, type hint) per field; computed once per class."""
        cached = _FIELDS_CACHE.get(cls)
        if cached is None:
            import typing

            hints = typing.get_type_hints(cls)
            cached = [(_opt_key(f), f, hints[f.name]) for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
            _FIELDS_CACHE[cls] = cached
        return cached

    @classmethod
    def as_runopts(cls) -> runopts:
        """The :py:class:`runopts` these fields declare (a fresh object; the parsing is cached)."""
        docs = _field_docs(cls)
        opts = runopts()
        for key, f, hint in cls._fields():
            typ, _ = _unwrap_optional(hint)
            default: Any = None
            required = True
            if f.default is not dataclasses.MISSING:
                default, required = f.default, False
            elif f.default_factory is not dataclasses.MISSING:
                default, required = f.default_factory(), False
            if default is not None and isinstance(default, (list, dict)) and not default:
                default = None
            opts.add(key, typ, docs.get(f.name, ""), default=default, required=required,
                     aliases=list(f.metadata.get("aliases", [])))
        return opts

    @classmethod
    def from_cfg(cls: type[_S], cfg: Mapping[str, CfgVal]) -> _S:
        """An instance with values from ``cfg`` (checked, defaults filled in)."""
        resolved = cls.as_runopts().resolve(cfg)
        kwargs: dict[str, Any] = {}
        for key, f, _ in cls._fields():
            val = resolved.get(key)
            if val is None and f.default_factory is not dataclasses.MISSING:
                val = f.default_factory()
            kwargs[f.name] = val
        return cls(**kwargs)


_S = TypeVar("_S", bound=StructuredOpts)
# Per-class results of reading type hints and field docstrings (source parsing costs ~10 ms).
_FIELDS_CACHE: dict[type, list[tuple[str, dataclasses.Field[Any], Any]]] = {}
_DOCS_CACHE: dict[type, dict[str, str]] = {}


def _opt_key(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("key", f.name))


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """(X, True) for ``X | None`` / ``Optional[X]``; (hint, False) otherwise."""
    args = getattr(hint, "__args__", None)
    if args and type(None) in args and len(args) == 2:
        inner = next(a for a in args if a is not type(None))
        return inner, True
    return hint, False


def _field_docs(cls: type) -> dict[str, str]:
    """Docstrings written under dataclass fields, read from the source once per class."""
    cached = _DOCS_CACHE.get(cls)
    if cached is None:
        cached = _DOCS_CACHE[cls] = _read_field_docs(cls)
    return cached


def _class_tree(klass: type) -> Any:
    """The ``ast.ClassDef`` of ``klass``, or None when its source is unavailable.

    A top-level class is cut out of its module's file by name (~1 ms); anything else (nested,
    ambiguous, unparsable cut) goes through ``inspect.getsource``, which parses the whole module.
    """
    import ast
    import inspect
    import linecache
    import textwrap

    filename = getattr(sys.modules.get(klass.__module__), "__file__", None)
    if filename and klass.__qualname__ == klass.__name__:
        lines = linecache.getlines(filename)
        header = re.compile(rf"class\s+{re.escape(klass.__name__)}\b")
        starts = [i for i, line in enumerate(lines) if header.match(line)]
        if len(starts) == 1:
            end = next((j for j in range(starts[0] + 1, len(lines))
                        if lines[j].strip() and not lines[j][0].isspace()), len(lines))
            try:
                tree = ast.parse("".join(lines[starts[0]:end]))
            except SyntaxError:
                tree = None
            if tree and isinstance(tree.body[0], ast.ClassDef) and tree.body[0].name == klass.__name__:
                return tree.body[0]
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
    except (OSError, TypeError, SyntaxError):
        return None
    return tree.body[0] if tree.body and isinstance(tree.body[0], ast.ClassDef) else None


def _read_field_docs(cls: type) -> dict[str, str]:
    """Docstrings written under dataclass fields, read from the source (empty if unavailable)."""
    import ast
    import inspect

    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or klass is StructuredOpts:
            continue
        tree = _class_tree(klass)
        body = tree.body if tree is not None else []
        for stmt, nxt in zip(body, body[1:], strict=False):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = inspect.cleandoc(nxt.value.value)
    return docs


# --------------------------------------------------------------------------- dryrun

T = TypeVar("T")


class AppDryRunInfo(Generic[T]):
    """A scheduler's native request for an app, and how to print it."""

    def __init__(self, request: T, fmt: Callable[[T], str]) -> None:
        self.request = request
        self._fmt = fmt
        self._app: AppDef | None = None
        self._cfg: Mapping[str, CfgVal] = {}
        self._scheduler: str | None = None

    def __repr__(self) -> str:
        return self._fmt(self.request)


# --------------------------------------------------------------------------- handles

AppHandle = str
"""``{scheduler}://{session_name}/{app_id}``."""


class ParsedAppHandle(NamedTuple):
    scheduler_backend: str
    session_name: str
    app_id: str


_HANDLE_RE = re.compile(r"^(?P<scheduler>[A-Za-z0-9_\-]+)://(?P<session>[^/]*)/(?P<app_id>[^/].*)$")


def parse_app_handle(app_handle: AppHandle) -> ParsedAppHandle:
    """Split a handle into (scheduler_backend, session_name, app_id)."""
    m = _HANDLE_RE.match(app_handle)
    if not m:
        raise MalformedAppHandleException(app_handle)
    return ParsedAppHandle(m.group("scheduler"), m.group("session"), m.group("app_id"))


def make_app_handle(scheduler_backend: str, session_name: str, app_id: str) -> AppHandle:
    return f"{scheduler_backend}://{session_name}/{app_id}"
