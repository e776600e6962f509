"""The detached supervisor of one ``local_cwd`` app (standard library only, run as a script).

Started as ``python -I -S local_supervisor.py <app_dir>`` it forks, the parent exits at once
(so the launcher reaps it and the supervisor belongs to no one), and the child:

- becomes a session leader and a child subreaper, so every descendant of every replica
  (including ones that ``setsid`` or double-fork) stays in its process tree;
- starts each replica in its own process group, writes ``stdout.log``, ``stderr.log`` and
  ``combined.log`` in whole lines plus a ``.idx`` (``<unix ms> <byte offset>``) for time seeks;
- applies fail-fast and the retry policies; on SIGTERM (cancel) stops every process (SIGTERM
  once, SIGKILL after a grace period); records all in ``state.json`` (temp file + rename);
- with ``"watch": {"pid", "start"}`` in its request (the ``ray`` scheduler's replica actor),
  cancels the app within a second once that process is gone.

It imports nothing from torchx so it starts in a few milliseconds.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the supervisor must start fast
    from collections.abc import Mapping

_PROC = "/proc"
MARK_ENV = "TORCHX_LOCAL_REPLICA"
"""Set in each replica's env to ``<app_id>/<role>/<k>``: finds orphans of a replica."""


def proc_stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, pgid, start time in clock ticks) of ``pid``; None when it does not exist."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    if fields[0] == b"Z":
        return None  # a zombie is already dead
    return int(fields[1]), int(fields[2]), int(fields[19])


def proc_table() -> dict[int, tuple[int, int, bool]]:
    """pid -> (ppid, start time in clock ticks, is a zombie) of every process.

    Zombies are kept: /proc is read one process at a time, so a child read before its parent
    exited still names that parent, which must not drop out of the walk as a zombie.
    """
    out: dict[int, tuple[int, int, bool]] = {}
    for name in os.listdir(_PROC):
        if not name.isdigit():
            continue
        try:
            with open(f"{_PROC}/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2 :].split()
        out[int(name)] = (int(fields[1]), int(fields[19]), fields[0] == b"Z")
    return out


def descendants(root: int, procs: Mapping[int, tuple[int, ...]]) -> dict[int, int]:
    """Every descendant of ``root`` in ``procs`` (pid -> (ppid, ...)) -> the child of
    ``root`` it descends from."""
    children: dict[int, list[int]] = {}
    for pid, st in procs.items():
        children.setdefault(st[0], []).append(pid)
    out: dict[int, int] = {}
    for top in children.get(root, []):
        stack = [top]
        while stack:
            pid = stack.pop()
            out[pid] = top
            stack.extend(children.get(pid, []))
    return out


def read_mark(pid: int) -> str | None:
    """The replica mark in ``pid``'s environment, if any."""
    return env_mark(pid)[1]


def env_mark(pid: int) -> tuple[bool, str | None]:
    """(whether ``pid``'s environment could be read, the replica mark in it).

    An environment reads empty while a process is between fork and exec: not known yet.
    """
    try:
        with open(f"{_PROC}/{pid}/environ", "rb") as f:
            env = f.read()
    except OSError:
        return False, None
    key = MARK_ENV.encode() + b"="
    for item in env.split(b"\0"):
        if item.startswith(key):
            return True, item[len(key) :].decode(errors="replace")
    return bool(env), None


def write_json_atomic(path: str, data: object) -> None:
    import json

    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(data).encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def which(cmd: str, path_env: str) -> str | None:
    """``cmd`` resolved against ``path_env`` like a shell would; None if not found."""
    if "/" in cmd:
        return cmd if os.access(cmd, os.X_OK) else None
    for d in path_env.split(os.pathsep):
        cand = os.path.join(d or ".", cmd)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


class _Log:
    """One append-only log file written in whole lines, with its time index."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.idx = os.open(path[: -len(".log")] + ".idx", os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                           0o600)
        self.size = os.fstat(self.fd).st_size
        self.last_ms = -1

    def write(self, data: bytes, now_ms: int) -> None:
        if now_ms != self.last_ms:
            self.last_ms = now_ms
            os.write(self.idx, b"%d %d\n" % (now_ms, self.size))
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.size += len(data)

    def close(self) -> None:
        os.close(self.fd)
        os.close(self.idx)


class Replica:
    """One replica: its command, its process and its log pipes."""

    def __init__(self, spec: dict[str, object], index: int) -> None:
        self.index = index
        self.role = str(spec["role"])
        self.id = int(spec["id"])  # type: ignore[call-overload]
        self.argv: list[str] = list(spec["argv"])  # type: ignore[call-overload]
        self.env: dict[str, str] = dict(spec["env"])  # type: ignore[call-overload]
        self.log_dir = str(spec["log_dir"])
        self.error_file = str(spec["error_file"])
        self.cwd = str(spec.get("cwd") or "")
        self.pid: int | None = None
        self.start_ticks = 0
        self.state = "PENDING"
        self.exit_code: int | None = None
        self.error = ""
        self.error_raw = "<NONE>"
        self.restarts = 0
        self.killing = False
        self.partial: dict[int, bytes] = {}
        self.fd_stream: dict[int, str] = {}

    def status(self) -> dict[str, object]:
        return {
            "role": self.role, "id": self.id, "state": self.state, "pid": self.pid,
            "start": self.start_ticks, "exit_code": self.exit_code, "error": self.error,
            "structured_error_msg": self.error_raw,
            "restarts": self.restarts,
        }


class Supervisor:
    def __init__(self, app_dir: str) -> None:
        import json

        self.app_dir = app_dir
        with open(os.path.join(app_dir, "request.json")) as f:
            self.req = json.load(f)
        self.app_id: str = self.req["app_id"]
        self.grace: float = float(self.req.get("kill_grace", 5.0))
        self.roles: dict[str, dict[str, object]] = {r["name"]: r for r in self.req["roles"]}
        self.replicas = [Replica(s, i) for i, s in enumerate(self.req["replicas"])]
        self.by_pid: dict[int, Replica] = {}
        self.role_restarts: dict[str, int] = dict.fromkeys(self.roles, 0)
        self.num_restarts = 0
        self.state = "RUNNING"
        self.msg = ""
        self.error = "<NONE>"
        self.cancel = False
        self.dirty = True
        self.logs: dict[tuple[int, str], _Log] = {}
        self.pid = os.getpid()
        st = proc_stat(self.pid)
        self.start_ticks = st[2] if st else 0
        self.started = self.req.get("created")
        self.ended: float | None = None
        self.failed: list[Replica] = []
        self.fd_owner: dict[int, Replica] = {}
        self.wake_r = -1
        self.base_env = dict(os.environ)
        self.watch: dict[str, int] | None = self.req.get("watch")

    def watched_gone(self) -> bool:
        """True when the process named by ``watch`` has exited (or its pid was recycled)."""
        if not self.watch:
            return False
        st = proc_stat(int(self.watch["pid"]))
        return st is None or st[2] != int(self.watch["start"])

    # ---- state file

    def write_state(self) -> None:
        import time

        write_json_atomic(os.path.join(self.app_dir, "state.json"), {
            "app_id": self.app_id, "name": self.req["name"], "created": self.req["created"],
            "state": self.state, "num_restarts": self.num_restarts, "msg": self.msg,
            "structured_error_msg": self.error,
            "supervisor": {"pid": self.pid, "start": self.start_ticks},
            "replicas": [r.status() for r in self.replicas],
            "updated": time.time(), "ended": self.ended,
        })
        self.dirty = False

    # ---- processes

    def spawn(self, r: Replica) -> None:
        """Start ``r`` (in its own directory when it has one: the supervisor has no threads)."""
        if not r.cwd:
            return self._spawn(r)
        home = os.getcwd()
        try:
            os.chdir(r.cwd)
        except OSError as e:
            r.state, r.exit_code = "FAILED", 127
            r.error = f"cannot enter `{r.cwd}`: {e.strerror}"
            return self.on_exit(r, 127)
        try:
            self._spawn(r)
        finally:
            os.chdir(home)

    def _spawn(self, r: Replica) -> None:
        import signal

        try:
            os.unlink(r.error_file)
        except OSError:
            pass
        env = dict(self.base_env)
        env.update(r.env)
        env[MARK_ENV] = f"{self.app_id}/{r.role}/{r.id}"
        exe = which(r.argv[0], env.get("PATH", os.defpath))
        r.killing = False
        r.exit_code = None
        r.error = ""
        r.error_raw = "<NONE>"
        if exe is None:
            r.state = "FAILED"
            r.exit_code = 127
            r.error = f"entrypoint `{r.argv[0]}` not found in PATH"
            self.on_exit(r, 127)
            return
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            pid = os.posix_spawn(
                exe, r.argv, env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, out_w, 1),
                    (os.POSIX_SPAWN_DUP2, err_w, 2),
                ],
                setpgroup=0,
                setsigdef=(signal.SIGPIPE, signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                           signal.SIGCHLD, signal.SIGXFSZ),
                setsigmask=(),
            )
        except OSError as e:
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            r.state = "FAILED"
            r.exit_code = 127
            r.error = f"cannot start `{r.argv[0]}`: {e.strerror}"
            self.on_exit(r, 127)
            return
        os.close(out_w)
        os.close(err_w)
        r.pid = pid
        st = proc_stat(pid)
        r.start_ticks = st[2] if st else 0
        r.state = "RUNNING"
        self.by_pid[pid] = r
        for fd, stream in ((out_r, "stdout"), (err_r, "stderr")):
            os.set_blocking(fd, False)
            r.fd_stream[fd] = stream
            r.partial[fd] = b""
            self.fd_owner[fd] = r
            self.sel.register(fd, 1)
        self.dirty = True

    def read_fd(self, fd: int, now_ms: int) -> None:
        r = self.fd_owner[fd]
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            rest = r.partial.pop(fd, b"")
            if rest:
                self.emit(r, r.fd_stream[fd], rest + b"\n", now_ms)
            self.sel.unregister(fd)
            os.close(fd)
            del self.fd_owner[fd]
            del r.fd_stream[fd]
            return
        data = r.partial[fd] + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) < (1 << 20):
            r.partial[fd] = data
            return
        if cut == 0:
            data, cut = data + b"\n", len(data) + 1  # an over-long line is split, not lost
        r.partial[fd] = data[cut:]
        self.emit(r, r.fd_stream[fd], data[:cut], now_ms)

    def log(self, r: Replica, stream: str) -> _Log:
        """The replica's log file for ``stream``, created on first use (starting is fast)."""
        log = self.logs.get((r.index, stream))
        if log is None:
            os.makedirs(r.log_dir, mode=0o700, exist_ok=True)
            log = self.logs[(r.index, stream)] = _Log(os.path.join(r.log_dir, f"{stream}.log"))
        return log

    def emit(self, r: Replica, stream: str, lines: bytes, now_ms: int) -> None:
        self.log(r, stream).write(lines, now_ms)
        self.log(r, "combined").write(lines, now_ms)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.reaped(pid, status)

    def reaped(self, pid: int, status: int) -> None:
        r = self.by_pid.pop(pid, None)
        if r is not None and r.pid == pid:
            r.pid = None
            self.on_exit(r, os.waitstatus_to_exitcode(status))

    def no_children(self) -> bool:
        """True when no process is left: as a subreaper, every leftover is our child."""
        self.reap()
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid:
            self.reaped(pid, status)
        return False

    def on_exit(self, r: Replica, code: int) -> None:
        self.dirty = True
        r.exit_code = code
        if r.killing or self.cancel:
            r.state = "CANCELLED"
            return
        if code == 0:
            r.state = "SUCCEEDED"
            return
        r.state = "FAILED"
        if not r.error:
            r.error = self.error_file_msg(r)
        self.failed.append(r)

    def error_file_msg(self, r: Replica) -> str:
        """The message in the replica's torchelastic error file ('' when there is none)."""
        import json

        try:
            with open(r.error_file) as f:
                raw = f.read()
        except OSError:
            return ""
        r.error_raw = raw
        try:
            data = json.loads(raw)
        except ValueError:
            return raw.strip()
        msg = data.get("message", data) if isinstance(data, dict) else data
        if isinstance(msg, dict):
            msg = msg.get("message", msg)
        return str(msg).strip()

    def pump(self, timeout: float) -> None:
        """Wait up to ``timeout`` for output or a signal; handle what arrived."""
        import time

        for key, _ in self.sel.select(timeout):
            if key.fd == self.wake_r:
                try:
                    while os.read(self.wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            else:
                self.read_fd(key.fd, int(time.time() * 1000))
        self.reap()

    def members(self, rs: list[Replica] | None) -> tuple[dict[int, int], bool]:
        """Live processes of replicas ``rs`` (every descendant when None) as pid -> start
        ticks, and whether an orphan could not be told apart yet (its environment, which
        carries the replica mark, reads empty between fork and exec)."""
        table = proc_table()
        desc = descendants(self.pid, table)
        live = {pid: table[pid][1] for pid in desc if not table[pid][2]}
        if rs is None:
            return live, False
        tops = {r.pid for r in rs if r.pid is not None}
        marks = {f"{self.app_id}/{r.role}/{r.id}" for r in rs}
        mains = {r.pid for r in self.replicas if r.pid is not None}
        out: dict[int, int] = {}
        unsure = False
        for pid, start in live.items():
            if desc[pid] in tops:
                out[pid] = start
            elif desc[pid] not in mains:  # an orphan re-parented to us: whose is it?
                known, mark = env_mark(pid)
                if mark in marks:
                    out[pid] = start
                unsure = unsure or not known
        return out, unsure

    def clock(self) -> float:
        import time

        return time.monotonic()

    def ticks(self) -> int:
        """Now in the clock ticks since boot of /proc/<pid>/stat start times (rounded up)."""
        import math
        import time

        return math.ceil(time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK"))

    def signal(self, pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except OSError:
            pass

    def terminate(self, rs: list[Replica] | None) -> None:
        """Stop replicas ``rs`` (every process of the app when None).

        Each process gets SIGTERM once (one found only later gets it too if it was started
        before the stop began; processes started after it are the replicas' own shutdown
        work, e.g. a trap saving a checkpoint, and are left that grace period); after the
        grace period whatever is left gets SIGKILL. Returns only when nothing of ``rs`` is
        alive: for the whole app, when the supervisor has no child left (as a subreaper it
        inherits every orphan, so any live descendant leaves it a child, which no race in
        reading /proc can hide).
        """
        import signal

        targets = self.replicas if rs is None else rs
        for r in targets:
            r.killing = True
        whole = {id(r) for r in targets} >= {id(r) for r in self.replicas}
        if whole and self.no_children():
            return  # the common end of an app: skip scanning /proc
        start = self.clock()
        deadline = start + self.grace
        born_before = self.ticks()
        first = True
        termed: set[tuple[int, int]] = set()
        killed: set[tuple[int, int]] = set()
        clear = 0
        stuck = False
        while True:
            procs, unsure = self.members(None if whole else targets)
            now = self.clock()
            for pid, ticks in procs.items():
                if now < deadline:
                    if (pid, ticks) not in termed and (first or ticks <= born_before):
                        termed.add((pid, ticks))
                        self.signal(pid, signal.SIGTERM)
                elif (pid, ticks) not in killed:
                    killed.add((pid, ticks))
                    self.signal(pid, signal.SIGKILL)
            if whole:
                if self.no_children():
                    return
            else:  # nothing found twice in a row, and every orphan told apart (or given up on)
                clear = clear + 1 if not procs and not (unsure and now < start + 1.0) else 0
                if clear >= 2:
                    return
            first = False
            if procs and now > deadline + 10 and not stuck:
                stuck = True  # unkillable (D state): keep waiting, never leave it behind
                print(f"still alive after SIGKILL: {sorted(procs)}", flush=True)
            self.pump(0.02 if now - start < 0.5 else 0.1)

    # ---- policy

    def handle_failures(self) -> None:
        while self.failed and not self.cancel and self.state == "RUNNING":
            r = self.failed.pop(0)
            if r.state != "FAILED" or r.killing:
                continue
            role = self.roles[r.role]
            policy = str(role.get("retry_policy", "APPLICATION"))
            max_retries = int(role.get("max_retries", 0))  # type: ignore[call-overload]
            used = r.restarts if policy == "REPLICA" else self.role_restarts[r.role]
            if used >= max_retries:
                self.state = "FAILED"
                self.msg = f"replica {r.role}[{r.id}] failed ({_describe_exit(r.exit_code or 0)})"
                if r.error:
                    self.msg += f": {r.error}"
                self.error = r.error_raw
                self.terminate([x for x in self.replicas if x is not r])
                return
            self.num_restarts += 1
            code = r.exit_code or 0
            how = f"exited {code}" if code >= 0 else _describe_exit(code)
            self.msg = f"replica {r.role}[{r.id}] {how}; restart {used + 1}/{max_retries}"
            if policy == "REPLICA":
                r.restarts += 1
                restart = [r]
            else:
                self.role_restarts[r.role] += 1
                restart = [x for x in self.replicas if policy == "APPLICATION" or x.role == r.role]
                for x in restart:
                    x.restarts += 1
            # stop what is left of them, the failed one's leftover daemons included: a restart
            # must not find its previous attempt still holding ports or files
            self.terminate(restart)
            self.failed = [x for x in self.failed if x not in restart]
            for x in restart:
                self.spawn(x)

    # ---- main

    def run(self) -> None:
        import selectors
        import signal
        import time

        self.sel = selectors.DefaultSelector()
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        self.sel.register(self.wake_r, 1)

        def on_cancel(signum: int, frame: object) -> None:
            self.cancel = True

        signal.signal(signal.SIGTERM, on_cancel)
        signal.signal(signal.SIGINT, on_cancel)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, lambda s, f: None)
        os.makedirs(self.req["log_dir"], mode=0o700, exist_ok=True)
        os.chmod(self.req["log_dir"], 0o700)
        for r in self.replicas:
            os.makedirs(os.path.dirname(r.error_file), mode=0o700, exist_ok=True)
        self.write_state()
        if os.path.exists(os.path.join(self.app_dir, "cancel")):
            self.cancel = True
        for r in self.replicas:
            if self.cancel:
                break
            self.spawn(r)
        while self.state == "RUNNING":
            if self.watched_gone():
                self.cancel = True
            if self.cancel:
                self.terminate(None)
                self.state = "CANCELLED"
                self.msg = "cancelled"
                for r in self.replicas:
                    if r.state in ("PENDING", "RUNNING"):
                        r.state = "CANCELLED"
                break
            self.handle_failures()
            if self.state != "RUNNING":
                break
            if all(r.state == "SUCCEEDED" for r in self.replicas):
                self.state = "SUCCEEDED"
                break
            if self.dirty:
                self.write_state()
            self.pump(1.0)
        self.terminate(None)  # leftovers: daemons a replica left behind
        deadline = time.monotonic() + 2.0
        while self.fd_owner and time.monotonic() < deadline:
            self.pump(0.05)  # drain what the dead processes wrote
        for fd in list(self.fd_owner):
            self.read_fd(fd, int(time.time() * 1000))
        for log in self.logs.values():
            log.close()
        self.ended = time.time()
        self.write_state()


def _describe_exit(code: int) -> str:
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exit code {code}"


def _set_subreaper() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def _raise_fd_limit() -> None:
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except Exception:
        pass


def main(argv: list[str]) -> int:
    app_dir = argv[1]
    if os.fork() > 0:
        os._exit(0)  # the launcher reaps this parent; the child is detached
    os.setsid()
    os.closerange(3, 1 << 16)  # keep no pipe of the launcher's caller open
    log_fd = os.open(os.path.join(app_dir, "supervisor.log"), os.O_WRONLY | os.O_CREAT
                     | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    _set_subreaper()
    _raise_fd_limit()
    sup = Supervisor(app_dir)
    try:
        os.chdir(sup.req["cwd"])  # replicas run where the app was submitted from
        sup.run()
    except BaseException:
        import traceback

        traceback.print_exc()
        sup.state = "FAILED"
        sup.msg = "the local_cwd supervisor crashed; see " + os.path.join(app_dir, "supervisor.log")
        try:
            sup.terminate(None)
        finally:
            import time

            sup.ended = time.time()
            sup.write_state()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
