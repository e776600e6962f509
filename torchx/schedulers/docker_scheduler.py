"""``local_docker``: every replica runs as a container on this machine's Docker Engine.

Requirements: a running Docker Engine (``DOCKER_HOST`` or the local socket) and the Docker SDK,
``pip install 'torchx[docker]'``. The SDK rather than the ``docker`` CLI: its responses are
structured (nothing to parse), each call is one HTTP request on the socket instead of a fork of
a 40 MB binary, and its client is the one seam tests inject.

Replicas share the user-defined bridge network ``torchx`` and reach each other by hostname
(``<app_id>-<role>-<replica>``, ``$TORCHX_RANK0_HOST`` is the role's replica 0). Labels on each
container name its app, role and replica, so status, logs, list, cancel and delete work from any
process. Cancel renames the containers with a ``.cancelled`` suffix (a mark every process can
see) and stops them; a failed replica ends the app and status stops the rest. CPU limits are
capped at the engine's CPUs. Workspaces are patched into the role's image by
:py:class:`~torchx.workspace.docker_workspace.DockerWorkspaceMixin`.

Retries: ``max_retries`` is Docker's ``on-failure:<max_retries>`` restart policy, so the engine
itself restarts a failed container, up to ``max_retries`` times per replica, with no torchx
process alive. That is ``RetryPolicy.REPLICA``, and the only policy run here: Docker restarts
the failed container alone, and restarting a whole role or app (``ROLE``, ``APPLICATION``, the
default) would need a watcher process that counts retries and restarts the group, which
``local_docker`` does not have (it keeps no state outside the containers). A role asking for
``ROLE`` or ``APPLICATION`` with ``max_retries > 0`` runs as ``REPLICA``: ``--dryrun`` shows a
``# note:`` saying so, ``schedule`` logs it as a warning, and ``describe`` reports the roles
with ``retry_policy=REPLICA``. A replica with retries left shows RUNNING while it is restarted,
so its failure does not stop the others.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import os
import re
import secrets
import shlex
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from torchx.schedulers.api import (
    DescribeAppResponse,
    ListAppResponse,
    Scheduler,
    Stream,
    filter_regex,
)
from torchx.specs.api import (
    AppDef,
    AppDryRunInfo,
    AppState,
    BindMount,
    CfgVal,
    DeviceMount,
    ReplicaStatus,
    RetryPolicy,
    Role,
    RoleStatus,
    StructuredOpts,
    TorchXError,
    VolumeMount,
    macros,
    make_app_handle,
    runopts,
)
from torchx.workspace.api import WorkspaceBuild
from torchx.workspace.docker_workspace import DockerWorkspaceMixin, ensure_image

log = logging.getLogger(__name__)

NETWORK = "torchx"
RANK0_ENV = "TORCHX_RANK0_HOST"
CANCELLED_SUFFIX = ".cancelled"
STOP_GRACE_S = 10
_L = "torchx.pytorch.org/"
LABEL_APP, LABEL_APP_NAME, LABEL_SESSION = _L + "app-id", _L + "app-name", _L + "session"
LABEL_ROLE, LABEL_ROLE_INDEX, LABEL_REPLICA = _L + "role-name", _L + "role-index", _L + "replica-id"
LABEL_NUM_REPLICAS, LABEL_MAX_RETRIES = _L + "num-replicas", _L + "max-retries"

# --------------------------------------------------------------------------- states

CONTAINER_STATES: dict[str, AppState] = {
    "created": AppState.PENDING,
    "paused": AppState.PENDING,
    "running": AppState.RUNNING,
    "restarting": AppState.RUNNING,
    "removing": AppState.RUNNING,
    "dead": AppState.FAILED,
    # "exited": SUCCEEDED on exit code 0, RUNNING while retries remain, FAILED otherwise
}

# --------------------------------------------------------------------------- options


@dataclass
class DockerOpts(StructuredOpts):
    copy_env: list[str] | None = None
    """globs of host environment variables copied into every replica (e.g. `AWS_*;HF_TOKEN`)"""
    env: dict[str, str] | None = None
    """environment for every replica (`K1:V1;K2:V2`); the role's own env wins"""
    privileged: bool = False
    """run the containers privileged (all host devices, no confinement)"""


@functools.lru_cache(maxsize=1)
def _opts() -> runopts:
    return DockerOpts.as_runopts()


# --------------------------------------------------------------------------- request


@dataclass
class DockerContainer:
    """One replica's container: everything ``docker run`` needs."""

    name: str
    image: str
    role: str
    replica_id: int
    entrypoint: str
    args: list[str]
    env: dict[str, str]
    copied_env: dict[str, str] = field(default_factory=dict)
    """Host variables picked by ``copy_env`` (shown by name only in the dryrun)."""
    labels: dict[str, str] = field(default_factory=dict)
    cpus: float | None = None
    mem_mb: int | None = None
    gpus: int = 0
    mounts: list[dict[str, Any]] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    max_retries: int = 0
    privileged: bool = False

    def docker_run(self, network: str) -> str:
        """The equivalent ``docker run`` command line."""
        q = shlex.quote
        parts = ["docker run --detach --init", f"--name {q(self.name)}",
                 f"--hostname {q(self.name)}", f"--network {q(network)}"]
        parts += [f"--label {q(f'{k}={v}')}" for k, v in sorted(self.labels.items())]
        parts += [f"--env {q(f'{k}={v}')}" for k, v in sorted(self.env.items())]
        parts += [f"--env {q(k)}" for k in sorted(self.copied_env)]
        if self.cpus is not None:
            parts.append(f"--cpus {self.cpus:g}")
        if self.mem_mb is not None:
            parts.append(f"--memory {self.mem_mb}m --shm-size {self.mem_mb}m")
        if self.gpus:
            parts.append(f"--gpus {self.gpus}")
        for m in self.mounts:
            spec = f"type={m['Type']},src={m['Source']},dst={m['Target']}"
            parts.append(f"--mount {q(spec + (',readonly' if m['ReadOnly'] else ''))}")
        parts += [f"--device {q(d)}" for d in self.devices]
        if self.max_retries:
            parts.append(f"--restart on-failure:{self.max_retries}")
        if self.privileged:
            parts.append("--privileged")
        parts.append(" ".join([f"--entrypoint {q(self.entrypoint)} {q(self.image)}",
                               *(q(a) for a in self.args)]))
        return " \\\n    ".join(parts)


@dataclass
class DockerJob:
    """What ``schedule`` does: build workspaces, then create and start these containers."""

    app_id: str
    containers: list[DockerContainer]
    builds: list[WorkspaceBuild] = field(default_factory=list)
    network: str = NETWORK
    notes: list[str] = field(default_factory=list)
    """Where the app runs differently from what it asked (logged as warnings by ``schedule``)."""

    def __repr__(self) -> str:
        lines = [f"# local_docker app `{self.app_id}` on network `{self.network}`"]
        lines += [f"# note: {n}" for n in self.notes]
        lines += [f"# workspace: {b.describe()}" for b in self.builds]
        lines += [c.docker_run(self.network) for c in self.containers]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return repr(self)


# --------------------------------------------------------------------------- role -> request


def make_app_id(name: str) -> str:
    """A unique, hostname-safe id: ``<name>-<8 random chars>``."""
    return f"{_dns(name)[:30] or 'app'}-{secrets.token_hex(4)}"


def _dns(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def container_name(app_id: str, role: str, replica_id: int) -> str:
    """The container's name and hostname (at most 63 characters, a valid DNS label)."""
    suffix = f"-{replica_id}"
    return f"{app_id}-{_dns(role)[: 62 - len(app_id) - len(suffix)] or 'role'}{suffix}"


def copy_env(patterns: list[str], environ: Mapping[str, str]) -> dict[str, str]:
    """The host variables whose names match any glob in ``patterns``."""
    return {
        k: v for k, v in sorted(environ.items()) if any(fnmatch.fnmatchcase(k, p) for p in patterns)
    }


def retry_note(role: Role) -> str | None:
    """Why ``role`` is retried per replica although it asked for another policy; None if not."""
    policy = RetryPolicy(role.retry_policy)
    if role.max_retries <= 0 or policy == RetryPolicy.REPLICA:
        return None
    return (
        f"role `{role.name}` asks for retry_policy {policy.value} but local_docker retries each"
        f" failed replica alone (Docker's on-failure restart, up to {role.max_retries} times per"
        " replica): set retry_policy=REPLICA to silence this, or use local_cwd to restart the"
        f" whole {'role' if policy == RetryPolicy.ROLE else 'app'}"
    )


def _mounts(role: Role) -> tuple[list[dict[str, Any]], list[str]]:
    mounts: list[dict[str, Any]] = []
    devices: list[str] = []
    for m in role.mounts:
        if isinstance(m, BindMount):
            mounts.append({"Type": "bind", "Source": m.src_path, "Target": m.dst_path,
                           "ReadOnly": m.read_only})
        elif isinstance(m, VolumeMount):
            mounts.append({"Type": "volume", "Source": m.src, "Target": m.dst_path,
                           "ReadOnly": m.read_only})
        elif isinstance(m, DeviceMount):
            devices.append(f"{m.src_path}:{m.dst_path}:{m.permissions}")
    return mounts, devices


def app_to_job(
    app: AppDef,
    app_id: str,
    opts: DockerOpts,
    environ: Mapping[str, str],
    session_name: str,
    builds: Mapping[str, WorkspaceBuild] | None = None,
) -> DockerJob:
    """The containers for ``app``: pure, so ``--dryrun`` shows exactly what will run."""
    copied = copy_env(opts.copy_env or [], environ)
    containers: list[DockerContainer] = []
    for index, role in enumerate(app.roles):
        rank0 = container_name(app_id, role.name, 0)
        mounts, devices = _mounts(role)
        res = role.resource
        for k in range(role.num_replicas):
            values = macros.Values(img_root="", app_id=app_id, replica_id=str(k),
                                   rank0_env=RANK0_ENV)
            r = values.apply(role)
            env = {**(opts.env or {}), **r.env, RANK0_ENV: rank0}
            containers.append(DockerContainer(
                name=container_name(app_id, role.name, k),
                image=role.image,
                role=role.name,
                replica_id=k,
                entrypoint=r.entrypoint,
                args=list(r.args),
                env=env,
                copied_env={n: v for n, v in copied.items() if n not in env},
                labels={
                    LABEL_APP: app_id, LABEL_APP_NAME: app.name, LABEL_SESSION: session_name,
                    LABEL_ROLE: role.name, LABEL_ROLE_INDEX: str(index), LABEL_REPLICA: str(k),
                    LABEL_NUM_REPLICAS: str(role.num_replicas),
                    LABEL_MAX_RETRIES: str(role.max_retries),
                },
                cpus=float(res.cpu) if res.cpu > 0 else None,
                mem_mb=res.memMB if res.memMB > 0 else None,
                gpus=max(res.gpu, 0),
                mounts=mounts,
                devices=devices,
                max_retries=role.max_retries,
                privileged=opts.privileged,
            ))
    builds = builds or {}
    plans = [builds[r.image] for r in app.roles if r.workspace and r.image in builds]
    notes = [n for n in map(retry_note, app.roles) if n]
    return DockerJob(app_id, containers, plans, notes=notes)


def create_kwargs(
    c: DockerContainer, network: str, max_cpus: float | None = None
) -> dict[str, Any]:
    """Keyword arguments for the SDK's ``containers.create`` (CPUs capped at the engine's)."""
    kwargs: dict[str, Any] = {
        "image": c.image,
        "name": c.name,
        "hostname": c.name,
        "entrypoint": [c.entrypoint],
        "command": c.args,
        "environment": {**c.copied_env, **c.env},
        "labels": c.labels,
        "network": network,
        "init": True,
        "detach": True,
        "privileged": c.privileged,
        "mounts": c.mounts,
        "devices": c.devices,
    }
    if c.cpus is not None:
        cpus = min(c.cpus, max_cpus) if max_cpus else c.cpus
        kwargs["nano_cpus"] = int(cpus * 1e9)
    if c.mem_mb is not None:
        kwargs["mem_limit"] = f"{c.mem_mb}m"
        kwargs["shm_size"] = f"{c.mem_mb}m"
    if c.gpus:
        kwargs["device_requests"] = [{"count": c.gpus, "capabilities": [["gpu"]]}]
    if c.max_retries:
        kwargs["restart_policy"] = {"Name": "on-failure", "MaximumRetryCount": c.max_retries}
    return kwargs


# --------------------------------------------------------------------------- container -> state


@dataclass
class _Replica:
    id: str
    name: str
    role: str
    role_index: int
    replica_id: int
    state: AppState
    exit_code: int | None
    restarts: int


def replica_state(
    status: str, exit_code: int, restarts: int, max_retries: int, cancelled: bool
) -> AppState:
    """The state of one container (``status`` as Docker reports it)."""
    if status == "exited" or status == "dead":
        if cancelled:
            return AppState.CANCELLED
        if status == "exited" and exit_code == 0:
            return AppState.SUCCEEDED
        if status == "exited" and restarts < max_retries:
            return AppState.RUNNING  # the restart policy brings it back
        return AppState.FAILED
    return CONTAINER_STATES.get(status, AppState.UNKNOWN)


def app_state(states: Iterable[AppState]) -> AppState:
    """An app's state from its replicas': cancel and failure end it, all must succeed."""
    s = set(states)
    if not s:
        return AppState.UNKNOWN
    for terminal in (AppState.CANCELLED, AppState.FAILED):
        if terminal in s:
            return terminal
    if s == {AppState.SUCCEEDED}:
        return AppState.SUCCEEDED
    if AppState.RUNNING in s or AppState.SUCCEEDED in s:
        return AppState.RUNNING
    return AppState.PENDING if AppState.PENDING in s else AppState.UNKNOWN


def _replica(info: Mapping[str, Any]) -> _Replica:
    """A replica from a container's ``inspect`` JSON."""
    labels = info["Config"]["Labels"]
    st = info["State"]
    exit_code = int(st.get("ExitCode", 0))
    restarts = int(info.get("RestartCount", 0))
    name = str(info["Name"]).lstrip("/")
    state = replica_state(st["Status"], exit_code, restarts, int(labels.get(LABEL_MAX_RETRIES, 0)),
                          name.endswith(CANCELLED_SUFFIX))
    return _Replica(str(info["Id"]), name, labels[LABEL_ROLE], int(labels.get(LABEL_ROLE_INDEX, 0)),
                    int(labels[LABEL_REPLICA]), state,
                    exit_code if st["Status"] in ("exited", "dead") else None, restarts)


_EXITED = re.compile(r"^Exited \((-?\d+)\)")


# --------------------------------------------------------------------------- scheduler


class DockerScheduler(DockerWorkspaceMixin, Scheduler[Mapping[str, CfgVal]]):
    """Runs apps as containers on the local Docker Engine (see the module doc)."""

    def __init__(self, session_name: str, docker_client: Any | None = None) -> None:
        super().__init__("local_docker", session_name, docker_client=docker_client)
        self._engine_cpus: float | None = None

    def _run_opts(self) -> runopts:
        opts = runopts()  # a fresh copy: the caller adds the workspace options to it
        opts.update(_opts())
        return opts

    def _submit_dryrun(self, app: AppDef, cfg: Mapping[str, CfgVal]) -> AppDryRunInfo[DockerJob]:
        opts = DockerOpts.from_cfg(cfg)  # resolved by submit_dryrun (workspace keys ignored)
        job = app_to_job(app, make_app_id(app.name), opts, os.environ, self.session_name,
                         self.workspace_builds())
        return AppDryRunInfo(job, repr)

    # ---- submitting

    def schedule(self, dryrun_info: AppDryRunInfo[DockerJob]) -> str:
        job: DockerJob = dryrun_info.request
        for note in job.notes:
            log.warning(note)
        if dryrun_info.app is not None:  # images rebuilt after the dryrun (workspace changed)
            current = {r.name: r.image for r in dryrun_info.app.roles}
            for c in job.containers:
                c.image = current.get(c.role, c.image)
        client = self._docker_client
        quiet = bool(dryrun_info.cfg.get("quiet"))
        for image in dict.fromkeys(c.image for c in job.containers):
            ensure_image(client, image, quiet)
        self._ensure_network(job.network)
        if self._engine_cpus is None:
            self._engine_cpus = float(client.info().get("NCPU") or 0)
        max_cpus = self._engine_cpus or None
        created: list[Any] = []
        try:
            for c in job.containers:
                created.append(client.containers.create(**create_kwargs(c, job.network, max_cpus)))
            for container in created:
                container.start()
        except _docker_errors().APIError as e:
            for container in created:
                try:
                    container.remove(force=True)
                except _docker_errors().APIError:
                    pass
            raise _translate(e, job) from None
        return job.app_id

    def _ensure_network(self, name: str) -> None:
        client = self._docker_client
        if any(n.name == name for n in client.networks.list(names=[name])):
            return  # (the name filter also matches longer names that contain it)
        try:
            client.networks.create(name, driver="bridge", check_duplicate=True,
                                   labels={_L + "network": "1"})
        except _docker_errors().APIError as e:
            if e.status_code != 409:  # created meanwhile by another process
                raise

    # ---- managing

    def _containers(self, app_id: str) -> list[dict[str, Any]]:
        """``inspect`` JSON of every container of the app, ordered by role then replica."""
        api = self._docker_client.api
        infos = []
        for summary in api.containers(all=True, filters={"label": f"{LABEL_APP}={app_id}"}):
            try:
                infos.append(api.inspect_container(summary["Id"]))
            except _docker_errors().NotFound:
                continue  # deleted meanwhile
        return sorted(infos, key=lambda i: (int(i["Config"]["Labels"].get(LABEL_ROLE_INDEX, 0)),
                                            int(i["Config"]["Labels"].get(LABEL_REPLICA, 0))))

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        infos = self._containers(app_id)
        if not infos:
            return None
        replicas = [_replica(i) for i in infos]
        state = app_state(r.state for r in replicas)
        failed = [f"{r.role}[{r.replica_id}] exited with code {r.exit_code}"
                  for r in replicas if r.state == AppState.FAILED]
        if state == AppState.FAILED:
            self._stop_rest(replicas)
        roles: dict[str, RoleStatus] = {}
        for r in replicas:
            roles.setdefault(r.role, RoleStatus(r.role)).replicas.append(
                ReplicaStatus(r.replica_id, r.state, r.role, r.name.removesuffix(CANCELLED_SUFFIX)))
        return DescribeAppResponse(
            app_id=app_id,
            state=state,
            num_restarts=max(r.restarts for r in replicas),
            msg="; ".join(failed),
            roles_statuses=list(roles.values()),
            roles=_roles(infos),
        )

    def wait_for_change(self, app_id: str, timeout: float) -> None:
        """Return soon after any container of the app changes state, or at ``timeout``.

        ``Runner.wait`` calls this between status reads. It polls the engine's container list
        (one cheap local call, no inspect) every 50 ms, so the end of an app is noticed well
        within 100 ms instead of after a whole ``wait_interval``.
        """
        api = self._docker_client.api
        filters = {"label": f"{LABEL_APP}={app_id}"}

        def snapshot() -> list[tuple[str, str, str]]:
            return sorted((c["Id"], c.get("State", ""), ",".join(c.get("Names") or []))
                          for c in api.containers(all=True, filters=filters))

        first = snapshot()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            if snapshot() != first:
                return

    def _stop_rest(self, replicas: list[_Replica]) -> None:
        """A failed replica ends the app: kill the replicas still running."""
        api = self._docker_client.api
        for r in replicas:
            if r.state in (AppState.RUNNING, AppState.PENDING):
                try:  # no restart policy may bring it back
                    api.update_container(r.id, restart_policy={"Name": "no"})
                    api.kill(r.id)
                except _docker_errors().APIError:
                    pass
                r.state = AppState.FAILED if r.state == AppState.RUNNING else AppState.CANCELLED

    def list(self, cfg: Mapping[str, CfgVal] | None = None) -> list[ListAppResponse]:
        api = self._docker_client.api
        apps: dict[str, list[tuple[AppState, dict[str, Any]]]] = {}
        for s in api.containers(all=True, filters={"label": LABEL_APP}):
            labels = s["Labels"]
            m = _EXITED.match(s.get("Status", ""))
            exit_code = int(m.group(1)) if m else 0
            retries = int(labels.get(LABEL_MAX_RETRIES, 0))
            restarts = retries
            if s["State"] == "exited" and exit_code and retries:
                try:  # only inspect knows how many retries are left
                    restarts = int(api.inspect_container(s["Id"]).get("RestartCount", 0))
                except _docker_errors().NotFound:
                    continue
            cancelled = any(n.endswith(CANCELLED_SUFFIX) for n in s.get("Names", []))
            state = replica_state(s["State"], exit_code, restarts, retries, cancelled)
            apps.setdefault(labels[LABEL_APP], []).append((state, s))
        out = []
        for app_id, reps in apps.items():
            labels = reps[0][1]["Labels"]
            out.append(ListAppResponse(
                app_id=app_id,
                state=app_state(st for st, _ in reps),
                app_handle=make_app_handle(
                    self.backend, labels.get(LABEL_SESSION, self.session_name), app_id),
                name=labels.get(LABEL_APP_NAME, ""),
                created=float(min(s.get("Created", 0) for _, s in reps)),
            ))
        return sorted(out, key=lambda a: (a.created or 0, a.app_id))

    def _cancel_existing(self, app_id: str) -> None:
        """Mark every container cancelled (rename), then stop them all at once."""
        api = self._docker_client.api
        infos = self._containers(app_id)
        for i in infos:
            name = str(i["Name"]).lstrip("/")
            if not name.endswith(CANCELLED_SUFFIX):
                try:
                    api.rename(i["Id"], name + CANCELLED_SUFFIX)
                except _docker_errors().APIError:
                    pass
        errors: list[BaseException] = []

        def stop(cid: str) -> None:
            try:
                api.stop(cid, timeout=STOP_GRACE_S)
            except _docker_errors().NotFound:
                pass
            except Exception as e:  # reported after every container had its chance
                errors.append(e)

        threads = [threading.Thread(target=stop, args=(i["Id"],)) for i in infos]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise TorchXError(f"could not stop every container of `{app_id}`: {errors[0]}")

    def _delete_existing(self, app_id: str) -> None:
        """Remove every container of the app (killing those still running)."""
        api = self._docker_client.api
        for i in self._containers(app_id):
            try:
                api.remove_container(i["Id"], force=True)
            except _docker_errors().NotFound:
                pass

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
        infos = self._containers(app_id)
        match = [i for i in infos if i["Config"]["Labels"][LABEL_ROLE] == role_name
                 and int(i["Config"]["Labels"][LABEL_REPLICA]) == k]
        if not match:
            if not infos:
                from torchx.specs.api import UnknownAppException

                raise UnknownAppException(make_app_handle(self.backend, self.session_name, app_id))
            labels = [i["Config"]["Labels"] for i in infos]
            have = ", ".join(sorted({f"{lb[LABEL_ROLE]}/{lb[LABEL_REPLICA]}" for lb in labels}))
            raise TorchXError(f"app `{app_id}` has no replica `{role_name}/{k}`; it has: {have}")
        kwargs: dict[str, Any] = {
            "stdout": streams in (None, Stream.COMBINED, Stream.STDOUT),
            "stderr": streams in (None, Stream.COMBINED, Stream.STDERR),
            "stream": True,
            "follow": should_tail,
        }
        if since is not None:
            kwargs["since"] = since
        if until is not None:
            kwargs["until"] = until
        lines = _lines(self._docker_client.api.logs(match[0]["Id"], **kwargs))
        return filter_regex(regex, lines) if regex else lines


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Whole lines (ending in a newline) from a stream of byte chunks."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        *whole, buf = buf.split(b"\n")
        for line in whole:
            yield line.decode("utf-8", "replace") + "\n"
    if buf:
        yield buf.decode("utf-8", "replace") + "\n"


def _roles(infos: list[dict[str, Any]]) -> list[Role]:
    """The roles, as far as the containers tell (replica 0's image, command and env)."""
    roles: dict[str, Role] = {}
    for i in infos:
        labels, config = i["Config"]["Labels"], i["Config"]
        if labels[LABEL_ROLE] in roles:
            continue
        env = dict(e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
        entry = config.get("Entrypoint") or [""]
        roles[labels[LABEL_ROLE]] = Role(
            name=labels[LABEL_ROLE], image=config.get("Image", ""), entrypoint=entry[0],
            args=[*entry[1:], *(config.get("Cmd") or [])], env=env,
            num_replicas=int(labels.get(LABEL_NUM_REPLICAS, 1)),
            max_retries=int(labels.get(LABEL_MAX_RETRIES, 0)),
            retry_policy=RetryPolicy.REPLICA,  # the only one Docker's restart policy gives
        )
    return list(roles.values())


def _docker_errors() -> Any:
    import docker.errors  # type: ignore[import-untyped]

    return docker.errors


def _translate(e: Any, job: DockerJob) -> TorchXError:
    """A Docker API error from ``schedule`` as one actionable line."""
    text = str(getattr(e, "explanation", None) or e)
    if "could not select device driver" in text:
        gpus = max(c.gpus for c in job.containers)
        return TorchXError(
            f"the app asks for {gpus} GPU(s) per replica but this Docker Engine has no GPU runtime:"
            " install nvidia-container-toolkit, or run with `--gpu 0`"
        )
    if "Range of CPUs" in text or "Minimum memory limit" in text:
        return TorchXError(
            f"Docker rejected the resources: {text}: ask for less (`--cpu`, `--memMB`)")
    missing = re.search(r"bind source path does not exist: (.+)", text)
    if missing:
        return TorchXError(
            f"bind mount source `{missing.group(1).strip()}` does not exist on this machine:"
            " create it, or fix the role's mounts (`--mounts type=bind,src=...,dst=...`)")
    return TorchXError(f"Docker could not start `{job.app_id}`: {text}")


def create_scheduler(
    session_name: str, docker_client: Any | None = None, **kwargs: Any
) -> DockerScheduler:
    """The ``local_docker`` scheduler (``docker_client``: an SDK client to use instead of
    connecting to ``DOCKER_HOST`` on first use)."""
    return DockerScheduler(session_name, docker_client=docker_client)
