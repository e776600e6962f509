"""How a ``ray`` app's state is read: the Ray job's status, then its driver's ``state.json``.

Ray knows the job (PENDING while its runtime env is set up, RUNNING, STOPPED, SUCCEEDED,
FAILED); the torchx driver (:py:mod:`torchx.schedulers.ray_driver`) knows the replicas and
writes them to ``state.json`` on its node. The driver's word wins while it has one; a job that
ended without the driver saying so (killed, crashed) ends its unfinished replicas with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from torchx.schedulers.api import DescribeAppResponse
from torchx.specs.api import (
    NONE,
    AppState,
    ReplicaStatus,
    Resource,
    RetryPolicy,
    Role,
    RoleStatus,
)

JOB_STATES: dict[str, AppState] = {
    "PENDING": AppState.PENDING,  # runtime env (working_dir, pip) being set up
    "RUNNING": AppState.RUNNING,  # the driver runs; its state.json says more
    "STOPPED": AppState.CANCELLED,
    "SUCCEEDED": AppState.SUCCEEDED,
    "FAILED": AppState.FAILED,
}
"""Ray job status -> app state (before the driver reports; it is the finer source after)."""

DRIVER_STATES: dict[str, AppState] = {s.name: s for s in AppState}



def role_to_json(role: Role) -> dict[str, Any]:
    return {
        "name": role.name, "image": role.image, "entrypoint": role.entrypoint,
        "args": list(role.args), "env": dict(role.env), "num_replicas": role.num_replicas,
        "max_retries": role.max_retries, "retry_policy": RetryPolicy(role.retry_policy).value,
        "resource": {"cpu": role.resource.cpu, "gpu": role.resource.gpu,
                     "memMB": role.resource.memMB},
        "port_map": dict(role.port_map),
    }


def role_from_json(d: Mapping[str, Any]) -> Role:
    res = d.get("resource") or {}
    return Role(
        name=d["name"], image=d.get("image", ""), entrypoint=d.get("entrypoint", ""),
        args=list(d.get("args", [])), env=dict(d.get("env", {})),
        num_replicas=int(d.get("num_replicas", 1)), max_retries=int(d.get("max_retries", 0)),
        retry_policy=RetryPolicy(d.get("retry_policy", "APPLICATION")),
        resource=Resource(cpu=res.get("cpu", -1), gpu=res.get("gpu", -1),
                          memMB=res.get("memMB", -1)),
        port_map=dict(d.get("port_map", {})),
    )


def _replica_state(name: str, app: AppState) -> AppState:
    state = DRIVER_STATES.get(name, AppState.UNKNOWN)
    if app.is_terminal() and not state.is_terminal():
        return AppState.CANCELLED if app == AppState.CANCELLED else AppState.FAILED
    return state


def describe_job(app_id: str, job: Mapping[str, Any], state: Mapping[str, Any] | None,
                 url: str) -> DescribeAppResponse:
    """The app as a Ray job's details and its driver's ``state.json`` (None before it runs)."""
    meta = job.get("metadata") or {}
    roles = [role_from_json(r) for r in json.loads(meta.get("torchx_roles") or "[]")]
    jstate = JOB_STATES.get(str(job.get("status")), AppState.UNKNOWN)
    msg = str(job.get("message") or "")
    dstate = DRIVER_STATES.get(str((state or {}).get("state")), AppState.UNKNOWN)
    if state is not None and (dstate.is_terminal() or not jstate.is_terminal()):
        app_state = dstate  # the driver's word, unless the job ended without it saying so
        msg = str(state.get("msg") or "")
    elif jstate == AppState.RUNNING and roles:
        app_state = AppState.PENDING  # the driver is starting
    else:
        app_state = jstate
        if jstate == AppState.FAILED:
            first = msg.strip().splitlines()[0] if msg.strip() else "no message"
            first = first.split(", last available logs")[0]
            msg = (f"the Ray job failed: {first} (its driver's output: `ray job logs"
                   f" {job.get('submission_id')}`)")
    codes = [f"{rep['role']}[{rep['id']}] {rep['exit_code']}" for rep in
             (state or {}).get("replicas", []) if rep.get("exit_code") not in (None, 0)]
    if codes and app_state in (AppState.FAILED, AppState.CANCELLED):
        msg += f" (exit codes: {', '.join(codes)})"
    statuses: dict[str, RoleStatus] = {r.name: RoleStatus(r.name) for r in roles}
    if state is not None:
        for rep in state.get("replicas", []):
            statuses.setdefault(rep["role"], RoleStatus(rep["role"])).replicas.append(
                ReplicaStatus(int(rep["id"]), _replica_state(rep["state"], app_state),
                              rep["role"], rep.get("node_ip") or "",
                              str(rep.get("structured_error_msg") or NONE)))
    else:
        for r in roles:
            rs = AppState.PENDING if not app_state.is_terminal() else _replica_state(
                "PENDING", app_state)
            statuses[r.name].replicas = [ReplicaStatus(k, rs, r.name, "")
                                         for k in range(r.num_replicas)]
    return DescribeAppResponse(
        app_id=app_id, state=app_state,
        num_restarts=int((state or {}).get("num_restarts", 0)), msg=msg,
        structured_error_msg=str((state or {}).get("structured_error_msg") or NONE),
        ui_url=f"{url}/#/jobs/{job.get('submission_id')}",
        roles_statuses=list(statuses.values()), roles=roles,
    )


def parse_index(data: bytes) -> list[tuple[int, int]]:
    out = []
    for line in data.split(b"\n"):
        ms, _, off = line.partition(b" ")
        if off:
            out.append((int(ms), int(off)))
    return out
