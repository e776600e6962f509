"""The dashboard's JSON API: what its pages show, as plain dicts, through the Runner.

Every call goes through the same Runner methods as the CLI (``list``, ``status``, ``describe``,
``log_lines``, ``cancel``, ``delete``). Schedulers are listed in parallel, each answer cached for
``cache_ttl`` seconds; a scheduler that fails (Slurm not running, ...) gives an error for that
scheduler only, and a slow one never holds the page longer than ``answer_wait`` seconds.

Logs are read by one :py:class:`LogTail` thread per (job, replica, stream, regex) that follows the
replica's lines (``log_lines(..., should_tail=True)``, the scheduler applying the regex over the
whole log) and keeps only the newest ``keep`` of them. A page asks for the lines after its cursor
and never receives more than the newest ``limit``: a long log shows its tail, and a page that falls
behind skips ahead (told how many lines it skipped).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import enum
import itertools
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from torchx.specs.api import NONE, TorchXError, parse_app_handle

if TYPE_CHECKING:
    from torchx.runner.api import Runner
    from torchx.schedulers.api import ListAppResponse
    from torchx.specs.api import AppStatus

STREAMS = ("combined", "stdout", "stderr")
MAX_LINE = 16384
"""Characters kept of one log line (the rest is cut and marked)."""


class ApiError(TorchXError):
    """A request the API refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status


def message(e: BaseException) -> str:
    """One line saying what went wrong (no traceback)."""
    text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    text = "; ".join(line.strip() for line in text.splitlines() if line.strip())
    return text or type(e).__name__


def plain(obj: Any) -> Any:
    """``obj`` (dataclasses, enums, containers) as JSON-serialisable values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value if isinstance(obj.value, str) else obj.name
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [plain(v) for v in obj]
    return obj if isinstance(obj, (str, int, float, bool)) or obj is None else str(obj)


def job_row(scheduler: str, app: ListAppResponse) -> dict[str, Any]:
    """One line of the front page."""
    roles = [[r.name, r.num_replicas] for r in app.roles]
    return {
        "handle": app.app_handle, "scheduler": scheduler, "app_id": app.app_id,
        "name": app.name, "state": app.state.name, "created": app.created,
        "replicas": sum(n for _, n in roles) if roles else None, "roles": roles,
    }


def status_json(status: AppStatus) -> dict[str, Any]:
    """An AppStatus with every replica's state, exit code, restarts, host and error."""

    def err(text: str) -> str | None:
        return None if text == NONE or not text else text

    return {
        "state": status.state.name, "terminal": status.is_terminal(),
        "num_restarts": status.num_restarts, "msg": status.msg,
        "error": err(status.structured_error_msg), "ui_url": status.ui_url,
        "roles": [
            {"role": r.role, "replicas": [
                {"id": rep.id, "state": rep.state.name, "hostname": rep.hostname,
                 "exit_code": rep.exit_code, "num_restarts": rep.num_restarts,
                 "error": err(rep.structured_error_msg)}
                for rep in r.replicas
            ]}
            for r in status.roles
        ],
    }


class LogTail:
    """Follows one iterator of log lines in a daemon thread, keeping the newest ``keep``."""

    _ids = itertools.count(1)

    def __init__(self, open_lines: Callable[[], Iterable[str]], keep: int = 5000) -> None:
        self.id = next(LogTail._ids)
        self.lines: deque[str] = deque(maxlen=keep)
        self.total = 0
        """Lines read so far; ``lines`` holds indexes ``total - len(lines)`` .. ``total - 1``."""
        self.done = False
        self.error: str | None = None
        self.touched = time.monotonic()
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(open_lines,), daemon=True,
                                        name=f"dashboard-log-{self.id}")
        self._thread.start()

    def _run(self, open_lines: Callable[[], Iterable[str]]) -> None:
        try:
            for line in open_lines():
                if len(line) > MAX_LINE:
                    line = line[:MAX_LINE] + f"... [{len(line) - MAX_LINE} more characters cut]"
                with self._cond:
                    self.lines.append(line.rstrip("\n"))
                    self.total += 1
                    self._cond.notify_all()
                if self._stop:
                    return
        except Exception as e:
            with self._cond:
                self.error = message(e)
        finally:
            with self._cond:
                self.done = True
                self._cond.notify_all()

    def stop(self) -> None:
        """Stop after the next line (a quiet running job keeps the thread until it ends)."""
        self._stop = True

    def read(self, after: int | None, limit: int, wait: float = 0.5) -> dict[str, Any]:
        """Lines from index ``after`` (None: the tail), at most the newest ``limit`` of them.

        With nothing new yet, waits up to ``wait`` seconds for a line (a short long-poll).
        """
        self.touched = time.monotonic()
        with self._cond:
            if not self.done and (self.total == 0 or (after is not None and after >= self.total)):
                self._cond.wait(wait)
            first = self.total - len(self.lines)
            if after is None:
                start = max(self.total - limit, first)
            else:
                start = min(max(after, self.total - limit, first), self.total)
            lines = list(itertools.islice(self.lines, start - first, None))
            return {
                "tail_id": self.id, "lines": lines, "first": start, "next": start + len(lines),
                "skipped": start - after if after is not None and start > after else 0,
                "done": self.done, "error": self.error,
            }


class Dashboard:
    """The API over one Runner and the schedulers it shows."""

    def __init__(
        self, runner: Runner, schedulers: Sequence[str], *, answer_wait: float = 3.0,
        list_timeout: float = 30.0, cache_ttl: float = 1.0, keep_lines: int = 5000,
        max_tails: int = 32,
    ) -> None:
        self.runner = runner
        self.schedulers = list(dict.fromkeys(schedulers))
        self.answer_wait = answer_wait
        self.list_timeout = list_timeout
        self.cache_ttl = cache_ttl
        self.keep_lines = keep_lines
        self.max_tails = max_tails
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._inflight: dict[str, tuple[float, Future[dict[str, Any]]]] = {}
        self._tails: dict[tuple[str, str, int, str, str], LogTail] = {}

    # ---- the front page

    def _list_one(self, scheduler: str) -> dict[str, Any]:
        try:
            rows = [job_row(scheduler, a) for a in self.runner.list(scheduler)]
            entry: dict[str, Any] = {"name": scheduler, "error": None, "jobs": rows}
        except Exception as e:  # one scheduler's failure is shown, not raised
            entry = {"name": scheduler, "error": message(e), "jobs": []}
        with self._lock:
            self._cache[scheduler] = (time.monotonic(), entry)
            self._inflight.pop(scheduler, None)
        return entry

    def _start_list(self, scheduler: str) -> Future[dict[str, Any]]:
        """List in a daemon thread (a backend that hangs must not hold the process at exit)."""
        fut: Future[dict[str, Any]] = Future()

        def work() -> None:
            fut.set_result(self._list_one(scheduler))

        threading.Thread(target=work, daemon=True, name=f"dashboard-list-{scheduler}").start()
        return fut

    def jobs(self) -> dict[str, Any]:
        """Every job of every scheduler, and each scheduler's error (None when it answered).

        Waits at most ``answer_wait`` seconds: a scheduler still listing then shows its previous
        answer (``stale``), or ``loading`` before its first one, or an error once it has taken
        longer than ``list_timeout``. Its call goes on; the next refresh picks up the answer.
        """
        now = time.monotonic()
        pending: list[Future[dict[str, Any]]] = []
        with self._lock:
            for s in self.schedulers:
                cached = self._cache.get(s)
                if cached is not None and now - cached[0] < self.cache_ttl:
                    continue
                if s not in self._inflight:
                    self._inflight[s] = (now, self._start_list(s))
                pending.append(self._inflight[s][1])
        concurrent.futures.wait(pending, timeout=self.answer_wait)
        out: dict[str, Any] = {"now": time.time(), "schedulers": [], "jobs": []}
        now = time.monotonic()
        with self._lock:
            for s in self.schedulers:
                cached = self._cache.get(s)
                entry = cached[1] if cached else {"name": s, "error": None, "jobs": []}
                info = {"name": s, "error": entry["error"], "count": len(entry["jobs"]),
                        "loading": False, "stale": False}
                if s in self._inflight:
                    since = now - self._inflight[s][0]
                    if since > self.list_timeout:
                        info["error"] = f"{s} has not answered for {since:.0f}s"
                    info["loading"], info["stale"] = cached is None, cached is not None
                out["schedulers"].append(info)
                out["jobs"].extend(entry["jobs"])
        return out

    def _forget_list(self, scheduler: str) -> None:
        with self._lock:
            self._cache.pop(scheduler, None)

    # ---- one job

    def check_handle(self, handle: str | None) -> str:
        """``handle`` if well formed and of a scheduler shown here; ApiError(400) otherwise."""
        if not handle:
            raise ApiError(400, "no job handle given: ?handle=SCHEDULER://SESSION/APP_ID")
        try:
            scheduler = parse_app_handle(handle).scheduler_backend
        except ValueError as e:
            raise ApiError(400, message(e)) from None
        if scheduler not in self.schedulers:
            raise ApiError(400, f"this dashboard shows {', '.join(self.schedulers)}, not"
                           f" `{scheduler}`: restart it with `-s {scheduler}`")
        return handle

    def _status(self, handle: str) -> AppStatus:
        try:
            status = self.runner.status(handle)
        except TorchXError as e:
            raise ApiError(502, message(e)) from None
        if status is None:
            raise ApiError(404, f"no job `{handle}`: it ended long ago or was deleted")
        return status

    def job(self, handle: str | None) -> dict[str, Any]:
        """A job's status (per role and replica), its AppDef and the replicas with logs."""
        handle = self.check_handle(handle)
        status = self._status(handle)
        app: Any = None
        app_error = None
        try:
            described = self.runner.describe(handle)
            app = plain(described) if described is not None else None
        except Exception as e:
            app_error = message(e)
        targets = [{"role": r.role, "replicas": [rep.id for rep in r.replicas]}
                   for r in status.roles if r.replicas]
        if not targets and isinstance(app, dict):
            targets = [{"role": r["name"], "replicas": list(range(r.get("num_replicas") or 1))}
                       for r in app.get("roles", [])]
        parsed = parse_app_handle(handle)
        return {
            "handle": handle, "scheduler": parsed.scheduler_backend, "app_id": parsed.app_id,
            "status": status_json(status), "app": app, "app_error": app_error,
            "log_targets": targets,
        }

    # ---- logs

    def logs(
        self, handle: str | None, role: str | None, replica: int, stream: str = "combined",
        regex: str = "", after: int | None = None, limit: int = 2000, tail_id: int | None = None,
    ) -> dict[str, Any]:
        """Lines of one replica after ``after`` (None: its tail), following while it runs.

        ``tail_id`` is the ``tail_id`` of the previous answer; when the follower behind it is
        gone the answer starts again at the tail with ``reset`` true.
        """
        handle = self.check_handle(handle)
        if not role:
            raise ApiError(400, "no role given: &role=NAME")
        if stream not in STREAMS:
            raise ApiError(400, f"unknown stream `{stream}`: use one of {', '.join(STREAMS)}")
        if regex:
            try:
                re.compile(regex)
            except re.error as e:
                raise ApiError(400, f"`{regex}` is not a valid regex ({e})") from None
        limit = max(1, min(limit, self.keep_lines))
        key = (handle, role, replica, stream, regex)
        with self._lock:
            tail = self._tails.get(key)
            if tail is None:
                tail = self._tails[key] = self._open_tail(handle, role, replica, stream, regex)
            self._evict(keep=key)
        reset = tail_id is not None and tail_id != tail.id
        out = tail.read(None if reset else after, limit)
        out["reset"] = reset
        return out

    def _open_tail(self, handle: str, role: str, k: int, stream: str, regex: str) -> LogTail:
        from torchx.schedulers.api import Stream

        def open_lines() -> Iterable[str]:
            return self.runner.log_lines(handle, role, k, regex=regex or None,
                                         should_tail=True, streams=Stream(stream))

        return LogTail(open_lines, keep=self.keep_lines)

    def _evict(self, keep: tuple[str, str, int, str, str]) -> None:
        """Drop followers nobody read for a minute, and the oldest beyond ``max_tails``."""
        now = time.monotonic()
        by_age = sorted(self._tails.items(), key=lambda kv: kv[1].touched)
        for i, (key, tail) in enumerate(by_age):
            if key != keep and (now - tail.touched > 60 or len(by_age) - i > self.max_tails):
                tail.stop()
                del self._tails[key]

    # ---- actions

    def cancel(self, handle: str | None) -> dict[str, Any]:
        """Cancel a job (as ``torchx cancel``); a finished job is left as it is."""
        handle = self.check_handle(handle)
        status = self._status(handle)
        if status.is_terminal():
            return {"ok": True, "message": f"{handle} already ended ({status.state.name})"}
        try:
            self.runner.cancel(handle)
        except TorchXError as e:
            raise ApiError(502, message(e)) from None
        self._forget_list(parse_app_handle(handle).scheduler_backend)
        return {"ok": True, "message": f"cancel of {handle} requested"}

    def delete(self, handle: str | None) -> dict[str, Any]:
        """Delete a finished job (as ``torchx delete``); a running one must be cancelled first."""
        handle = self.check_handle(handle)
        status = self._status(handle)
        if not status.is_terminal():
            raise ApiError(409, f"{handle} is {status.state.name}: cancel it before deleting it")
        try:
            self.runner.delete(handle)
        except TorchXError as e:
            raise ApiError(502, message(e)) from None
        self._forget_list(parse_app_handle(handle).scheduler_backend)
        return {"ok": True, "message": f"deleted {handle}"}

    def close(self) -> None:
        """Stop the log followers and close the runner (list threads are daemons)."""
        with self._lock:
            for tail in self._tails.values():
                tail.stop()
            self._tails.clear()
        self.runner.close()
