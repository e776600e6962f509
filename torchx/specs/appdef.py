"""The data model users write: Resource, macros, mounts, Workspace, Role, AppDef, AppDryRunInfo."""

from __future__ import annotations

import copy
import dataclasses
import enum
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from torchx.specs.errors import UsageError, UserKeyError
from torchx.specs.options import CfgVal
from torchx.util.types import FALSE_WORDS as _FALSE
from torchx.util.types import TRUE_WORDS as _TRUE

__all__ = [
    "MISSING", "NONE", "NULL_RESOURCE", "AppDef", "AppDryRunInfo", "BindMount", "DeviceMount",
    "Mount", "MountType", "Resource", "RetryPolicy", "Role", "VolumeMount", "Workspace", "macros",
    "parse_mounts",
]

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
            raise UsageError(
                f"unknown mount option `{key}` in `{tok}`: use type=, src=, dst=, readonly"
                " or perm= (e.g. `type=bind,src=/data,dst=/data,readonly`)"
            )
        key = _MOUNT_KEYS[key]
        if key == "type":
            groups.append({})
        elif not groups:
            raise UsageError(f"mount options must start with `type=`; got `{tok}` first")
        groups[-1][key] = val.strip() if sep else "true"
    mounts: list[Mount] = []
    for g in groups:
        kind = g.get("type", "")
        ro = g.get("readonly", "false").lower()
        if ro not in _TRUE | _FALSE:
            raise UsageError(f"readonly must be true or false, not `{ro}`")
        read_only = ro in _TRUE
        if kind not in {t.value for t in MountType}:
            raise UsageError(f"unknown mount type `{kind}`: use bind, volume or device")
        if "src" not in g:
            raise UsageError(f"mount of type `{kind}` needs `src=`")
        if kind == MountType.BIND.value:
            mounts.append(BindMount(g["src"], _need_dst(g), read_only))
        elif kind == MountType.VOLUME.value:
            mounts.append(VolumeMount(g["src"], _need_dst(g), read_only))
        else:
            mounts.append(DeviceMount(g["src"], g.get("dst", g["src"]), g.get("perm", "rwm")))
    return mounts


def _need_dst(g: dict[str, str]) -> str:
    if "dst" not in g:
        raise UsageError(f"mount of type `{g['type']}` from `{g['src']}` needs `dst=`")
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
        raise UserKeyError(f"app `{self.name}` has no role `{name}`; its roles: {names}")


# --------------------------------------------------------------------------- dryrun

T = TypeVar("T")


class AppDryRunInfo(Generic[T]):
    """A scheduler's native request for an app, and how to print it.

    ``request`` is what ``schedule`` submits; :py:attr:`app`, :py:attr:`cfg` and
    :py:attr:`scheduler` are the app it was made from, the resolved run options and the name
    of the scheduler (set by ``Scheduler.submit_dryrun`` and the Runner through :py:meth:`attach`).
    The underscore attributes stay for plugins written against upstream TorchX.
    """

    def __init__(self, request: T, fmt: Callable[[T], str]) -> None:
        self.request = request
        self._fmt = fmt
        self._app: AppDef | None = None
        self._cfg: Mapping[str, CfgVal] = {}
        self._scheduler: str | None = None

    @property
    def app(self) -> AppDef | None:
        """The app this request was made from (None until a scheduler's dryrun attached it)."""
        return self._app

    @property
    def cfg(self) -> Mapping[str, CfgVal]:
        """The resolved run options: defaults filled in, types checked, aliases canonical."""
        return self._cfg

    @property
    def scheduler(self) -> str | None:
        """The name of the scheduler the request is for, as registered (used in handles)."""
        return self._scheduler

    def attach(
        self,
        app: AppDef | None = None,
        cfg: Mapping[str, CfgVal] | None = None,
        scheduler: str | None = None,
    ) -> AppDryRunInfo[T]:
        """Record what the request was made from (only the arguments given); returns self."""
        if app is not None:
            self._app = app
        if cfg is not None:
            self._cfg = cfg
        if scheduler is not None:
            self._scheduler = scheduler
        return self

    def __repr__(self) -> str:
        return self._fmt(self.request)
