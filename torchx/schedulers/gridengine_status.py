"""Grid Engine job status: the state table, parsers of ``qstat -xml``, ``qstat -j`` and ``qacct``
output into one :py:class:`Task` per array task, and :py:func:`to_describe`.

Pure functions only (no Grid Engine calls); :py:mod:`torchx.schedulers.gridengine_scheduler`
runs the commands and feeds their output here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from torchx.schedulers.api import DescribeAppResponse
from torchx.specs.api import AppState, ReplicaStatus, Role, RoleStatus

GRIDENGINE_STATES: dict[str, AppState] = {
    "qw": AppState.PENDING,     # queued, waiting
    "hqw": AppState.PENDING,    # on hold
    "Eqw": AppState.PENDING,    # error: waits until `qmod -cj` clears it (msg says so)
    "hRwq": AppState.PENDING,   # rescheduled, on hold
    "Rq": AppState.PENDING,     # rescheduled, waiting
    "t": AppState.RUNNING,      # being transferred to the execution host
    "r": AppState.RUNNING,
    "Rr": AppState.RUNNING,     # restarted and running
    "Rt": AppState.RUNNING,
    "s": AppState.PENDING,      # suspended (by the user or the queue): waits to resume
    "S": AppState.PENDING,
    "T": AppState.PENDING,      # suspended by a threshold
    "dr": AppState.RUNNING,     # being deleted: still running until the kill lands
    "dt": AppState.RUNNING,
    "dqw": AppState.PENDING,
}
"""Common ``qstat`` state strings -> AppState; :py:func:`gridengine_state` reads any other
combination of Grid Engine's letters (d, E, h, r, R, s, S, t, T, w, q) by the same rules.
Finished jobs are not in ``qstat``: their state comes from ``qacct`` (``exit_status``/``failed``)."""


def gridengine_state(state: str) -> AppState:
    """AppState of a ``qstat`` state string such as ``qw``, ``r``, ``Eqw`` or ``dr``."""
    if state in GRIDENGINE_STATES:
        return GRIDENGINE_STATES[state]
    if not state:
        return AppState.UNKNOWN
    if "r" in state or "t" in state:
        return AppState.RUNNING
    if set(state) & set("qwhsST"):
        return AppState.PENDING
    return AppState.UNKNOWN


@dataclass
class Task:
    """One array task (one replica) as ``qstat`` or ``qacct`` reports it."""

    job_id: str
    task_id: int
    name: str = ""
    state: str = ""
    host: str = ""
    exit_code: int | None = None
    failed: str = ""
    """``qacct``'s ``failed`` field: "0", or Grid Engine's reason, e.g. ``100 : assumedly after job``."""
    submitted: float | None = None
    owner: str = ""
    restarts: int = 0
    """Runs Grid Engine rescheduled (``failed 25``, e.g. a retry's exit code 99) before this one."""

    @property
    def finished(self) -> bool:
        return self.exit_code is not None


def _tasks_of(text: str) -> list[int]:
    """``1``, ``1-4:1``, ``1,3,5-7:2`` -> task ids; a non-array job has task 1."""
    ids: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)(?:-(\d+)(?::(\d+))?)?\s*", part)
        if m:
            lo, hi, step = int(m.group(1)), int(m.group(2) or m.group(1)), int(m.group(3) or 1)
            ids += range(lo, hi + 1, step)
    return ids or [1]


def _time(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        pass
    try:
        return datetime.strptime(text.strip(), "%a %b %d %H:%M:%S %Y").timestamp()
    except ValueError:
        return None


def parse_qstat_xml(text: str) -> list[Task]:
    """Tasks from ``qstat -xml -g d`` (running ones in ``queue_info``, pending in ``job_info``)."""
    import xml.etree.ElementTree as ET

    if not text.strip():
        return []
    root = ET.fromstring(text)
    tasks = []
    for j in root.iter("job_list"):
        def get(tag: str, j: ET.Element = j) -> str:
            return (j.findtext(tag) or "").strip()

        queue = get("queue_name")
        when = get("JB_submission_time") or get("JAT_start_time")
        for tid in _tasks_of(get("tasks")):
            tasks.append(Task(
                job_id=get("JB_job_number"), task_id=tid, name=get("JB_name"),
                state=get("state"), host=queue.partition("@")[2], submitted=_time(when),
                owner=get("JB_owner"),
            ))
    return tasks


def parse_qacct(text: str) -> list[Task]:
    """Tasks from ``qacct -j`` output (``=====``-separated blocks of ``key value`` lines).

    A rescheduled run (``failed 25 : rescheduling``, such as a retry's exit 99) is not the
    task's end: it only counts in ``restarts``, and a task with no other record is left out
    (it is queued or running again). Otherwise the last record wins.
    """
    out: dict[tuple[str, int], Task] = {}
    requeued: dict[tuple[str, int], int] = {}
    for block in re.split(r"^=+\s*$", text, flags=re.M):
        f: dict[str, str] = {}
        for line in block.splitlines():
            key, _, val = line.strip().partition(" ")
            if key:
                f[key] = val.strip()
        if not f.get("jobnumber"):
            continue
        tid = int(f["taskid"]) if f.get("taskid", "").isdigit() else 1
        code = re.match(r"-?\d+", f.get("exit_status", ""))
        t = Task(
            job_id=f["jobnumber"], task_id=tid, name=f.get("jobname", ""),
            host=f.get("hostname", ""), exit_code=int(code.group()) if code else -1,
            failed=f.get("failed", "0"), submitted=_time(f.get("qsub_time", "")),
            owner=f.get("owner", ""),
        )
        key = (t.job_id, tid)
        if t.failed.split(":")[0].strip() == "25":
            requeued[key] = requeued.get(key, 0) + 1
            continue
        out[key] = t
    for key, t in out.items():
        t.restarts = requeued.get(key, 0)
    return list(out.values())


def parse_reasons(text: str) -> dict[str, str]:
    """job id -> why it waits, from ``qstat -j <ids>`` (``scheduling info`` and ``error reason``
    lines; Grid Engine prints them only when the scheduler's ``schedd_job_info`` is on)."""
    reasons: dict[str, list[str]] = {}
    job = ""
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("job_number:"):
            job, current = line.split(":", 1)[1].strip(), None
        elif re.match(r"(scheduling info|error reason\s*\d*):", line):
            current = reasons.setdefault(job, [])
            current.append(line.split(":", 1)[1].strip())
        elif current is not None and line[:1].isspace() and line.strip():
            current.append(line.strip())
        else:
            current = None
    return {j: "; ".join(r for r in rs if r) for j, rs in reasons.items() if any(rs)}


def task_state(t: Task, cancelled: bool = False) -> AppState:
    """A task's AppState: from its qacct record when finished, else from its qstat state."""
    if t.finished:
        ok = t.exit_code == 0 and t.failed.split(":")[0].strip() in ("", "0")
        if ok:
            return AppState.SUCCEEDED
        return AppState.CANCELLED if cancelled else AppState.FAILED
    return gridengine_state(t.state)


def to_describe(
    app_id: str,
    tasks: dict[int, Task],
    layout: list[tuple[str, int]] | None,
    *,
    cancelled: bool = False,
    reason: str = "",
    awaiting_accounting: bool = False,
) -> DescribeAppResponse:
    """One app from its array tasks.

    ``layout`` is the roles and replica counts in task order (task 1 is replica 0 of the first
    role); without it every task is a replica of one role named after the job. A task missing
    from ``tasks`` has left ``qstat`` but is not in ``qacct`` yet (accounting lags): it counts
    as still RUNNING, or as CANCELLED when the app was cancelled.
    """
    if not layout:
        name = next((t.name for t in tasks.values() if t.name), app_id)
        layout = [(name, max(tasks, default=1))]
    roles: list[RoleStatus] = []
    states: list[AppState] = []
    problems: list[str] = []
    tid = 0
    for role, n in layout:
        rs = RoleStatus(role, [])
        for k in range(n):
            tid += 1
            t = tasks.get(tid)
            if t is None:
                st = AppState.CANCELLED if cancelled else AppState.RUNNING
                host = ""
            else:
                st, host = task_state(t, cancelled), t.host
                if st == AppState.FAILED:
                    why = t.failed if t.failed.split(":")[0].strip() not in ("", "0") else ""
                    problems.append(f"{role}[{k}] exit code {t.exit_code}"
                                    + (f" (Grid Engine: {why})" if why else ""))
                elif st == AppState.PENDING and t.state.startswith("E"):
                    problems.append(f"{role}[{k}] in error state {t.state}: clear it with"
                                    f" `qmod -cj {app_id}` or cancel the app")
            states.append(st)
            rs.replicas.append(ReplicaStatus(k, st, role, host))
        roles.append(rs)
    if states and all(s.is_terminal() for s in states):
        state = (AppState.FAILED if AppState.FAILED in states else
                 AppState.CANCELLED if AppState.CANCELLED in states else AppState.SUCCEEDED)
    elif states and all(s == AppState.PENDING for s in states):
        state = AppState.PENDING
    else:
        state = AppState.RUNNING
    restarts = max((t.restarts for t in tasks.values()), default=0)
    msg = str(state)
    if problems:
        msg += ": " + "; ".join(problems)
    elif state == AppState.PENDING and reason:
        msg += ": " + reason
    elif awaiting_accounting and not state.is_terminal():
        msg += ": finished; waiting for Grid Engine accounting (qacct) to record exit codes"
    return DescribeAppResponse(
        app_id=app_id, state=state, num_restarts=restarts, msg=msg, roles_statuses=roles,
        roles=[Role(r.role, image="", num_replicas=len(r.replicas)) for r in roles],
    )
