"""Kubernetes state tables and status parsing shared by ``kubernetes`` and ``kubernetes_mcad``.

Pure functions from API objects (decoded JSON dicts) to torchx states, per-replica statuses
and a one-line *why* for apps that are stuck or failed: unschedulable pods (the scheduler's
message, e.g. ``0/3 nodes are available: 3 Insufficient nvidia.com/gpu``), image pull errors
(``ErrImagePull``, ``ImagePullBackOff``, ``InvalidImageName``), ``CrashLoopBackOff`` and
container config errors, read from pod conditions and container statuses, and, when no pod
says anything, the newest ``Warning`` event of the app's objects (e.g. a Job's
``FailedCreate`` when a quota or admission webhook refuses its pods). Also the small
object helpers both schedulers share (creation times, re-pointing templates at new images).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from torchx.schedulers.kubernetes_common import ANNOTATION_CANCELLED, ANNOTATION_ROLE, IMAGE_ENV
from torchx.specs.api import NONE, AppState, ReplicaStatus, Role, RoleStatus

__all__ = [
    "POD_PHASES", "VOLCANO_JOB_STATES", "VOLCANO_TASK_STATES", "app_state", "event_reason",
    "failure_reason", "pending_reason", "pod_state", "replica_statuses",
]

VOLCANO_JOB_STATES: dict[str, AppState] = {
    "Pending": AppState.PENDING,
    "Running": AppState.RUNNING,
    "Restarting": AppState.RUNNING,
    "Completing": AppState.RUNNING,
    "Aborting": AppState.RUNNING,
    "Terminating": AppState.RUNNING,
    "Aborted": AppState.CANCELLED,
    "Completed": AppState.SUCCEEDED,
    "Terminated": AppState.FAILED,
    "Failed": AppState.FAILED,
}
"""Volcano ``status.state.phase`` -> AppState (an unknown phase is UNKNOWN, not an error)."""

VOLCANO_TASK_STATES: dict[str, AppState] = {
    "Pending": AppState.PENDING,
    "Allocated": AppState.PENDING,
    "Pipelined": AppState.PENDING,
    "Binding": AppState.PENDING,
    "Bound": AppState.PENDING,
    "Running": AppState.RUNNING,
    "Releasing": AppState.RUNNING,
    "Succeeded": AppState.SUCCEEDED,
    "Failed": AppState.FAILED,
    "Unknown": AppState.UNKNOWN,
}
"""Volcano task (``status.taskStatusCount`` key) phases -> AppState."""

POD_PHASES: dict[str, AppState] = {
    "Pending": AppState.PENDING,
    "Running": AppState.RUNNING,
    "Succeeded": AppState.SUCCEEDED,
    "Failed": AppState.FAILED,
    "Unknown": AppState.UNKNOWN,
}

MCAD_STATES: dict[str, AppState] = {
    "": AppState.PENDING,
    "Pending": AppState.PENDING,
    "Running": AppState.RUNNING,
    "RunningHoldCompletion": AppState.RUNNING,
    "Completed": AppState.SUCCEEDED,
    "Failed": AppState.FAILED,
    "Deleted": AppState.CANCELLED,
}
"""MCAD AppWrapper ``status.state`` -> AppState (refined by the pods' phases when Running)."""

WAITING_PROBLEMS = frozenset({
    "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
    "CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError",
    "RunContainerError", "PreCreateHookError", "PostStartHookError",
})
"""Container ``waiting`` reasons that mean the replica will not start without a fix."""


def pod_state(pod: Mapping[str, Any]) -> AppState:
    return POD_PHASES.get(str(pod.get("status", {}).get("phase", "")), AppState.PENDING)


def _containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    st = pod.get("status", {})
    return [*(st.get("initContainerStatuses") or []), *(st.get("containerStatuses") or [])]


def pending_reason(pod: Mapping[str, Any]) -> str | None:
    """Why this pod is not running yet, if Kubernetes says (None while it simply starts)."""
    for cs in _containers(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = str(waiting.get("reason", ""))
        if reason in WAITING_PROBLEMS:
            msg = str(waiting.get("message", "")).strip()
            return f"{reason}: {msg}" if msg else f"{reason} (image {cs.get('image', '?')})"
    for cond in pod.get("status", {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            reason = str(cond.get("reason") or "Unschedulable")
            msg = str(cond.get("message", "")).strip()
            return f"{reason}: {msg}" if msg else reason
    return None


def failure_reason(pod: Mapping[str, Any]) -> str | None:
    """How a failed pod ended: the exit code and reason of its first failed container."""
    st = pod.get("status", {})
    for cs in _containers(pod):
        term = (cs.get("state") or {}).get("terminated") or {}
        code = term.get("exitCode")
        if term and code not in (0, None):
            extra = f" ({term['reason']})" if term.get("reason") else ""
            msg = str(term.get("message", "")).strip()
            return f"exited with code {code}{extra}" + (f": {msg}" if msg else "")
    if st.get("reason"):
        msg = str(st.get("message", "")).strip()
        return f"{st['reason']}: {msg}" if msg else str(st["reason"])
    return None


def event_reason(events: Iterable[Mapping[str, Any]]) -> str | None:
    """The newest ``Warning`` event as ``<object>: <reason>: <message>``."""
    warnings = [e for e in events if e.get("type") == "Warning"]
    if not warnings:
        return None

    def when(e: Mapping[str, Any]) -> str:
        return str(e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp") or "")

    e = max(warnings, key=when)
    obj = e.get("involvedObject", {})
    return f"{obj.get('kind', '?')} {obj.get('name', '?')}: {e.get('reason', '')}: " \
           f"{str(e.get('message', '')).strip()}"


def pod_host(pod: Mapping[str, Any], namespace: str) -> str:
    """The pod's DNS name ``<ip with dashes>.<ns>.pod.cluster.local`` ("" without an IP)."""
    ip = str(pod.get("status", {}).get("podIP") or "")
    return f"{ip.replace('.', '-').replace(':', '-')}.{namespace}.pod.cluster.local" if ip else ""


def replica_statuses(
    expected: Mapping[str, int],
    pods: Mapping[tuple[str, int], Mapping[str, Any]],
    namespace: str,
    states: Mapping[tuple[str, int], AppState] | None = None,
) -> tuple[list[RoleStatus], list[str]]:
    """Per role, its replicas' states (``states`` first, else the pod's phase, else PENDING)
    and hosts; plus ``role[k]: why`` for each replica stuck or failed."""
    roles: list[RoleStatus] = []
    problems: list[str] = []
    for role, n in expected.items():
        rs = RoleStatus(role, [])
        for k in range(n):
            pod = pods.get((role, k))
            state = (states or {}).get((role, k))
            if state is None:
                state = pod_state(pod) if pod else AppState.PENDING
            why = None
            if pod is not None:
                if state == AppState.FAILED:
                    why = failure_reason(pod)
                elif not state.is_terminal():
                    why = pending_reason(pod)
            if why:
                problems.append(f"{role}[{k}]: {why}")
            rs.replicas.append(ReplicaStatus(k, state, role, pod_host(pod, namespace) if pod else "",
                                             why or NONE))
        roles.append(rs)
    return roles, problems


def app_state(states: Iterable[AppState]) -> AppState:
    """An app's state from its parts': failure and cancellation end it, all must succeed."""
    s = set(states)
    if not s:
        return AppState.UNKNOWN
    for terminal in (AppState.FAILED, AppState.CANCELLED):
        if terminal in s:
            return terminal
    if s == {AppState.SUCCEEDED}:
        return AppState.SUCCEEDED
    if AppState.RUNNING in s or AppState.SUCCEEDED in s:
        return AppState.RUNNING
    return AppState.PENDING if AppState.PENDING in s else AppState.UNKNOWN


def message(state: AppState, problems: list[str], limit: int = 3) -> str:
    """``msg`` for a status: the first few problems, or what the state means."""
    if problems:
        more = f" (+{len(problems) - limit} more)" if len(problems) > limit else ""
        return "; ".join(problems[:limit]) + more
    return ""


def _cond(obj: Mapping[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in obj.get("status", {}).get("conditions") or [])


def batch_job_state(job: Mapping[str, Any]) -> AppState:
    """A role's state from its batch/v1 Job alone (``list`` uses this; ``describe`` refines
    the non-terminal states with the pods)."""
    st = job.get("status", {})
    if _cond(job, "Complete") or _cond(job, "SuccessCriteriaMet"):
        return AppState.SUCCEEDED
    if _cond(job, "Failed") or _cond(job, "FailureTarget"):
        return AppState.FAILED
    if job.get("metadata", {}).get("annotations", {}).get(ANNOTATION_CANCELLED) or \
            _cond(job, "Suspended"):
        return AppState.CANCELLED
    if int(st.get("ready") or 0) > 0 or int(st.get("succeeded") or 0) > 0:
        return AppState.RUNNING
    return AppState.PENDING


def volcano_state(job: Mapping[str, Any]) -> AppState:
    phase = str(job.get("status", {}).get("state", {}).get("phase", ""))
    if not phase:
        return AppState.SUBMITTED if not job.get("status") else AppState.UNKNOWN
    return VOLCANO_JOB_STATES.get(phase, AppState.UNKNOWN)


def created_at(meta: Mapping[str, Any]) -> float | None:
    """An object's ``metadata.creationTimestamp`` as a POSIX time (None when unset)."""
    if not meta.get("creationTimestamp"):
        return None
    return datetime.fromisoformat(str(meta["creationTimestamp"]).replace("Z", "+00:00")).timestamp()


def retarget_images(templates: Iterable[Mapping[str, Any]], roles: Iterable[Role],
                    role_images: Mapping[str, str]) -> None:
    """Point the pod ``templates`` still on the dryrun's image of a role (``role_images``) at
    that role's current one (workspace images are built after the dryrun)."""
    current = {r.name: r.image for r in roles}
    for tmpl in templates:
        role = tmpl["metadata"]["annotations"].get(ANNOTATION_ROLE)
        c = tmpl["spec"]["containers"][0]
        if role in current and c["image"] == role_images.get(role):
            c["image"] = current[role]
            for e in c["env"]:
                if e["name"] == IMAGE_ENV:
                    e["value"] = current[role]
