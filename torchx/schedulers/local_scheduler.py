"""``local_cwd``: run an app's replicas as processes on this machine, in the current directory.

Requirements: Linux (``/proc``). No extra packages.

Durable: each app lives in a journal directory ``$TORCHX_HOME/apps/<app_id>/`` (default
``~/.torchx``, mode 0700) holding ``request.json``, ``state.json`` (written atomically by the
app's detached supervisor, :py:mod:`torchx.schedulers.local_supervisor`) and the logs. Every
method here only reads that journal or signals the supervisor (its pid checked against its
start time), so ``status``, ``log``, ``list``, ``cancel`` and ``delete`` work from any process,
after the launcher exited or was killed.

A failed replica stops the others (SIGTERM, then SIGKILL after ``kill_grace`` seconds) and the
app ends FAILED, unless its role has retries left: ``RetryPolicy.REPLICA`` restarts that replica
(``max_retries`` counts per replica), ``ROLE`` every replica of its role and ``APPLICATION``
every replica (both count per role). ``num_restarts`` counts restarts of any kind.

Status of an unknown app is None (``describe``); ``log_iter`` of an unknown app raises
:py:class:`~torchx.specs.UnknownAppException`; ``cancel`` of a finished app is a no-op.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from torchx.schedulers.api import (
    DescribeAppResponse,
    ListAppResponse,
    Scheduler,
    Stream,
    filter_regex,
    local_scripts,
    missing_script,
)
from torchx.schedulers.local_supervisor import (
    proc_stat,
    proc_table,
    read_mark,
    write_json_atomic,
)
from torchx.specs.api import (
    NONE,
    AppDef,
    AppDryRunInfo,
    AppState,
    CfgVal,
    ReplicaStatus,
    Resource,
    RetryPolicy,
    Role,
    RoleStatus,
    StructuredOpts,
    TorchXError,
    UnknownAppException,
    macros,
    make_app_handle,
    runopts,
)
from torchx.util.signals import SignalException  # noqa: F401 -- upstream's import path

# --------------------------------------------------------------------------- states

STATES: dict[str, AppState] = {s.name: s for s in AppState}
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
"""States (as written in state.json) after which nothing changes."""
SUPERVISOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "local_supervisor.py")
KILL_GRACE_S = 5.0
"""Seconds between SIGTERM and SIGKILL when stopping replicas."""
UNTIL_GRACE_MS = 2000
"""How long a tail with ``until`` waits past it for lines stamped before it to reach the file."""
RDZV_PORT_ENV = "TORCHX_RDZV_PORT"
"""Set to a free port for each role of several replicas whose command reads it (the dist.*
components do, unless given ``--rdzv_port``): local jobs must not all meet on port 29500."""
START_TIMEOUT_S = 30.0
"""An app whose supervisor has not recorded itself after this long is reported FAILED."""

_APP_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class LocalSchedulerError(TorchXError):
    """A local_cwd request cannot be carried out."""


# --------------------------------------------------------------------------- options


@dataclass
class LocalOpts(StructuredOpts):
    """The run options of local_cwd."""

    log_dir: str | None = None
    """directory for the logs (`<log_dir>/<app_id>/<role>/<k>/`); default: the app's journal under $TORCHX_HOME"""
    prepend_cwd: bool = False
    """put the current directory before the role's own PATH too (it is always on each replica's PATH, before the launcher's)"""
    auto_set_cuda_visible_devices: bool = False
    """split the GPUs `nvidia-smi -L` lists among the replicas (CUDA_VISIBLE_DEVICES)"""


# --------------------------------------------------------------------------- request


@dataclass
class ReplicaSpec:
    role: str
    id: int
    argv: list[str]
    env: dict[str, str]
    log_dir: str
    error_file: str
    cwd: str = ""
    """Directory the replica starts in; empty: the app's ``cwd``."""


@dataclass
class LocalRequest:
    """What the supervisor runs: one command per replica. Its repr is the dryrun output."""

    app_id: str
    name: str
    cwd: str
    log_dir: str
    replicas: list[ReplicaSpec] = field(default_factory=list)
    roles: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    rdzv_ports: dict[str, int] = field(default_factory=dict)
    """role -> the free port picked for its rendezvous (roles of several replicas)"""
    scripts: dict[str, str] = field(default_factory=dict)
    """role -> the script it runs (``--script``): must exist in ``cwd`` when scheduled"""

    def __repr__(self) -> str:
        import shlex

        lines = [f"local_cwd app `{self.app_id}` in {self.cwd} (logs: {self.log_dir})"]
        for role, port in self.rdzv_ports.items():
            lines.append(
                f"  role `{role}`: {RDZV_PORT_ENV}={port}, a free port picked for this job's"
                " rendezvous (dist.* components use it unless given --rdzv_port)")
        inherited = os.pathsep + os.environ.get("PATH", os.defpath)
        for r in self.replicas:
            env = " ".join(
                f"{k}={shlex.quote(v[: -len(inherited)])}{os.pathsep}$PATH"
                if k == "PATH" and v.endswith(inherited) else f"{k}={shlex.quote(v)}"
                for k, v in sorted(r.env.items()))
            cmd = " ".join(shlex.quote(a) for a in r.argv)
            where = f" (in {r.cwd})" if r.cwd else ""
            lines.append(f"  {r.role}[{r.id}]{where}: {env} {cmd}")
        return "\n".join(lines)


PopenRequest = LocalRequest
"""Upstream's name for local_cwd's request (what ``--dryrun`` prints)."""


# --------------------------------------------------------------------------- images


class ImageProvider:
    """Where a role's image is on this machine: ``${img_root}`` and the replica's directory."""

    def __init__(self, cfg: Mapping[str, CfgVal] | None = None) -> None:
        self.cfg = dict(cfg or {})

    def fetch(self, image: str) -> str:
        """The image's local directory (the ``${img_root}`` macro)."""
        raise NotImplementedError

    def get_cwd(self, image: str) -> str:
        """The directory replicas of a role with this image start in."""
        return self.fetch(image)


class CWDImageProvider(ImageProvider):
    """The default: the image is ignored; replicas run in the current directory."""

    def fetch(self, image: str) -> str:
        return os.getcwd()


class LocalDirectoryImageProvider(ImageProvider):
    """The image is a directory on this machine; each role's replicas run in it.

    ``create_scheduler(session, image_provider_class=LocalDirectoryImageProvider)``.
    """

    def fetch(self, image: str) -> str:
        if not os.path.isdir(image):
            raise LocalSchedulerError(
                f"image `{image}` is not a directory; with LocalDirectoryImageProvider each"
                " role's image names the directory it runs in"
            )
        return os.path.abspath(image)


def torchx_home() -> str:
    """``$TORCHX_HOME`` or ``~/.torchx``, created readable by the user only."""
    home = os.path.abspath(
        os.environ.get("TORCHX_HOME") or os.path.join(os.path.expanduser("~"), ".torchx"))
    apps = os.path.join(home, "apps")
    if not os.path.isdir(apps):
        os.makedirs(apps, mode=0o700, exist_ok=True)
        os.chmod(home, 0o700)
    return home


def make_app_id(name: str) -> str:
    """``<name>-<random>`` with the name reduced to characters safe in paths and handles."""
    base = re.sub(r"[^A-Za-z0-9_.\-]+", "-", name).strip("-.") or "app"
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    n = int.from_bytes(os.urandom(8), "big")
    suffix = "".join(alphabet[(n >> (6 * i)) % 36] for i in range(8))
    return f"{base}-{suffix}"


def _replica_counts(st: Mapping[str, Any]) -> list[Role]:
    """Each role with its number of replicas, as far as the state file says (for ``list``)."""
    counts: dict[str, int] = {}
    for rep in st.get("replicas") or []:
        counts[rep["role"]] = counts.get(rep["role"], 0) + 1
    return [Role(name, image="", num_replicas=n) for name, n in counts.items()]


def role_to_json(role: Role) -> dict[str, Any]:
    return {
        "name": role.name, "image": role.image, "entrypoint": role.entrypoint,
        "args": list(role.args), "env": dict(role.env), "num_replicas": role.num_replicas,
        "min_replicas": role.min_replicas, "max_retries": role.max_retries,
        "retry_policy": RetryPolicy(role.retry_policy).value,
        "resource": {"cpu": role.resource.cpu, "gpu": role.resource.gpu,
                     "memMB": role.resource.memMB},
        "port_map": dict(role.port_map),
        "metadata": json.loads(json.dumps(role.metadata, default=str)),
    }


def role_from_json(d: Mapping[str, Any]) -> Role:
    res = d.get("resource") or {}
    return Role(
        name=d["name"], image=d.get("image", ""), entrypoint=d.get("entrypoint", ""),
        args=list(d.get("args", [])), env=dict(d.get("env", {})),
        num_replicas=int(d.get("num_replicas", 1)), min_replicas=d.get("min_replicas"),
        max_retries=int(d.get("max_retries", 0)),
        retry_policy=RetryPolicy(d.get("retry_policy", "APPLICATION")),
        resource=Resource(cpu=res.get("cpu", -1), gpu=res.get("gpu", -1),
                          memMB=res.get("memMB", -1)),
        port_map=dict(d.get("port_map", {})), metadata=dict(d.get("metadata", {})),
    )


def _check_role_names(roles: list[Role]) -> None:
    """Role names become log directory names: unique, and no path tricks."""
    seen: set[str] = set()
    for role in roles:
        if role.name in ("", ".", "..") or "/" in role.name or "\0" in role.name:
            raise LocalSchedulerError(
                f"role name `{role.name}` cannot name a log directory; rename the role"
                " (no `/`, not empty, `.` or `..`)")
        if role.name in seen:
            raise LocalSchedulerError(
                f"two roles are named `{role.name}`; give each role a unique name")
        seen.add(role.name)


def _count_gpus() -> int:
    import subprocess

    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise LocalSchedulerError(
            f"auto_set_cuda_visible_devices needs `nvidia-smi -L` to list the GPUs: {e}; "
            "unset the option or install the NVIDIA driver"
        ) from None
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _replica_path(role_path: str | None, cwd: str, prepend_cwd: bool) -> str:
    """A replica's PATH, as upstream builds it: the role's PATH with the working directory
    after it (before it with ``prepend_cwd``), in front of the launcher's PATH. So an
    entrypoint in the current directory (``train.sh``) is found."""
    parts = [role_path, cwd] if not prepend_cwd else [cwd, role_path]
    parts.append(os.environ.get("PATH", os.defpath))
    return os.pathsep.join(p for p in parts if p)


def _alive(info: Mapping[str, Any] | None) -> bool:
    """True when the process ``{"pid", "start"}`` still runs (and is not a recycled pid)."""
    if not info or not info.get("pid"):
        return False
    st = proc_stat(int(info["pid"]))
    return st is not None and st[2] == info.get("start")


# --------------------------------------------------------------------------- scheduler


class LocalScheduler(Scheduler[Mapping[str, CfgVal]]):
    """Runs replicas as local processes under a detached, durable supervisor."""

    def __init__(
        self,
        session_name: str,
        kill_grace: float = KILL_GRACE_S,
        image_provider_class: Callable[..., ImageProvider] = CWDImageProvider,
        **_: Any,
    ) -> None:
        super().__init__("local_cwd", session_name)
        self.kill_grace = kill_grace
        self.image_provider_class = image_provider_class
        self._launched: list[int] = []

    def _run_opts(self) -> runopts:
        return LocalOpts.as_runopts()

    # ---- paths

    def _app_dir(self, app_id: str) -> str | None:
        if not _APP_ID_RE.match(app_id):
            return None
        return os.path.join(torchx_home(), "apps", app_id)

    def _read(self, app_id: str, name: str) -> dict[str, Any] | None:
        d = self._app_dir(app_id)
        if d is None:
            return None
        try:
            with open(os.path.join(d, name), "rb") as f:
                return json.loads(f.read())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    # ---- submitting

    def _submit_dryrun(self, app: AppDef, cfg: Mapping[str, CfgVal]) -> AppDryRunInfo[LocalRequest]:
        opts = LocalOpts.from_cfg(cfg)
        app_id = make_app_id(app.name)
        cwd = os.getcwd()
        home_logs = os.path.join(torchx_home(), "apps", app_id, "logs")
        errors = os.path.join(torchx_home(), "apps", app_id, "errors")
        log_dir = os.path.join(os.path.abspath(opts.log_dir), app_id) if opts.log_dir else home_logs
        total = sum(r.num_replicas for r in app.roles)
        gpus_each = 0
        if opts.auto_set_cuda_visible_devices:
            found = _count_gpus()
            gpus_each = found // total if total else 0
            if gpus_each == 0:
                raise LocalSchedulerError(
                    f"auto_set_cuda_visible_devices: {found} GPU(s) for {total} replicas; "
                    "use fewer replicas or unset the option"
                )
        _check_role_names(app.roles)
        images = self.image_provider_class(cfg)
        req = LocalRequest(app_id=app_id, name=app.name, cwd=cwd, log_dir=log_dir,
                           metadata=dict(app.metadata), scripts=local_scripts(app))
        next_gpu = 0
        for role in app.roles:
            if role.entrypoint in ("", "<MISSING>"):
                raise LocalSchedulerError(f"role `{role.name}` has no entrypoint; set `entrypoint=`")
            req.roles.append(role_to_json(role))
            img_root, role_cwd = images.fetch(role.image), images.get_cwd(role.image)
            if (role.num_replicas > 1 and RDZV_PORT_ENV not in role.env
                    and any(RDZV_PORT_ENV in a for a in [role.entrypoint, *role.args])):
                req.rdzv_ports[role.name] = _free_port()
            for k in range(role.num_replicas):
                values = macros.Values(img_root=img_root, app_id=app_id, replica_id=str(k),
                                       rank0_env="TORCHX_RANK0_HOST")
                r = values.apply(role)
                rdir = os.path.join(log_dir, role.name, str(k))
                env = dict(r.env)
                env.update({
                    "TORCHX_RANK0_HOST": "localhost",
                    "PYTHONUNBUFFERED": "1",
                    "TORCHELASTIC_ERROR_FILE": os.path.join(errors, f"{role.name}.{k}.json"),
                    "PATH": _replica_path(r.env.get("PATH"), cwd, opts.prepend_cwd),
                })
                if role.name in req.rdzv_ports:
                    env[RDZV_PORT_ENV] = str(req.rdzv_ports[role.name])
                if gpus_each:
                    ids = range(next_gpu, next_gpu + gpus_each)
                    env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, ids))
                    next_gpu += gpus_each
                req.replicas.append(ReplicaSpec(
                    role.name, k, [r.entrypoint, *r.args], env, rdir,
                    env["TORCHELASTIC_ERROR_FILE"], "" if role_cwd == cwd else role_cwd,
                ))
        return AppDryRunInfo(req, repr)

    def schedule(self, dryrun_info: AppDryRunInfo[LocalRequest]) -> str:
        req = dryrun_info.request
        why = missing_script(req.scripts, [req.cwd], self.backend)
        if why:
            from torchx.specs.builders import ComponentArgsError

            raise ComponentArgsError(why)
        app_dir = self._app_dir(req.app_id)
        assert app_dir is not None
        try:
            os.mkdir(app_dir, 0o700)
        except FileExistsError:
            raise LocalSchedulerError(
                f"app `{req.app_id}` was already scheduled; call dryrun again for a new app"
            ) from None
        created = time.time()
        write_json_atomic(os.path.join(app_dir, "request.json"), {
            "app_id": req.app_id, "name": req.name, "cwd": req.cwd, "log_dir": req.log_dir,
            "created": created, "kill_grace": self.kill_grace, "roles": req.roles,
            "replicas": [vars(r) for r in req.replicas], "metadata": req.metadata,
        })
        write_json_atomic(os.path.join(app_dir, "state.json"), {
            "app_id": req.app_id, "name": req.name, "created": created, "state": "SUBMITTED",
            "num_restarts": 0, "msg": "", "structured_error_msg": NONE, "supervisor": None,
            "replicas": [], "ended": None,
        })
        import sys

        self._reap()
        argv = [sys.executable, "-I", "-S", SUPERVISOR, app_dir]
        try:
            # it forks the real supervisor and exits; reaped later without blocking
            self._launched.append(os.posix_spawn(sys.executable, argv, os.environ, setsid=True))
        except OSError as e:
            raise LocalSchedulerError(
                f"could not start the supervisor of `{req.app_id}`: {e}") from None
        return req.app_id

    def _reap(self) -> None:
        """Collect the exited first stage of supervisors this process launched (no zombies)."""
        still = []
        for pid in self._launched:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if done == 0:
                still.append(pid)
        self._launched = still

    def close(self) -> None:
        deadline = time.monotonic() + 1.0
        self._reap()
        while self._launched and time.monotonic() < deadline:
            time.sleep(0.005)
            self._reap()

    # ---- managing

    def _state(self, app_id: str) -> dict[str, Any] | None:
        """The app's state, with a dead supervisor reported as FAILED."""
        st = self._read(app_id, "state.json")
        if st is None or st["state"] in TERMINAL:
            return st
        sup = st.get("supervisor")
        if sup is None:
            if time.time() - float(st.get("created", 0)) < START_TIMEOUT_S:
                return st
        elif _alive(sup):
            return st
        again = self._read(app_id, "state.json")  # it may have finished just now
        if again is not None and again["state"] != st["state"]:
            return again
        st["state"] = "FAILED"
        st["msg"] = (
            "the local_cwd supervisor of this app is gone (killed?); its replicas may remain:"
            " `torchx cancel` stops them"
        )
        return st

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        self._reap()
        st = self._state(app_id)
        if st is None:
            return None
        req = self._read(app_id, "request.json") or {}
        roles = [role_from_json(r) for r in req.get("roles", [])]
        by_role: dict[str, RoleStatus] = {r.name: RoleStatus(r.name) for r in roles}
        replicas = st.get("replicas") or [
            {"role": r["role"], "id": r["id"], "state": "PENDING"} for r in req.get("replicas", [])
        ]  # the supervisor has not reported yet
        for rep in replicas:
            rs = by_role.setdefault(rep["role"], RoleStatus(rep["role"]))
            rs.replicas.append(ReplicaStatus(
                id=rep["id"], state=STATES[rep["state"]] if rep["state"] in STATES
                else AppState.PENDING, role=rep["role"], hostname="localhost",
                structured_error_msg=rep.get("structured_error_msg", NONE),
                exit_code=rep.get("exit_code"), num_restarts=rep.get("restarts", 0),
            ))
        return DescribeAppResponse(
            app_id=app_id, state=STATES[st["state"]], num_restarts=st.get("num_restarts", 0),
            msg=st.get("msg", ""), structured_error_msg=st.get("structured_error_msg", NONE),
            roles_statuses=list(by_role.values()), roles=roles,
            metadata=req.get("metadata") or {}, name=req.get("name", ""),
        )

    def list(self, cfg: Mapping[str, CfgVal] | None = None) -> list[ListAppResponse]:
        apps = os.path.join(torchx_home(), "apps")
        out = []
        for app_id in os.listdir(apps):
            st = self._state(app_id)
            if st is None:
                continue
            out.append(ListAppResponse(
                app_id=app_id, state=STATES[st["state"]],
                app_handle=make_app_handle(self.backend, self.session_name, app_id),
                name=st.get("name", ""), created=st.get("created"), roles=_replica_counts(st),
            ))
        out.sort(key=lambda a: a.created or 0)
        return out

    def cancel(self, app_id: str) -> None:
        """Stop the app (asynchronous); a no-op when unknown or finished.

        An app whose supervisor is gone has its recorded replicas killed here.
        """
        st = self._read(app_id, "state.json")
        if st is not None and st["state"] not in TERMINAL:
            self._cancel_existing(app_id)

    def _cancel_existing(self, app_id: str) -> None:
        app_dir = self._app_dir(app_id)
        assert app_dir is not None
        with open(os.path.join(app_dir, "cancel"), "w"):
            pass  # a supervisor that has not started yet sees this
        st = self._read(app_id, "state.json") or {}
        sup = st.get("supervisor")
        if _alive(sup):
            import signal

            try:
                os.kill(int(sup["pid"]), signal.SIGTERM)  # type: ignore[index]
            except ProcessLookupError:
                pass
        elif sup is not None and st.get("state") not in TERMINAL:
            self._kill_orphaned(app_dir, st)

    def _kill_orphaned(self, app_dir: str, st: dict[str, Any]) -> None:
        """The supervisor died: kill the replica process groups it recorded, then mark CANCELLED."""
        import signal

        for rep in st.get("replicas", []):
            if _alive(rep):
                try:
                    os.killpg(int(rep["pid"]), signal.SIGKILL)
                except OSError:
                    pass
        prefix = f"{st['app_id']}/"
        for pid in proc_table():  # descendants that left the process group keep the mark
            mark = read_mark(pid)
            if mark is not None and mark.startswith(prefix):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        st["state"] = "CANCELLED"
        st["msg"] = "cancelled after its supervisor was gone"
        st["ended"] = time.time()
        write_json_atomic(os.path.join(app_dir, "state.json"), st)

    def _delete_existing(self, app_id: str) -> None:
        import shutil

        app_dir = self._app_dir(app_id)
        assert app_dir is not None
        self.cancel(app_id)
        deadline = time.monotonic() + self.kill_grace + 10
        while time.monotonic() < deadline:
            st = self._state(app_id)
            if st is None or st["state"] in TERMINAL:
                break
            time.sleep(0.02)
        req = self._read(app_id, "request.json") or {}
        log_dir = req.get("log_dir")
        if log_dir and not os.path.abspath(log_dir).startswith(app_dir + os.sep):
            shutil.rmtree(log_dir, ignore_errors=True)
        shutil.rmtree(app_dir, ignore_errors=True)

    def wait_for_change(self, app_id: str, timeout: float) -> None:
        """Return soon after the app's state changes (or is already terminal), or at ``timeout``.

        Polls the small state file's content every 5 ms: comparing content, not mtimes, cannot
        miss a change that lands within one filesystem timestamp tick. A dead supervisor writes
        nothing more, so every 100 ms it also checks that the supervisor is alive (or, before
        it started, that it is not overdue) and returns when not: ``describe`` reports FAILED.
        """
        d = self._app_dir(app_id)
        if d is None:
            return
        path = os.path.join(d, "state.json")

        def content() -> bytes:
            try:
                with open(path, "rb") as f:
                    return f.read()
            except OSError:
                return b""

        first = content()
        # the caller read the state before calling us: it may have changed in between
        try:
            doc = json.loads(first)
            if doc["state"] in TERMINAL:
                return
            sup = doc.get("supervisor")
            overdue = float(doc.get("created") or 0) + START_TIMEOUT_S
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        deadline = time.monotonic() + timeout
        check = time.monotonic() + 0.1
        while time.monotonic() < deadline:
            time.sleep(min(0.005, max(0.0, deadline - time.monotonic())))
            if content() != first:
                return
            if time.monotonic() >= check:
                check += 0.1
                if not _alive(sup) if sup else time.time() > overdue:
                    return

    def log_iter(
        self,
        app_id: str,
        role_name: str,
        k: int = 0,
        regex: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        should_tail: bool = False,
        streams: Stream | None = None,
    ) -> Iterable[str]:
        from torchx.util.logfile import iter_lines, last_stamp, offsets_for, read_index

        req = self._read(app_id, "request.json")
        if req is None:
            raise UnknownAppException(make_app_handle(self.backend, self.session_name, app_id))
        spec = next((r for r in req["replicas"] if r["role"] == role_name and r["id"] == k), None)
        if spec is None:
            counts: dict[str, int] = {}
            for r in req["replicas"]:
                counts[r["role"]] = counts.get(r["role"], 0) + 1
            have = ", ".join(f"`{n}` (replicas 0..{c - 1})" for n, c in counts.items())
            raise LocalSchedulerError(
                f"app `{app_id}` has no replica {k} of role `{role_name}`; it has {have}"
            )
        try:
            stream = Stream(streams or Stream.COMBINED).value
        except ValueError:
            from torchx.util.suggest import suggest as _suggest

            raise LocalSchedulerError(
                f"unknown log stream `{streams}`" + _suggest(str(streams), [s.value for s in Stream],
                                                             "streams")) from None
        path = os.path.join(spec["log_dir"], f"{stream}.log")

        def done() -> bool:
            st = self._state(app_id)
            return st is None or st["state"] in TERMINAL

        idx_path = path[: -len(".log")] + ".idx"
        since_ms = None if since is None else int(since.timestamp() * 1000)
        until_ms = None if until is None else int(until.timestamp() * 1000)
        start: int | None = 0
        end: int | None = None
        if since_ms is not None or until_ms is not None:
            start, end = offsets_for(read_index(idx_path), since_ms, until_ms)
            if start is None:  # nothing written since `since` yet
                if not should_tail:
                    return iter(())
                start = os.path.getsize(path) if os.path.exists(path) else 0
        assert start is not None
        follow: Callable[[], bool] | None = done if should_tail and end is None else None
        end_when_done: Callable[[], int | None] | None = None
        if follow is not None and until_ms is not None:
            u = until_ms  # follow until `until` passes, then stop at its offset in the index

            def past_until() -> bool:
                # a line stamped before `until` may still be on its way to the file: wait for
                # an entry stamped after it, the end of the app, or a grace period
                now_ms = time.time() * 1000
                return done() or now_ms > u and (now_ms > u + UNTIL_GRACE_MS
                                                 or (last_stamp(idx_path) or 0) > u)

            follow = past_until
            end_when_done = lambda: offsets_for(read_index(idx_path), None, u)[1]  # noqa: E731
        lines = iter_lines(path, start, end, follow, end_when_done=end_when_done)
        return filter_regex(regex, lines) if regex else lines


def create_scheduler(session_name: str, **kwargs: Any) -> LocalScheduler:
    return LocalScheduler(session_name, **kwargs)
