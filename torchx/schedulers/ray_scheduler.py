"""``ray``: run an app on a Ray cluster through the Ray Jobs API.

Requirements: a running Ray cluster with its dashboard (``ray[default]``; ``ray start --head``)
reachable at ``dashboard_address`` (run option; default ``$RAY_ADDRESS``, else
``127.0.0.1:8265``), and ``pip install 'torchx[ray]'`` where torchx runs. Only ``schedule``
imports Ray (its ``JobSubmissionClient`` packages and uploads the working directory); status,
logs, list, cancel and delete speak the Jobs REST API and the dashboard's log API with the
standard library, so ``torchx status`` does not pay Ray's 2-3 s import.

One app is one Ray job whose entrypoint is :py:mod:`torchx.schedulers.ray_driver`, shipped in the
job's ``working_dir`` with ``local_supervisor.py`` and the app's ``job.json`` (torchx need not be
installed on the cluster). The driver reserves a placement-group bundle per replica and runs each
replica as its own actor (see its docstring for fail-fast, retries and cancel).

- **working_dir**: a temporary copy of each role's workspace (``--workspace``; else its image when
  that is a local directory), honouring ``.torchxignore``, under ``ws/<n>/`` (the role runs there);
  the copy is deleted once Ray has uploaded it. The user's directory is only ever read.
- **App id**: ``<dashboard host:port>-<submission id>``, handle ``ray://torchx/<app id>``, so any
  process can find the job (an ``https`` dashboard is written ``https:<host:port>``).
- **Macros**: ``app_id`` is the app id, ``replica_id`` the index, ``img_root`` ``.``, and
  ``rank0_env`` names ``TORCHX_RANK0_HOST``, the address of the role's replica 0; the driver picks a
  free port there as ``TORCHX_RANK0_PORT`` (also ``MASTER_ADDR``/``MASTER_PORT``, and
  ``TORCHX_RDZV_PORT``, the port ``dist.*`` components rendezvous on). A rendezvous
  endpoint ``${TORCHX_RANK0_HOST...}:<port>`` naming a port of the role's ``port_map`` (what
  ``dist.ddp`` writes) is rewritten to use that free port, falling back to the declared one.
- **Logs**: per replica ``stdout``/``stderr``/``combined`` in the Ray log directory of the node it
  ran on (``torchx/<submission id>/<role index>/<replica>/``), read through the dashboard, with a
  time index for ``since``/``until``; following polls them every half second.
- **Resources**: a bundle is the role's cpu (at least 1), gpu and memMB (Ray's ``memory``).
- **Delete** stops the job and removes it from the job server; the log files stay in the nodes'
  Ray session directories until Ray's own cleanup.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
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
from torchx.schedulers.ray_status import (
    DRIVER_STATES,
    JOB_STATES,
    describe_job,
    parse_index,
    role_to_json,
)
from torchx.specs.api import (
    AppDef,
    AppDryRunInfo,
    AppState,
    CfgVal,
    Resource,
    RetryPolicy,
    Role,
    StructuredOpts,
    TorchXError,
    UnknownAppException,
    macros,
    make_app_handle,
    runopts,
)

DEFAULT_DASHBOARD = "127.0.0.1:8265"
RANK0_ENV, RANK0_PORT_ENV = "TORCHX_RANK0_HOST", "TORCHX_RANK0_PORT"
DRIVER_DIR = "torchx_ray"
ENTRYPOINT = f"python {DRIVER_DIR}/ray_driver.py"
KILL_GRACE_S = 5.0
HTTP_TIMEOUT_S = 30.0
_HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------- states
# (the tables and the parsing of what Ray and the driver report live in ray_status)

class RaySchedulerError(TorchXError):
    """The Ray cluster refused or could not be reached."""


# --------------------------------------------------------------------------- options


@dataclass
class RayOpts(StructuredOpts):
    dashboard_address: str | None = None
    """the Ray dashboard (Jobs API) as host:port; default $RAY_ADDRESS, else 127.0.0.1:8265"""
    requirements: str | None = None
    """a requirements.txt whose packages Ray pip-installs for the job (runtime_env pip)"""


# --------------------------------------------------------------------------- request


@dataclass
class RayReplica:
    role: str
    id: int
    argv: list[str]
    env: dict[str, str]


@dataclass
class RayRole:
    name: str
    cwd: str
    """Directory in the working_dir the role runs in ('' = its root)."""
    bundle: dict[str, float]
    """One placement-group bundle per replica: Ray resource name -> amount."""
    max_retries: int
    retry_policy: str
    replicas: list[RayReplica]


@dataclass
class RayJob:
    """What ``schedule`` submits. Its repr is the ``--dryrun`` output."""

    app_id: str
    submission_id: str
    address: str
    name: str
    roles: list[RayRole]
    dirs: list[tuple[str, str, str]] = field(default_factory=list)
    """(local source dir, path in the job's directory, path in working_dir) copies."""
    requirements: list[str] | None = None
    requirements_file: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def job_json(self) -> dict[str, Any]:
        """What the driver reads (``torchx_ray/job.json``)."""
        return {
            "app_id": self.app_id, "submission_id": self.submission_id, "name": self.name,
            "kill_grace": KILL_GRACE_S, "placement_strategy": "SPREAD",
            "roles": [{
                "name": r.name, "cwd": r.cwd, "bundle": r.bundle,
                "max_retries": r.max_retries, "retry_policy": r.retry_policy,
                "replicas": [{"id": x.id, "argv": x.argv, "env": x.env} for x in r.replicas],
            } for r in self.roles],
        }

    def runtime_env(self, working_dir: str) -> dict[str, Any]:
        env: dict[str, Any] = {"working_dir": working_dir}
        if self.requirements:
            env["pip"] = list(self.requirements)
        return env

    def __repr__(self) -> str:
        import shlex

        q = shlex.quote
        lines = [f"# ray app `{self.app_id}`: a Ray job submitted to {dashboard_url(self.address)}",
                 f"#   submission_id: {self.submission_id}",
                 f"#   entrypoint: {ENTRYPOINT}  (torchx_ray/: driver, supervisor, job.json)"]
        for src, sub, dst in self.dirs:
            where = f"{dst}/{sub}" if sub else dst
            lines.append(f"#   working_dir {where}: copy of {src} (honours .torchxignore)")
        if self.requirements_file:
            lines.append(f"#   pip: {len(self.requirements or [])} package(s) from"
                         f" {self.requirements_file}")
        for r in self.roles:
            res = ", ".join(f"memory {v / 2**20:g} MiB" if k == "memory" else f"{k} {v:g}"
                            for k, v in sorted(r.bundle.items()))
            lines.append(f"role {r.name}: {len(r.replicas)} replica(s), one bundle each ({res}),"
                         f" max_retries {r.max_retries} ({r.retry_policy}), cwd"
                         f" {r.cwd or '.'}")
            for x in r.replicas:
                words = [f"{k}={q(v)}" for k, v in sorted(x.env.items())]
                lines.append(f"  {r.name}[{x.id}]: {' '.join(words + [q(a) for a in x.argv])}")
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return repr(self)


# --------------------------------------------------------------------------- pure functions


def normalize_address(address: str) -> str:
    """``host:port`` (``https:host:port`` for TLS) of a dashboard address or URL."""
    a = address.strip().rstrip("/")
    if a.startswith("ray://") or "://" in a and not a.startswith(("http://", "https://")):
        raise RaySchedulerError(
            f"`{address}` is not a Ray dashboard address: pass the dashboard's HTTP address"
            f" (-cfg dashboard_address=host:8265, or RAY_ADDRESS=http://host:8265)")
    tls = a.startswith("https://")
    a = a.split("://", 1)[-1]
    if not a or "/" in a or any(c.isspace() for c in a):
        raise RaySchedulerError(
            f"`{address}` is not a Ray dashboard address: use host:port (e.g. {DEFAULT_DASHBOARD})")
    if not re.search(r":\d+$", a):
        a += ":8265"
    return ("https:" if tls else "") + a


def dashboard_url(address: str) -> str:
    """The URL of a normalized address."""
    if address.startswith("https:"):
        return "https://" + address[len("https:"):]
    return "http://" + address


def make_submission_id(name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "app"
    return f"{base}-{secrets.token_hex(4)}"


def make_app_id(address: str, submission_id: str) -> str:
    return f"{address}-{submission_id}"


def parse_app_id(app_id: str) -> tuple[str, str] | None:
    """(address, submission id) of an app id; None when it is not one."""
    m = re.match(r"^(https:)?([^/\s]+?:\d+)-([A-Za-z0-9_.\-]+)$", app_id)
    if not m:
        return None
    return (m.group(1) or "") + m.group(2), m.group(3)


_RANK0_REF = re.compile(
    r"(\$\{" + RANK0_ENV + r"(?:[:]?[-=+?][^}]*)?\}|\$" + RANK0_ENV + r"(?![A-Za-z0-9_])):(\d+)\b")


def bind_rank0_port(arg: str, ports: Iterable[int]) -> str:
    """``arg`` with ``${TORCHX_RANK0_HOST...}:<port>`` for a declared port using the free one."""
    declared = {str(p) for p in ports}
    if not declared:
        return arg

    def sub(m: re.Match[str]) -> str:
        if m.group(2) not in declared:
            return m.group(0)
        return f"{m.group(1)}:${{{RANK0_PORT_ENV}:-{m.group(2)}}}"

    return _RANK0_REF.sub(sub, arg)


def source_dir(role: Role) -> list[tuple[str, str]] | None:
    """(local dir, path in the job dir) copies for ``role``: its workspace, else its image if
    that is a local directory; None when it has neither."""
    from torchx.workspace.api import project_paths

    if role.workspace:
        return project_paths(role.workspace)
    if role.image and os.path.isdir(os.path.expanduser(role.image)):
        return [(os.path.abspath(os.path.expanduser(role.image)), "")]
    return None


def bundle(resource: Resource) -> dict[str, float]:
    """The placement-group bundle of one replica (cpu at least 1; memory in bytes)."""
    out: dict[str, float] = {"CPU": float(resource.cpu) if resource.cpu > 0 else 1.0}
    if resource.gpu > 0:
        out["GPU"] = float(resource.gpu)
    if resource.memMB > 0:
        out["memory"] = float(resource.memMB) * 1024 * 1024
    return out


def app_to_job(app: AppDef, address: str, submission_id: str, session_name: str,
               requirements: list[str] | None = None,
               requirements_file: str | None = None) -> RayJob:
    """The Ray job for ``app``: pure but for checking that the role directories exist."""
    seen: set[str] = set()
    for role in app.roles:
        if role.name in seen:
            raise RaySchedulerError(f"two roles are named `{role.name}`; give each a unique name")
        seen.add(role.name)
        if role.entrypoint in ("", "<MISSING>"):
            raise RaySchedulerError(f"role `{role.name}` has no entrypoint; set `entrypoint=`")
    app_id = make_app_id(address, submission_id)
    dirs: list[tuple[str, str, str]] = []
    where: dict[tuple[tuple[str, str], ...], str] = {}
    roles: list[RayRole] = []
    for role in app.roles:
        cwd = ""
        src = source_dir(role)
        if src is not None:
            key = tuple(src)
            if key not in where:
                where[key] = f"ws/{len(where)}"
                dirs += [(s, d, where[key]) for s, d in src]
            cwd = where[key]
        replicas = []
        ports = list(role.port_map.values())
        for k in range(role.num_replicas):
            r = macros.Values(img_root=".", app_id=app_id, replica_id=str(k),
                              rank0_env=RANK0_ENV).apply(role)
            argv = [r.entrypoint, *(bind_rank0_port(a, ports) for a in r.args)]
            replicas.append(RayReplica(role.name, k, argv, dict(r.env)))
        roles.append(RayRole(role.name, cwd, bundle(role.resource), role.max_retries,
                             RetryPolicy(role.retry_policy).value, replicas))
    metadata = {
        "torchx_app_name": app.name, "torchx_session": session_name,
        "torchx_roles": json.dumps([role_to_json(r) for r in app.roles], separators=(",", ":")),
    }
    return RayJob(app_id, submission_id, address, app.name, roles, dirs, requirements,
                  requirements_file, metadata)


def read_requirements(path: str) -> list[str]:
    """The requirement lines of a requirements.txt (comments and blanks dropped)."""
    try:
        with open(os.path.expanduser(path)) as f:
            text = f.read()
    except OSError as e:
        raise RaySchedulerError(
            f"cannot read requirements file `{path}`: {e.strerror}; pass an existing file"
            " with -cfg requirements=PATH") from None
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


# --------------------------------------------------------------------------- I/O seam


class RayHTTP:
    """The Jobs REST API and the dashboard's log API of one cluster, over the standard library."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.url = dashboard_url(address)

    def _request(self, method: str, path: str) -> bytes | None:
        """The response body; None on 404 (and on the log API's "not found")."""
        req = urllib.request.Request(self.url + path, method=method)
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:
                data: bytes = resp.read()
                return data
        except urllib.error.HTTPError as e:
            body = e.read().decode(errors="replace")
            if e.code == 404 or "file is not found" in body.lower():
                return None
            raise RaySchedulerError(
                f"the Ray dashboard at {self.url} answered {method} {path.split('?')[0]} with"
                f" HTTP {e.code}: {body.strip()[:300]}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise RaySchedulerError(
                f"cannot reach the Ray dashboard at {self.url} ({reason}): start Ray (`ray start"
                " --head`) or point torchx at it (-cfg dashboard_address=host:port, or"
                " RAY_ADDRESS)") from None

    def job(self, sid: str) -> dict[str, Any] | None:
        body = self._request("GET", f"/api/jobs/{urllib.parse.quote(sid)}")
        return None if body is None else json.loads(body)

    def jobs(self) -> list[dict[str, Any]]:
        data = json.loads(self._request("GET", "/api/jobs/") or b"[]")
        return list(data.values()) if isinstance(data, dict) else list(data)

    def stop(self, sid: str) -> None:
        self._request("POST", f"/api/jobs/{urllib.parse.quote(sid)}/stop")

    def delete(self, sid: str) -> None:
        self._request("DELETE", f"/api/jobs/{urllib.parse.quote(sid)}")

    def supervisor_alive(self, sid: str) -> bool:
        """Whether Ray's JobSupervisor actor of the job still lives (state API)."""
        q = urllib.parse.urlencode({"filter_keys": "name", "filter_predicates": "=",
                                    "filter_values": f"_ray_internal_job_actor_{sid}"})
        data = json.loads(self._request("GET", f"/api/v0/actors?{q}") or b"{}")
        actors = ((data.get("data") or {}).get("result") or {}).get("result") or []
        return any(a.get("state") != "DEAD" for a in actors)

    def read_file(self, node_id: str, filename: str) -> bytes | None:
        """A file under a node's Ray log directory; None when absent."""
        q = urllib.parse.urlencode({"node_id": node_id, "filename": filename, "lines": -1,
                                    "timeout": int(HTTP_TIMEOUT_S)})
        return self._request("GET", f"/api/v0/logs/file?{q}")

    def submit(self, job: RayJob, working_dir: str) -> None:
        try:
            from ray.job_submission import JobSubmissionClient
        except ImportError:
            raise RaySchedulerError(
                "the ray scheduler needs Ray to submit: pip install 'torchx[ray]'") from None
        # Ray's client prefers $RAY_API_SERVER_ADDRESS/$RAY_ADDRESS to the address it is given:
        # hidden while it works, so `-cfg dashboard_address` is where the job really goes
        hidden = {k: os.environ.pop(k) for k in ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")
                  if k in os.environ}
        try:
            client = JobSubmissionClient(self.url)
            client.submit_job(entrypoint=ENTRYPOINT, submission_id=job.submission_id,
                              runtime_env=job.runtime_env(working_dir), metadata=job.metadata)
        except ConnectionError as e:
            raise RaySchedulerError(
                f"cannot reach the Ray dashboard at {self.url}: {e}; start Ray (`ray start"
                " --head`) or set -cfg dashboard_address=host:port (or RAY_ADDRESS)") from None
        except (RuntimeError, ValueError) as e:
            raise RaySchedulerError(f"Ray refused job `{job.app_id}`: {e}") from None
        finally:
            os.environ.update(hidden)


# --------------------------------------------------------------------------- scheduler


class RayScheduler(Scheduler[Mapping[str, CfgVal]]):
    """Runs apps as Ray jobs (see the module doc)."""

    def __init__(self, session_name: str,
                 http_factory: Callable[[str], RayHTTP] | None = None) -> None:
        super().__init__("ray", session_name)
        self._http_factory = http_factory or RayHTTP
        self._clients: dict[str, RayHTTP] = {}

    def _http(self, address: str) -> RayHTTP:
        if address not in self._clients:
            self._clients[address] = self._http_factory(address)
        return self._clients[address]

    def _run_opts(self) -> runopts:
        return RayOpts.as_runopts()

    def _address(self, cfg: Mapping[str, CfgVal] | None) -> str:
        given = (cfg or {}).get("dashboard_address")
        return normalize_address(str(given or os.environ.get("RAY_ADDRESS") or DEFAULT_DASHBOARD))

    # ---- submitting

    def _submit_dryrun(self, app: AppDef, cfg: Mapping[str, CfgVal]) -> AppDryRunInfo[RayJob]:
        opts = RayOpts.from_cfg(cfg)
        reqs = read_requirements(opts.requirements) if opts.requirements else None
        job = app_to_job(app, self._address(cfg), make_submission_id(app.name),
                         self.session_name, reqs, opts.requirements)
        return AppDryRunInfo(job, repr)

    def builds_workspaces(self) -> bool:
        """True: the Runner sets ``role.workspace``; the copy itself happens in
        :py:meth:`schedule` (into a temporary directory, never in place)."""
        return True

    def schedule(self, dryrun_info: AppDryRunInfo[RayJob]) -> str:
        from torchx.workspace.dir_workspace import copy_workspace  # honours .torchxignore

        job: RayJob = dryrun_info.request
        stage = tempfile.mkdtemp(prefix="torchx-ray-")
        try:
            for src, sub, dst in job.dirs:
                copy_workspace(src, os.path.join(stage, dst, sub))
            ship = os.path.join(stage, DRIVER_DIR)
            os.makedirs(ship)
            for name in ("ray_driver.py", "local_supervisor.py"):
                shutil.copy(os.path.join(_HERE, name), os.path.join(ship, name))
            with open(os.path.join(ship, "job.json"), "w") as f:
                json.dump(job.job_json(), f)
            self._http(job.address).submit(job, stage)
        finally:
            shutil.rmtree(stage, ignore_errors=True)  # our copy only: Ray has uploaded it
        return job.app_id

    # ---- managing

    def _job(self, app_id: str) -> tuple[RayHTTP, str, dict[str, Any]] | None:
        parsed = parse_app_id(app_id)
        if parsed is None:
            return None
        http = self._http(parsed[0])
        job = http.job(parsed[1])
        return None if job is None else (http, parsed[1], job)

    def _state(self, http: RayHTTP, sid: str, job: Mapping[str, Any]) -> dict[str, Any] | None:
        node = job.get("driver_node_id")
        if not node:
            return None
        data = http.read_file(str(node), f"torchx/{sid}/state.json")
        try:
            return None if not data else json.loads(data)
        except ValueError:
            return None

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        found = self._job(app_id)
        if found is None:
            return None
        http, sid, job = found
        return describe_job(app_id, job, self._state(http, sid, job), http.url)

    def wait_for_change(self, app_id: str, timeout: float) -> None:
        """Return soon after the job or its driver's state changes (polled every 0.25 s)."""
        def snapshot() -> object:
            found = self._job(app_id)
            if found is None:
                return None
            http, sid, job = found
            return job.get("status"), self._state(http, sid, job)

        first = snapshot()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
            if snapshot() != first:
                return

    def list(self, cfg: Mapping[str, CfgVal] | None = None) -> list[ListAppResponse]:
        address = self._address(cfg)
        out = []
        for job in self._http(address).jobs():
            sid = job.get("submission_id")
            if not sid or job.get("type", "SUBMISSION") != "SUBMISSION":
                continue
            app_id = make_app_id(address, str(sid))
            meta = job.get("metadata") or {}
            out.append(ListAppResponse(
                app_id=app_id, state=JOB_STATES.get(str(job.get("status")), AppState.UNKNOWN),
                app_handle=make_app_handle(self.backend, meta.get("torchx_session")
                                           or self.session_name, app_id),
                name=meta.get("torchx_app_name", ""),
                created=(job.get("start_time") or 0) / 1000 or None,
            ))
        return sorted(out, key=lambda a: (a.created or 0, a.app_id))

    def _cancel_existing(self, app_id: str) -> None:
        found = self._job(app_id)
        if found is not None:
            found[0].stop(found[1])

    def _delete_existing(self, app_id: str) -> None:
        """Stop the job, wait until Ray has ended it, and remove it from the job server."""
        found = self._job(app_id)
        if found is None:
            return
        http, sid, job = found
        deadline = time.monotonic() + 60
        while JOB_STATES.get(str(job.get("status")), AppState.UNKNOWN) in (
                AppState.PENDING, AppState.RUNNING):
            http.stop(sid)
            if time.monotonic() > deadline:
                raise RaySchedulerError(
                    f"Ray did not stop `{app_id}` within 60 s; try `torchx delete` again")
            time.sleep(0.25)
            job = http.job(sid) or {}
        # Ray's job monitor writes FAILED again if the job is deleted before it has seen the
        # job's supervisor actor exit (a ghost entry): wait for that, then delete; re-delete a
        # ghost that still appears
        while http.supervisor_alive(sid) and time.monotonic() < deadline:
            time.sleep(0.25)
        time.sleep(1.2)  # the monitor looks once a second
        http.delete(sid)
        for _ in range(4):
            time.sleep(0.5)
            if http.job(sid) is not None:
                http.delete(sid)

    # ---- logs

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
        found = self._job(app_id)
        if found is None:
            raise UnknownAppException(make_app_handle(self.backend, self.session_name, app_id))
        http, sid, job = found
        desc = describe_job(app_id, job, None, http.url)
        known = {(r.name, i) for r in desc.roles for i in range(r.num_replicas)}
        if (role_name, k) not in known:
            have = ", ".join(f"{r}/{i}" for r, i in sorted(known)) or "none"
            raise TorchXError(f"app `{app_id}` has no replica `{role_name}/{k}`; it has: {have}")
        stream = (streams or Stream.COMBINED).value
        lines = self._lines(http, sid, role_name, k, stream, since, until, should_tail)
        return filter_regex(regex, lines) if regex else lines

    def _replica(self, http: RayHTTP, sid: str, role: str,
                 k: int) -> tuple[dict[str, Any] | None, bool]:
        """(the replica's entry in state.json, whether it will write no more)."""
        job = http.job(sid) or {}
        state = self._state(http, sid, job)
        done = JOB_STATES.get(str(job.get("status")), AppState.UNKNOWN).is_terminal()
        for rep in (state or {}).get("replicas", []):
            if rep["role"] == role and int(rep["id"]) == k:
                terminal = DRIVER_STATES.get(rep["state"], AppState.UNKNOWN).is_terminal()
                return rep, done or (terminal and DRIVER_STATES.get(
                    str(state.get("state")), AppState.UNKNOWN).is_terminal())  # type: ignore[union-attr]
        return None, done

    def _lines(self, http: RayHTTP, sid: str, role: str, k: int, stream: str,
               since: datetime | None, until: datetime | None, follow: bool) -> Iterator[str]:
        from torchx.util.logfile import offsets_for

        since_ms = int(since.timestamp() * 1000) if since else None
        until_ms = int(until.timestamp() * 1000) if until else None
        pos: int | None = None
        rest = b""
        while True:
            rep, finished = self._replica(http, sid, role, k)
            data = b""
            if rep is not None and rep.get("node_id") and rep.get("log_dir"):
                path = f"{rep['log_dir']}/{stream}"
                data = http.read_file(rep["node_id"], path + ".log") or b""
                end: int | None = None
                if pos is None or until_ms is not None:
                    idx = parse_index(http.read_file(rep["node_id"], path + ".idx") or b"")
                    start, end = offsets_for(idx, since_ms, until_ms)
                    if pos is None:
                        pos = start if start is not None else (len(data) if since_ms else 0)
                chunk = data[pos:end] if end is not None else data[pos:]
                pos += len(chunk)
                buf = rest + chunk
                cut = buf.rfind(b"\n") + 1
                rest = buf[cut:]
                yield from io.StringIO(buf[:cut].decode("utf-8", "replace"), newline="\n")
                if end is not None:
                    finished = True  # nothing after `until` is wanted
            if not follow or finished or (until_ms is not None and time.time() * 1000 > until_ms
                                          and rep is not None):
                if rest:
                    yield rest.decode("utf-8", "replace") + "\n"
                return
            time.sleep(0.5)


def create_scheduler(session_name: str, http_factory: Callable[[str], RayHTTP] | None = None,
                     **kwargs: Any) -> RayScheduler:
    """The ``ray`` scheduler (``http_factory``: address -> client, to use another transport)."""
    return RayScheduler(session_name, http_factory=http_factory)
