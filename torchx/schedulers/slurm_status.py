"""Slurm job status: the state table and parsers of ``squeue --json``, ``sacct`` and the
``jobcomp/filetxt`` log into one :py:class:`Component` per het-job component, and
:py:func:`to_describe`, which turns one job's components into a ``DescribeAppResponse``.

Pure functions only (no Slurm calls); :py:mod:`torchx.schedulers.slurm_scheduler` runs the
commands and feeds their output here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from torchx.schedulers.api import DescribeAppResponse
from torchx.specs.api import AppState, ReplicaStatus, Role, RoleStatus

SLURM_STATES: dict[str, AppState] = {
    # upstream TorchX's table
    **dict.fromkeys(["PENDING", "REQUEUED", "RESIZING", "SUSPENDED"], AppState.PENDING),
    "RUNNING": AppState.RUNNING,
    "COMPLETED": AppState.SUCCEEDED,
    "CANCELLED": AppState.CANCELLED,
    **dict.fromkeys(["BOOT_FAIL", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
                     "REVOKED", "TIMEOUT"], AppState.FAILED),
    # states upstream leaves UNKNOWN (never terminal, so `wait` would not end on a failed launch)
    **dict.fromkeys(["CONFIGURING", "POWER_UP_NODE", "REQUEUE_FED", "REQUEUE_HOLD", "RECONFIG_FED",
                     "RESV_DEL_HOLD", "STOPPED"], AppState.PENDING),
    **dict.fromkeys(["COMPLETING", "SIGNALING", "STAGE_OUT"], AppState.RUNNING),
    **dict.fromkeys(["LAUNCH_FAILED", "SPECIAL_EXIT"], AppState.FAILED),
}
"""Every Slurm job state -> AppState: upstream's mapping, plus the states it leaves UNKNOWN
(configuring/held/stopped jobs wait: PENDING; completing ones still run; failed launches fail)."""


def slurm_state(state: str) -> AppState:
    """AppState of a Slurm state name (``CANCELLED by 0`` and unknown names handled)."""
    return SLURM_STATES.get(state.split()[0].upper() if state.strip() else "", AppState.UNKNOWN)


@dataclass
class Component:
    """One het-job component as any Slurm source reports it."""

    app_id: str
    offset: int
    name: str
    state: str
    reason: str = ""
    host: str = ""
    exit_code: int = 0
    step_exit: int = 0
    restarts: int = 0
    workdir: str = ""
    submitted: float | None = None
    uid: int | None = None


def _wait_status(raw: Any) -> int:
    """A wait status (``3 << 8``) or plain code as an exit code; signals as 128+N."""
    if isinstance(raw, dict):  # Slurm >= 23: {"status": ..., "return_code": N, "signal": ...}
        sig = raw.get("signal")
        sig_id = _num(sig.get("signal_id")) if isinstance(sig, dict) else None
        return 128 + int(sig_id) if sig_id else int(_num(raw.get("return_code")) or 0)
    code = int(raw or 0)
    if code > 255:
        return (code >> 8) & 0xFF
    return 128 + (code & 0x7F) if code & 0x7F else code


def _state_name(raw: Any) -> str:
    if isinstance(raw, dict):
        raw = raw.get("current", "")
    if isinstance(raw, list):
        raw = raw[0] if raw else ""
    return str(raw)


def parse_squeue(data: Mapping[str, Any]) -> list[Component]:
    """Components from ``squeue --json`` (22.05 and later layouts).

    Slurm 22.05 ignores every filter (``--jobs``, ``--me``, ``--states``) when printing JSON,
    so callers filter the components themselves.
    """
    comps = []
    for j in data.get("jobs", []):
        het = int(_num(j.get("het_job_id")) or 0)
        comps.append(Component(
            app_id=str(het or j["job_id"]), offset=int(_num(j.get("het_job_offset")) or 0),
            name=str(j.get("name", "")), state=_state_name(j.get("job_state")),
            reason=str(j.get("state_reason", "")), host=str(j.get("nodes") or ""),
            exit_code=_wait_status(_num(j.get("exit_code"))),
            step_exit=_wait_status(_num(j.get("derived_exit_code"))),
            restarts=int(_num(j.get("restart_cnt")) or 0),
            workdir=str(j.get("current_working_directory", "")),
            submitted=_num(j.get("submit_time")), uid=_num(j.get("user_id")),
        ))
    return comps


def _num(v: Any) -> Any:
    """Slurm >= 23 wraps numbers as ``{"set": true, "number": N}``."""
    if isinstance(v, dict) and "number" in v:
        return v["number"] if v.get("set", True) else None
    return v


SACCT_FORMAT = "JobID,State,ExitCode,DerivedExitCode,NodeList,Submit,WorkDir,JobName"


def _code(text: str) -> int:
    """``code:signal`` (sacct, jobcomp) as an exit code; a signal as 128+N."""
    code, _, sig = text.strip().partition(":")
    return 128 + int(sig) if sig.strip("0 ") else int(code or 0)


def parse_sacct(text: str) -> list[Component]:
    """Components from ``sacct -P -n -X --duplicates --format=SACCT_FORMAT``.

    (``sacct --json`` in 22.05 reports every exit code as 0, so the text form is used.) A
    requeued job has one record per run: the last wins and the others count as restarts.
    """
    comps: dict[tuple[str, int], Component] = {}
    for line in text.splitlines():
        f = line.split("|", 6)
        if len(f) < 7 or not f[0]:
            continue
        job, _, off = f[0].partition("+")
        workdir, _, name = f[6].partition("|")
        try:
            submitted: float | None = datetime.fromisoformat(f[5]).timestamp()
        except ValueError:
            submitted = None
        prev = comps.get((job, int(off or 0)))
        comps[(job, int(off or 0))] = Component(
            app_id=job, offset=int(off or 0), name=name, state=f[1],
            host="" if f[4] == "None assigned" else f[4],
            exit_code=_code(f[2]), step_exit=_code(f[3]), workdir=workdir, submitted=submitted,
            restarts=prev.restarts + 1 if prev else 0,
        )
    return list(comps.values())


_JOBCOMP_FIELD = re.compile(r"(?:^| )([A-Za-z/_]+)=")


def parse_jobcomp(text: str, app_ids: set[str]) -> list[Component]:
    """Components of ``app_ids`` from a ``jobcomp/filetxt`` log (``Key=value`` per line)."""
    comps = []
    for line in text.splitlines():
        keys = list(_JOBCOMP_FIELD.finditer(line))
        f = {m.group(1): line[m.end(): keys[i + 1].start() if i + 1 < len(keys) else None]
             for i, m in enumerate(keys)}
        app_id = f.get("HetJobId", "0").strip()
        app_id = f.get("JobId", "").strip() if app_id in ("", "0") else app_id
        if app_id not in app_ids:
            continue
        comps.append(Component(
            app_id=app_id, offset=int(f.get("HetJobOffset", "0") or 0), name=f.get("Name", ""),
            state=f.get("JobState", ""), host=f.get("NodeList", "").strip(),
            exit_code=_code(f.get("ExitCode", "0:0")),
            step_exit=_code(f.get("DerivedExitCode", "0:0")), workdir=f.get("WorkDir", "").strip(),
        ))
    return comps


def to_describe(app_id: str, comps: list[Component]) -> DescribeAppResponse:
    """One app's response from its components: per-replica state and host, reason in msg."""
    comps = sorted({c.offset: c for c in comps}.values(), key=lambda c: c.offset)
    leader = comps[0]
    state = slurm_state(leader.state)
    msg = leader.state
    if state == AppState.PENDING and leader.reason and leader.reason != "None":
        msg = f"PENDING: {leader.reason}"
    roles: dict[str, RoleStatus] = {}
    failed = []
    for c in comps:
        role, _, k = c.name.rpartition("-")
        role, rid = (role, int(k)) if k.isdigit() and role else (c.name, c.offset)
        rstate = slurm_state(c.state)
        if rstate in (AppState.FAILED, AppState.SUCCEEDED):  # the job's state is shared: use
            rstate = AppState.FAILED if c.step_exit else AppState.SUCCEEDED  # the step's own
        if c.step_exit and rstate == AppState.FAILED:
            failed.append(f"{role}[{rid}] exit code {c.step_exit}")
        roles.setdefault(role, RoleStatus(role, [])).replicas.append(
            ReplicaStatus(rid, rstate, role, c.host, exit_code=c.step_exit if rstate in (
                AppState.FAILED, AppState.SUCCEEDED) else None, num_restarts=c.restarts)
        )
    if state == AppState.FAILED:
        msg = f"{leader.state}: exit code {leader.exit_code}"
        if failed:
            msg += " (" + ", ".join(failed) + ")"
    return DescribeAppResponse(
        app_id=app_id, state=state, num_restarts=leader.restarts, msg=msg,
        roles_statuses=list(roles.values()),
        roles=[Role(r.role, image="", num_replicas=len(r.replicas)) for r in roles.values()],
    )
