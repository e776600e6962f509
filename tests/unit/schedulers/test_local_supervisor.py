"""The local_cwd supervisor's stop sequence, on a simulated process tree and clock.

The integration tests (tests/integration/local) check the same promises with real processes;
these pin the order and timing of the signals exactly, which real processes under load cannot.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from torchx.schedulers import local_supervisor
from torchx.schedulers.local_supervisor import Replica, Supervisor, descendants

GRACE = 5.0


class SimulatedTree(Supervisor):
    """A supervisor whose processes, clock and /proc are simulated.

    ``procs`` maps pid -> seconds it takes to exit after SIGTERM (None: it ignores SIGTERM).
    """

    def __init__(self, tmp_path: Path, procs: dict[int, float | None]) -> None:
        (tmp_path / "request.json").write_text(json.dumps({
            "app_id": "app-1", "name": "app", "created": 0.0, "kill_grace": GRACE,
            "roles": [], "replicas": [],
        }))
        super().__init__(str(tmp_path))
        self.procs = dict(procs)
        self.start_ticks_of = dict.fromkeys(procs, 0)
        self.now = 100.0
        self.dies_at: dict[int, float] = {}
        self.sent: list[tuple[float, int, str]] = []
        self.hidden_scans = 0  # the next scans of /proc miss every process (a read race)
        self.later: dict[float, tuple[int, int]] = {}  # time -> (pid, start ticks) appearing then

    def clock(self) -> float:
        return self.now

    def ticks(self) -> int:
        return 10

    def members(self, rs: list[Replica] | None) -> tuple[dict[int, int], bool]:
        if self.hidden_scans:
            self.hidden_scans -= 1
            return {}, False
        return {pid: self.start_ticks_of[pid] for pid in self.procs}, False

    def no_children(self) -> bool:
        return not self.procs

    def signal(self, pid: int, sig: int) -> None:
        self.sent.append((round(self.now - 100.0, 3), pid, signal.Signals(sig).name))
        if pid not in self.procs:
            return
        if sig == signal.SIGKILL:
            del self.procs[pid]
        elif self.procs[pid] is not None and pid not in self.dies_at:
            self.dies_at[pid] = self.now + float(self.procs[pid])  # type: ignore[arg-type]

    def pump(self, timeout: float) -> None:
        self.now += timeout
        for pid, t in list(self.dies_at.items()):
            if t <= self.now and pid in self.procs:
                del self.procs[pid]
        for t, (pid, ticks) in list(self.later.items()):
            if t <= self.now:
                del self.later[t]
                self.procs[pid] = None
                self.start_ticks_of[pid] = ticks
        if self.now > 100.0 + 10 * GRACE:
            raise AssertionError(f"the stop never ended; signals sent: {self.sent}")


def test_sigterm_once_then_sigkill_after_the_grace_period(tmp_path: Path) -> None:
    sup = SimulatedTree(tmp_path, {10: None, 11: None})
    sup.terminate(None)
    terms = [(t, pid) for t, pid, sig in sup.sent if sig == "SIGTERM"]
    kills = [(t, pid) for t, pid, sig in sup.sent if sig == "SIGKILL"]
    assert terms == [(0.0, 10), (0.0, 11)]  # once each, at once
    assert sorted(pid for _, pid in kills) == [10, 11]
    assert all(GRACE <= t < GRACE + 0.2 for t, _ in kills), kills  # not before the grace ends
    assert not sup.procs


def test_a_process_that_exits_in_the_grace_period_is_never_killed(tmp_path: Path) -> None:
    sup = SimulatedTree(tmp_path, {10: 1.0})
    sup.terminate(None)
    assert sup.sent == [(0.0, 10, "SIGTERM")]
    assert sup.now - 100.0 < 1.5  # returns once it is gone, not at the end of the grace


def test_a_scan_that_misses_a_live_process_does_not_end_the_stop(tmp_path: Path) -> None:
    """/proc is read one process at a time: a scan can miss a live child. The stop ends only
    when the subreaper has no child left, not when one scan comes back empty."""
    sup = SimulatedTree(tmp_path, {10: None})
    sup.hidden_scans = 3
    sup.terminate(None)
    assert [s for _, _, s in sup.sent] == ["SIGTERM", "SIGKILL"]
    assert not sup.procs


def test_processes_found_later(tmp_path: Path) -> None:
    """One that existed before the stop (missed by the first scan) gets its SIGTERM; one started
    during the grace period (a trap's cleanup) is left alone until the grace period ends."""
    sup = SimulatedTree(tmp_path, {10: None})
    sup.later = {100.5: (20, 5), 101.0: (30, 11)}  # ticks() is 10: 20 existed, 30 is new
    sup.terminate(None)
    by_pid = {pid: [(t, s) for t, p, s in sup.sent if p == pid] for pid in (10, 20, 30)}
    assert [s for _, s in by_pid[10]] == ["SIGTERM", "SIGKILL"]
    assert [s for _, s in by_pid[20]] == ["SIGTERM", "SIGKILL"]
    assert [s for _, s in by_pid[30]] == ["SIGKILL"] and by_pid[30][0][0] >= GRACE


def test_nothing_to_stop_returns_at_once(tmp_path: Path) -> None:
    sup = SimulatedTree(tmp_path, {})
    sup.terminate(None)
    assert sup.sent == [] and sup.now == 100.0


def test_the_walk_goes_through_zombies() -> None:
    """A child read before its parent exited still names it; the zombie parent keeps it in."""
    table = {2: (1, 0, True), 3: (2, 0, False), 4: (3, 0, False), 9: (8, 0, False)}
    assert descendants(1, table) == {2: 2, 3: 2, 4: 2}


def test_members_of_some_replicas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Restarting some replicas stops their processes and their orphans (told apart by the
    mark in their environment), not the others'; an orphan whose environment reads empty
    (between fork and exec) is reported as not known yet."""
    (tmp_path / "request.json").write_text(json.dumps({
        "app_id": "app-1", "name": "app", "created": 0.0, "roles": [],
        "replicas": [{"role": "w", "id": k, "argv": ["x"], "env": {}, "log_dir": str(tmp_path),
                      "error_file": str(tmp_path / "e")} for k in (0, 1)],
    }))
    sup = Supervisor(str(tmp_path))
    r0, r1 = sup.replicas
    r0.pid, r1.pid = 10, 11
    me = sup.pid
    table = {10: (me, 1, False), 11: (me, 2, False), 12: (10, 3, False), 13: (11, 4, False),
             14: (me, 5, False), 15: (me, 6, False), 16: (me, 7, False), 17: (10, 8, True)}
    marks = {14: (True, "app-1/w/0"), 15: (True, "app-1/w/1"), 16: (False, None)}
    monkeypatch.setattr(local_supervisor, "proc_table", lambda: table)
    monkeypatch.setattr(local_supervisor, "env_mark", lambda pid: marks[pid])
    assert sup.members([r0]) == ({10: 1, 12: 3, 14: 5}, True)
    assert sup.members([r1]) == ({11: 2, 13: 4, 15: 6}, True)
    assert sup.members(None) == ({p: t for p, (_, t, z) in table.items() if not z}, False)
