"""The driver of one torchx app on a Ray cluster: the Ray job's entrypoint (Ray + stdlib only).

The ``ray`` scheduler ships this file, ``local_supervisor.py`` and ``job.json`` in the job's
working_dir (``torchx_ray/``), so torchx need not be installed on the cluster. Run as
``python torchx_ray/ray_driver.py`` it:

- reserves one placement-group bundle per replica (the role's cpu, gpu and memory), reporting
  what it waits for while the cluster has no room;
- creates one actor per replica in its bundle; replica 0 of each role reports its node's address
  and a free port there, given to every replica of the role as ``TORCHX_RANK0_HOST`` /
  ``TORCHX_RANK0_PORT`` (and ``MASTER_ADDR`` / ``MASTER_PORT``); replica 0 itself gets
  ``localhost`` (its stores listen on every interface);
- each actor runs its replica's command under ``local_supervisor.py`` (detached, a subreaper:
  the command's whole process tree is its own), which writes ``stdout``/``stderr``/``combined``
  logs with a time index into the node's Ray log directory, under
  ``torchx/<submission id>/<role index>/<replica>/`` (the dashboard's log API serves them), and
  cancels the replica within a second if the actor dies;
- waits for every replica (one finishing first skips none); a replica failing with no retry
  left stops the others (fail-fast), otherwise ``max_retries`` restarts the replica, its role or
  the whole app as the role's ``retry_policy`` says;
- writes ``torchx/<submission id>/state.json`` (atomically) on its own node: the app's state and
  message, and per replica its state, exit code, error, node and log directory;
- on SIGTERM (``ray job stop``) stops every replica and records CANCELLED.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
SUPERVISOR = "local_supervisor.py"
RANK0_HOST, RANK0_PORT = "TORCHX_RANK0_HOST", "TORCHX_RANK0_PORT"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
STOP_WAIT_S = 2.5
"""How long the driver waits for replicas to stop (Ray kills a stopped job's driver after 3 s)."""


def _ray() -> Any:
    import ray

    return ray


def logs_dir() -> str:
    """This node's Ray log directory (what the dashboard's log API reads)."""
    try:
        node = _ray()._private.worker.global_worker.node
        return str(node.get_logs_dir_path())
    except Exception:  # an internal API: fall back to Ray's default location
        return "/tmp/ray/session_latest/logs"


def write_json_atomic(path: str, data: object) -> None:
    tmp = f"{path}.tmp{os.getpid()}.{threading.get_ident()}"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            return json.load(f)  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _start_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    return None if fields[0] == b"Z" else int(fields[19])


class ReplicaActor:
    """One replica's actor: runs the replica's command under a local supervisor on its node."""

    def __init__(self, rel_dir: str) -> None:
        self.dir = os.path.join(logs_dir(), rel_dir)
        self.rel_dir = rel_dir
        self.attempt = -1
        self.stopped = -1
        self.lock = threading.Lock()

    def node(self) -> dict[str, str]:
        ray = _ray()
        return {"node_id": ray.get_runtime_context().get_node_id(),
                "ip": ray.util.get_node_ip_address(), "log_dir": self.rel_dir}

    def free_port(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("", 0))
            return int(s.getsockname()[1])

    def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Run attempt ``spec["attempt"]`` of the replica; its final status (state, exit_code,
        error, ...). Attempts are numbered so that a late ``stop`` never hits the next one."""
        with self.lock:  # stop() waits until the supervisor is launched (or knows it never is)
            self.attempt = int(spec["attempt"])
            if self.stopped >= self.attempt:
                return {"state": "CANCELLED", "exit_code": None, "error": "stopped before start"}
            self._launch(spec)
        return self._wait()

    def _launch(self, spec: dict[str, Any]) -> None:
        os.makedirs(self.dir, exist_ok=True)
        for name in ("state.json", "cancel"):
            try:
                os.unlink(os.path.join(self.dir, name))
            except FileNotFoundError:
                pass
        me = os.getpid()
        env = dict(os.environ)
        env.update(spec["env"])
        # replicas find this worker's Python (with Ray and the job's pip packages) first
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", os.defpath)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env["TORCHELASTIC_ERROR_FILE"] = os.path.join(self.dir, "error.json")
        write_json_atomic(os.path.join(self.dir, "request.json"), {
            "app_id": spec["app_id"], "name": spec["name"], "created": time.time(),
            "cwd": os.path.join(os.getcwd(), spec["cwd"]), "log_dir": self.dir,
            "kill_grace": spec.get("kill_grace", 5.0),
            "roles": [{"name": spec["role"], "max_retries": 0, "retry_policy": "REPLICA"}],
            "replicas": [{"role": spec["role"], "id": spec["id"], "argv": spec["argv"],
                          "env": env, "log_dir": self.dir,
                          "error_file": env["TORCHELASTIC_ERROR_FILE"]}],
            "watch": {"pid": me, "start": _start_ticks(me)},
        })
        script = os.path.join(os.getcwd(), "torchx_ray", SUPERVISOR)
        first = os.posix_spawn(sys.executable, [sys.executable, "-I", "-S", script, self.dir],
                               os.environ, setsid=True)
        os.waitpid(first, 0)  # it forks the supervisor and exits at once

    def _wait(self) -> dict[str, Any]:
        state_path = os.path.join(self.dir, "state.json")
        started = time.monotonic()
        sup: dict[str, int] | None = None
        while True:
            st = _read_json(state_path)
            if st is not None:
                sup = st.get("supervisor") or sup
                if st["state"] in TERMINAL:
                    rep = (st.get("replicas") or [{}])[0]
                    return {"state": rep.get("state", st["state"]),
                            "exit_code": rep.get("exit_code"), "error": rep.get("error", ""),
                            "structured_error_msg": rep.get("structured_error_msg", "<NONE>")}
            gone = (sup is not None and _start_ticks(int(sup["pid"])) != sup["start"]) or (
                sup is None and time.monotonic() - started > 60)
            if gone and (_read_json(state_path) or {}).get("state") not in TERMINAL:
                return {"state": "FAILED", "exit_code": None,
                        "error": f"the replica's supervisor died; see {self.dir}/supervisor.log"}
            time.sleep(0.1)

    def stop(self, attempt: int) -> None:
        """Stop attempt ``attempt`` (SIGTERM to its supervisor: the whole tree, then SIGKILL)."""
        with self.lock:
            self.stopped = max(self.stopped, attempt)
            if self.attempt != attempt:
                return  # not started yet (run() will not start it) or long over
            # a supervisor that has not read its request yet sees this file and never starts it
            open(os.path.join(self.dir, "cancel"), "w").close()
        for _ in range(100):  # the supervisor records its pid right after it starts
            sup = (_read_json(os.path.join(self.dir, "state.json")) or {}).get("supervisor")
            if sup:
                if _start_ticks(int(sup["pid"])) == sup["start"]:
                    try:
                        os.kill(int(sup["pid"]), signal.SIGTERM)
                    except ProcessLookupError:
                        pass
                return
            time.sleep(0.02)


class Replica:
    def __init__(self, role: dict[str, Any], role_index: int, spec: dict[str, Any],
                 bundle: int) -> None:
        self.role = role
        self.role_index = role_index
        self.name = str(role["name"])
        self.id = int(spec["id"])
        self.spec = spec
        self.bundle = bundle
        self.actor: Any = None
        self.ref: Any = None
        self.state = "PENDING"
        self.exit_code: int | None = None
        self.error = ""
        self.structured_error_msg = "<NONE>"
        self.restarts = 0
        self.node: dict[str, str] = {}
        self.attempt = -1
        self.stopping = False

    def status(self) -> dict[str, Any]:
        return {"role": self.name, "role_index": self.role_index, "id": self.id,
                "state": self.state, "exit_code": self.exit_code, "error": self.error,
                "structured_error_msg": self.structured_error_msg, "restarts": self.restarts,
                "node_id": self.node.get("node_id"), "node_ip": self.node.get("ip"),
                "log_dir": self.node.get("log_dir")}


def describe_exit(code: int | None) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def bundle_of(role: dict[str, Any]) -> dict[str, float]:
    """The placement-group bundle of one replica of ``role`` (as the scheduler computed it)."""
    out = {str(k): float(v) for k, v in (role.get("bundle") or {}).items() if float(v) > 0}
    out.setdefault("CPU", 1.0)
    return out


def _fmt(res: dict[str, float]) -> str:
    return ", ".join(f"{k} {v / 2**30:.2g} GiB" if k == "memory" else f"{k} {v:g}"
                     for k, v in sorted(res.items()))


class Driver:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.sid = str(job["submission_id"])
        self.replicas: list[Replica] = []
        for ri, role in enumerate(job["roles"]):
            for spec in role["replicas"]:
                self.replicas.append(Replica(role, ri, spec, len(self.replicas)))
        self.state = "PENDING"
        self.msg = ""
        self.structured_error_msg = "<NONE>"
        self.num_restarts = 0
        self.draining = False  # a replica failed: the others are being stopped
        self.role_restarts: dict[int, int] = {}
        self.cancel = threading.Event()
        self.dir = os.path.join(logs_dir(), "torchx", self.sid)
        os.makedirs(self.dir, exist_ok=True)
        self.rank0: dict[int, tuple[str, int]] = {}
        self.dashboard: str | None = None
        self.checked = 0.0

    def check_job(self) -> None:
        """Cancel when Ray has stopped or deleted this job without signalling the driver (a
        stop while the job was still PENDING can be lost, and the entrypoint then runs)."""
        if not self.dashboard or time.monotonic() - self.checked < 2.0:
            return
        import urllib.error
        import urllib.request

        self.checked = time.monotonic()
        url = f"{self.dashboard}/api/jobs/{self.sid}"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                gone = json.load(r).get("status") == "STOPPED"
        except urllib.error.HTTPError as e:
            gone = e.code == 404
        except (OSError, ValueError):
            gone = False  # the dashboard is not reachable from here: rely on the signal
        if gone:
            self.cancel.set()

    def write_state(self) -> None:
        # after a failure the app ends only once the others it stops have (fail-fast)
        draining = self.draining and any(r.ref is not None for r in self.replicas)
        state = "RUNNING" if draining else self.state
        write_json_atomic(os.path.join(self.dir, "state.json"), {
            "app_id": self.job["app_id"], "submission_id": self.sid, "state": state,
            "msg": self.msg, "structured_error_msg": self.structured_error_msg,
            "num_restarts": self.num_restarts, "updated": time.time(),
            "replicas": [r.status() for r in self.replicas],
        })

    # ---- resources

    def reserve(self) -> Any:
        """The placement group, once ready; None when cancelled while waiting."""
        ray = _ray()
        from ray.util.placement_group import placement_group

        bundles = [bundle_of(r.role) for r in self.replicas]
        pg = placement_group(bundles, strategy=self.job.get("placement_strategy", "SPREAD"))
        ready = pg.ready()
        while not self.cancel.is_set():
            self.check_job()
            if self.cancel.is_set():
                break
            done, _ = ray.wait([ready], timeout=1.0)
            if done:
                return pg
            total = ray.cluster_resources()
            need: dict[str, float] = {}
            for b in bundles:
                for k, v in b.items():
                    need[k] = need.get(k, 0.0) + v
            msg = (f"waiting for resources: {len(bundles)} bundle(s) needing {_fmt(need)} in"
                   f" all; the cluster has {_fmt({k: total.get(k, 0.0) for k in need})} in all"
                   f" ({_fmt({k: ray.available_resources().get(k, 0.0) for k in need})} free)")
            if msg != self.msg:
                self.msg = msg
                self.write_state()
        return None

    def make_actors(self, rs: list[Replica], pg: Any) -> None:
        """An actor in its bundle for each of ``rs``, and where it landed."""
        ray = _ray()
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        cls = ray.remote(ReplicaActor)
        for r in rs:
            b = bundle_of(r.role)
            r.actor = cls.options(
                num_cpus=b["CPU"], num_gpus=b.get("GPU", 0), memory=b.get("memory"),
                max_concurrency=4, max_restarts=0,
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    placement_group=pg, placement_group_bundle_index=r.bundle),
            ).remote(f"torchx/{self.sid}/{r.role_index}/{r.id}")
        nodes = ray.get([r.actor.node.remote() for r in rs])
        for r, node in zip(rs, nodes, strict=True):
            r.node = node

    # ---- replicas

    def start(self, r: Replica) -> None:
        host, port = self.rank0[r.role_index]
        if r.id == 0:  # itself: torchrun's c10d rendezvous then knows it hosts the store, even
            host = "localhost"  # where the node's hostname does not resolve to this address
        env = dict(r.spec["env"])
        env.update({RANK0_HOST: host, RANK0_PORT: str(port), "MASTER_ADDR": host,
                    "MASTER_PORT": str(port)})
        env.setdefault("TORCHX_RDZV_PORT", str(port))  # dist.* components rendezvous on it
        r.attempt += 1
        spec = {"app_id": self.job["app_id"], "name": self.job["name"], "role": r.name,
                "id": r.id, "argv": r.spec["argv"], "env": env, "cwd": r.role.get("cwd", ""),
                "kill_grace": self.job.get("kill_grace", 5.0), "attempt": r.attempt}
        r.state, r.exit_code, r.error, r.stopping = "RUNNING", None, "", False
        r.ref = r.actor.run.remote(spec)

    def stop(self, rs: list[Replica]) -> None:
        """Ask ``rs`` to stop and wait (briefly) until their supervisors were told."""
        ray = _ray()
        live = [r for r in rs if r.ref is not None and r.actor is not None]
        for r in live:
            r.stopping = True
        acks = [r.actor.stop.remote(r.attempt) for r in live]
        if acks:
            ray.wait(acks, num_returns=len(acks), timeout=STOP_WAIT_S)

    def finished(self, r: Replica, result: dict[str, Any]) -> None:
        r.ref = None
        r.exit_code = result.get("exit_code")
        r.error = str(result.get("error") or "")
        r.structured_error_msg = str(result.get("structured_error_msg") or "<NONE>")
        state = str(result.get("state", "FAILED"))
        if state != "SUCCEEDED" and (r.stopping or self.cancel.is_set()):
            state = "CANCELLED"
        r.state = state

    def retry(self, r: Replica, pg: Any) -> bool:
        """Apply the role's retry policy to failed ``r``; False when no retry is left."""
        policy = str(r.role.get("retry_policy", "APPLICATION"))
        used = r.restarts if policy == "REPLICA" else self.role_restarts.get(r.role_index, 0)
        if used >= int(r.role.get("max_retries", 0)):
            return False
        self.num_restarts += 1
        if policy == "REPLICA":
            again = [r]
            r.restarts += 1
        else:
            self.role_restarts[r.role_index] = used + 1
            again = [x for x in self.replicas if policy == "APPLICATION" or x.role is r.role]
            for x in again:
                x.restarts += 1
        others = [x for x in again if x is not r and x.ref is not None]
        self.stop(others)
        ray = _ray()
        for x in others:  # their runs end once their supervisors stopped them
            try:
                ray.get(x.ref, timeout=60)
            except Exception:
                pass
            x.ref = None
        self.make_actors([x for x in again if x.actor is None], pg)
        for x in again:
            self.start(x)
        return True

    def run(self) -> int:
        ray = _ray()
        self.write_state()
        self.check_job()
        pg = self.reserve() if not self.cancel.is_set() else None
        if pg is None:
            return self.cancelled()
        self.msg = ""
        self.make_actors(self.replicas, pg)
        for r in self.replicas:
            if r.role_index not in self.rank0 and r.id == 0:
                self.rank0[r.role_index] = (r.node["ip"], ray.get(r.actor.free_port.remote()))
        for r in self.replicas:
            self.start(r)
        self.state = "RUNNING"
        self.write_state()
        while True:
            if self.cancel.is_set():
                return self.cancelled()
            refs = {r.ref: r for r in self.replicas if r.ref is not None}
            if not refs:
                break
            self.check_job()
            done, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            for ref in done:
                r = refs[ref]
                try:
                    result = ray.get(ref)
                except Exception as e:  # the actor died (node lost, OOM-killed, ...)
                    result = {"state": "FAILED", "exit_code": None,
                              "error": f"the replica's Ray actor died: {type(e).__name__}"}
                    r.actor = None
                self.finished(r, result)
                if r.state == "FAILED" and self.state == "RUNNING" and not self.retry(r, pg):
                    self.state = "FAILED"
                    self.msg = f"replica {r.name}[{r.id}] failed ({describe_exit(r.exit_code)})"
                    if r.error:
                        self.msg += f": {r.error}"
                    self.structured_error_msg = r.structured_error_msg
                    self.draining = True
                    self.stop([x for x in self.replicas if x is not r])
            self.write_state()
        if self.state == "RUNNING":
            self.state = "SUCCEEDED"
        self.write_state()
        return 0 if self.state == "SUCCEEDED" else 1

    def cancelled(self) -> int:
        self.stop(self.replicas)
        self.state, self.msg = "CANCELLED", "cancelled"
        for r in self.replicas:
            if r.state not in ("SUCCEEDED", "FAILED"):
                r.state = "CANCELLED"
        self.write_state()
        return 0


def main() -> int:
    with open(os.path.join(HERE, "job.json")) as f:
        job = json.load(f)
    ray = _ray()
    ctx = ray.init(log_to_driver=False)
    driver = Driver(job)
    url = str(getattr(ctx, "dashboard_url", "") or "")
    driver.dashboard = (url if "://" in url else f"http://{url}") if url else None

    def on_signal(signum: int, frame: object) -> None:
        driver.cancel.set()

    signal.signal(signal.SIGTERM, on_signal)  # after ray.init, which sets its own
    signal.signal(signal.SIGINT, on_signal)
    print(f"torchx: app {job['app_id']}: {len(driver.replicas)} replica(s); state and logs in"
          f" {driver.dir} on node {ray.get_runtime_context().get_node_id()}", flush=True)
    try:
        code = driver.run()
    except BaseException as e:
        import traceback

        traceback.print_exc()
        driver.state = "FAILED"
        driver.msg = f"the torchx Ray driver crashed: {type(e).__name__}: {e}"
        try:
            driver.stop(driver.replicas)
        finally:
            driver.write_state()
        return 1
    print(f"torchx: app {job['app_id']} {driver.state}" + (f": {driver.msg}" if driver.msg
                                                            else ""), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
