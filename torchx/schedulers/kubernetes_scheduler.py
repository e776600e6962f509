"""``kubernetes``: run an AppDef on a Kubernetes cluster, gang-scheduled by Volcano or, with
``scheduler_name=<other>``, as plain ``batch/v1`` Jobs on a cluster without Volcano.

Requirements: ``pip install 'torchx[kubernetes]'`` (the official client, imported only when a
call is made) and credentials for the cluster (in-cluster service account, else the kubeconfig:
``KUBECONFIG`` or ``~/.kube/config``). Handles are ``kubernetes://<session>/<namespace>:<name>``.

``scheduler_name=volcano`` (default; needs Volcano; ``queue`` defaults to ``default``): one ``batch.volcano.sh/v1alpha1``
Job with one task per replica (``<role>-<i>``, pod ``<job>-<role>-<i>-0``, at most 63
characters), the ``svc`` plugin (a headless Service named after the job, not-ready addresses
published) and the ``env`` plugin. Replicas find rank 0 through ``$VC_<ROLE0>_0_HOSTS``
(``macros.rank0_env``); rank 0 itself gets ``TORCHX_RANK0_HOST=localhost``. Retries: the job's
``maxRetry`` is the smallest ``max_retries``; ``APPLICATION`` restarts the job on a failed or
evicted pod (``RestartJob``), ``REPLICA`` restarts the replica's task (``RestartTask``),
``ROLE`` cannot be expressed (each replica is its own task) and restarts the job, with a note;
without retries a failed pod terminates the job (``TerminateJob``) so the app fails at once.

``scheduler_name=<anything else>`` (e.g. ``default-scheduler``): per role one ``batch/v1`` Job in
``Indexed`` completion mode (``completions = parallelism = num_replicas``, pod hostname
``<job>-<index>``) plus one headless Service named after the app that every pod joins as its
``subdomain``, so ``$TORCHX_RANK0_HOST`` = ``<role0 job>-0.<service>`` resolves from every pod.
The replica id is the completion index (``$(TORCHX_REPLICA_ID)``, from the pod's
``batch.kubernetes.io/job-completion-index`` annotation). No gang scheduling: replicas start as
each fits. Retries are per replica whatever the policy (``backoffLimitPerIndex``, Kubernetes >=
1.29; a note says so for ``APPLICATION``/``ROLE``); without retries the Job fails on the first
failed pod (``backoffLimit: 0``) and a failed role suspends the app's other Jobs.

Status (both modes) comes from the job objects plus one pod list; a PENDING or failing app says
why in ``msg`` (see :py:mod:`torchx.schedulers.kubernetes_status`). ``cancel`` keeps the objects
(Volcano: phase ``Aborted``; batch: ``suspend: true`` + a ``torchx.pytorch.org/cancelled``
annotation), ``delete`` removes them (pods are garbage-collected). ``list`` selects the
``app.kubernetes.io/managed-by=torchx.pytorch.org`` objects of the namespace. Logs are read
from the replica's newest pod (its main container), with ``since``/``until`` from the log
timestamps. Pods are built by :py:mod:`torchx.schedulers.kubernetes_common`; each role's
``V1Pod`` overlay (``torchx.specs.overlays``) is merged into every pod of that role (the task
template for Volcano, the Job's pod template for batch). Workspaces are built into images by
the Docker workspace and must be pushed (``image_repo``) for the cluster to pull them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from torchx.schedulers import kubernetes_status as ks
from torchx.schedulers.api import (
    DescribeAppResponse,
    ListAppResponse,
    Scheduler,
    Stream,
    StructuredOpts,
)
from torchx.schedulers.kubernetes_common import (
    ANNOTATION_APP,
    ANNOTATION_CANCELLED,
    ANNOTATION_ROLE,
    IMAGE_ENV,
    INDEX_ANNOTATION,
    LABEL_INSTANCE,
    LABEL_REPLICA_ID,
    LABEL_ROLE_INDEX,
    LABEL_ROLE_NAME,
    LIVE,
    RANK0_ENV,
    SELECT_ALL,
    KubeApiError,
    KubeClient,
    PodOptions,
    app_labels,
    apply_pod_overlay,
    clean_label,
    context_namespace,
    make_name,
    parse_app_id,
    parse_node_selector,
    parse_tolerations,
    pod_log_iter,
    pod_template,
    pods_by_replica,
    role_from_template,
    role_names,
    to_yaml,
    unshipped_workspace,
)
from torchx.schedulers.kubernetes_status import (
    VOLCANO_JOB_STATES,
    VOLCANO_TASK_STATES,
    batch_job_state,
    volcano_state,
)
from torchx.specs.api import (
    AppDef,
    AppDryRunInfo,
    AppState,
    CfgVal,
    RetryPolicy,
    Role,
    TorchXError,
    macros,
    make_app_handle,
    runopts,
)
from torchx.workspace.api import WorkspaceBuild
from torchx.workspace.docker_workspace import DockerWorkspaceMixin

__all__ = [
    "VOLCANO_JOB_STATES", "VOLCANO_TASK_STATES", "KubernetesJob", "KubernetesOpts",
    "KubernetesScheduler", "batch_resources", "create_scheduler", "volcano_job",
]

log = logging.getLogger(__name__)

VOLCANO = ("batch.volcano.sh", "v1alpha1", "jobs")
REPLICA_ENV = "TORCHX_REPLICA_ID"

# --------------------------------------------------------------------------- options


@dataclass
class KubernetesOpts(StructuredOpts):
    queue: str | None = None
    """Volcano queue to submit to (default: `default`, the queue every Volcano install has)"""
    namespace: str | None = None
    """namespace to run in (default: the kube context's namespace, else `default`)"""
    scheduler_name: str = "volcano"
    """`volcano` (gang-scheduled Volcano Job), or any other pod scheduler, e.g.
    `default-scheduler`, to run on a cluster without Volcano as batch/v1 Indexed Jobs plus a
    headless Service: no gang scheduling (replicas start as each fits), retries per replica"""
    service_account: str | None = None
    """service account the pods run as"""
    priority_class: str | None = None
    """priority class of the job (Volcano) or of its pods"""
    tolerations: list[str] | None = None
    """tolerations for every pod, `key[=value][:Effect]` (e.g. `nvidia.com/gpu:NoSchedule`);
    quote several: `tolerations="a:NoSchedule;b=c:NoExecute"`"""
    node_selector: list[str] | None = None
    """node labels every pod requires, `key=value` (e.g. `pool=train`)"""
    reserved_millicpu: int = 100
    """CPU (millicores) kept back from the request for node daemons (limit = the role's cpu)"""
    reserved_memmb: int = 1024
    """memory (MB) kept back from the request for node daemons (limit = the role's memMB)"""
    efa_device_count: int | None = None
    """EFA devices per pod: unset keeps the resource's, 0 removes them, N sets N"""
    validate_spec: bool = True
    """have the API server check the manifests in --dryrun (server-side dry run; needs the
    cluster). Off: dryrun never connects"""


# --------------------------------------------------------------------------- request


@dataclass
class KubernetesJob:
    """What ``schedule`` creates, in order, in ``namespace``; the repr is the dryrun."""

    namespace: str
    name: str
    volcano: bool
    resources: list[dict[str, Any]]
    role_images: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    builds: list[WorkspaceBuild] = field(default_factory=list)

    @property
    def app_id(self) -> str:
        return f"{self.namespace}:{self.name}"

    def __repr__(self) -> str:
        mode = "Volcano Job" if self.volcano else "batch/v1 Indexed Jobs + headless Service"
        head = [f"# kubernetes app `{self.app_id}` ({mode}) in namespace `{self.namespace}`"]
        head += [f"# note: {n}" for n in self.notes]
        head += [f"# workspace: {b.describe()}" for b in self.builds]
        return "\n".join(head) + "\n" + to_yaml(self.resources)

    def __str__(self) -> str:
        return repr(self)


# --------------------------------------------------------------------------- app -> manifests


def pod_options(opts: KubernetesOpts) -> PodOptions:
    return PodOptions(
        reserved_millicpu=opts.reserved_millicpu, reserved_memmb=opts.reserved_memmb,
        efa_device_count=opts.efa_device_count, service_account=opts.service_account,
        tolerations=parse_tolerations(opts.tolerations),
        node_selector=parse_node_selector(opts.node_selector),
    )


def _policy_note(role: Role, where: str, instead: str) -> str:
    return (f"role `{role.name}` asks for retry_policy {RetryPolicy(role.retry_policy).value};"
            f" {where} it retries {instead}")


def volcano_job(
    app: AppDef, name: str, namespace: str, opts: KubernetesOpts, popts: PodOptions
) -> tuple[dict[str, Any], list[str]]:
    """The Volcano Job for ``app`` (pure), and notes on where it differs from what was asked."""
    reserve = len(str(max((r.num_replicas for r in app.roles), default=1) - 1)) + len("--0")
    shorts = role_names(name, app.roles, reserve)
    rank0_task = f"{shorts[0]}-0"
    rank0_env = "VC_" + rank0_task.upper().replace("-", "_") + "_HOSTS"
    rank0_host = f"{name}-{rank0_task}-0.{name}"
    labels = app_labels(app.name, name)
    app_id = f"{namespace}:{name}"
    notes: list[str] = []
    tasks: list[dict[str, Any]] = []
    multi_role = len(app.roles) > 1
    for index, (role, short) in enumerate(zip(app.roles, shorts, strict=True)):
        policy = RetryPolicy(role.retry_policy)
        if role.max_retries > 0 and policy == RetryPolicy.ROLE and multi_role:
            notes.append(_policy_note(role, "Volcano runs each replica as its own task, so",
                                      "by restarting the whole job (RestartJob)"))
        for k in range(role.num_replicas):
            first = index == 0 and k == 0
            task = f"{short}-{k}"
            values = macros.Values(img_root="", app_id=app_id, replica_id=str(k),
                                   rank0_env=RANK0_ENV if first else rank0_env)
            pod_labels = {**labels, LABEL_ROLE_INDEX: str(index),
                          LABEL_ROLE_NAME: clean_label(role.name), LABEL_REPLICA_ID: str(k)}
            env = {RANK0_ENV: "localhost" if first else rank0_host, IMAGE_ENV: role.image}
            pod = pod_template(role, container=task, values=values, opts=popts,
                               labels=pod_labels, env=env)
            t: dict[str, Any] = {"replicas": 1, "name": task,
                                 "template": apply_pod_overlay(role, pod)}
            if role.min_replicas is not None:
                t["minAvailable"] = 1 if k < role.min_replicas else 0
            if role.max_retries > 0:
                action = "RestartTask" if policy == RetryPolicy.REPLICA else "RestartJob"
                t["maxRetry"] = role.max_retries
                t["policies"] = [{"event": e, "action": action} for e in ("PodEvicted", "PodFailed")]
            elif role.min_replicas is None:
                t["policies"] = [{"event": e, "action": "TerminateJob"}
                                 for e in ("PodEvicted", "PodFailed")]
            tasks.append(t)
    spec: dict[str, Any] = {
        "schedulerName": "volcano",
        "queue": opts.queue or "default",
        "maxRetry": min(r.max_retries for r in app.roles),
        "plugins": {"svc": ["--publish-not-ready-addresses"], "env": []},
    }
    if opts.priority_class:
        spec["priorityClassName"] = opts.priority_class
    spec["tasks"] = tasks
    job = {
        "apiVersion": "batch.volcano.sh/v1alpha1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels, "annotations": {ANNOTATION_APP: app.name}},
        "spec": spec,
    }
    return job, notes


def batch_resources(
    app: AppDef, name: str, namespace: str, opts: KubernetesOpts, popts: PodOptions
) -> tuple[list[dict[str, Any]], list[str]]:
    """The headless Service and one Indexed ``batch/v1`` Job per role (pure), plus notes."""
    reserve = len(str(max((r.num_replicas for r in app.roles), default=1) - 1)) + 1
    shorts = role_names(name, app.roles, reserve)
    labels = app_labels(app.name, name)
    rank0_host = f"{name}-{shorts[0]}-0.{name}"
    app_id = f"{namespace}:{name}"
    notes: list[str] = []
    pod_opts = PodOptions(**{**popts.__dict__, "scheduler_name": opts.scheduler_name,
                             "priority_class": opts.priority_class, "subdomain": name})
    ports = [{"name": f"p{p}", "port": p} for p in sorted(set(app.roles[0].port_map.values()))]
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                 "selector": {LABEL_INSTANCE: name}},
    }
    if ports:
        service["spec"]["ports"] = ports
    out: list[dict[str, Any]] = [service]
    for index, (role, short) in enumerate(zip(app.roles, shorts, strict=True)):
        policy = RetryPolicy(role.retry_policy)
        if role.max_retries > 0 and policy != RetryPolicy.REPLICA:
            notes.append(_policy_note(role, "batch/v1 Jobs cannot restart a group, so",
                                      f"each failed replica alone, up to {role.max_retries} times"))
        if role.min_replicas is not None:
            notes.append(f"role `{role.name}`: min_replicas is ignored without Volcano (all"
                         f" {role.num_replicas} replicas are started, none is optional)")
        values = macros.Values(img_root="", app_id=app_id, replica_id=LIVE, rank0_env=RANK0_ENV)
        pod_labels = {**labels, LABEL_ROLE_INDEX: str(index), LABEL_ROLE_NAME: clean_label(role.name)}
        env = {REPLICA_ENV: f"[FIELD_PATH]metadata.annotations['{INDEX_ANNOTATION}']",
               RANK0_ENV: rank0_host, IMAGE_ENV: role.image}
        pod = pod_template(role, container=short, values=values, opts=pod_opts,
                           labels=pod_labels, env=env, live=f"$({REPLICA_ENV})")
        pod = apply_pod_overlay(role, pod)
        # the replica index must be defined before any env value that refers to it
        c_env = pod["spec"]["containers"][0]["env"]
        c_env.sort(key=lambda e: e["name"] != REPLICA_ENV)
        spec: dict[str, Any] = {
            "completionMode": "Indexed",
            "completions": role.num_replicas,
            "parallelism": role.num_replicas,
        }
        if role.max_retries > 0:
            spec["backoffLimitPerIndex"] = role.max_retries
            spec["maxFailedIndexes"] = 0
        else:
            spec["backoffLimit"] = 0
        spec["template"] = pod
        out.append({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": f"{name}-{short}", "labels": {**labels, LABEL_ROLE_INDEX: str(index)},
                         "annotations": {ANNOTATION_APP: app.name, ANNOTATION_ROLE: role.name}},
            "spec": spec,
        })
    return out, notes


# --------------------------------------------------------------------------- scheduler


class KubernetesScheduler(DockerWorkspaceMixin, Scheduler[Mapping[str, CfgVal]]):
    """Runs apps on Kubernetes (see the module doc); every API call goes through ``kube``."""

    def __init__(self, session_name: str, client: KubeClient | None = None,
                 docker_client: Any | None = None) -> None:
        super().__init__("kubernetes", session_name, docker_client=docker_client)
        self.kube = client or KubeClient()
        self._skipped_workspace: str | None = None

    def _run_opts(self) -> runopts:
        return KubernetesOpts.as_runopts()

    def _namespace(self, ns: object) -> str:
        return str(ns) if ns else (context_namespace() or "default")

    # ---- submitting

    def build_workspaces(self, roles: list[Role], cfg: Mapping[str, CfgVal], dryrun: bool = False) -> None:
        """Build and push workspace images, only with ``image_repo``: a local image is of no use
        to the cluster, so without it the roles run their images as they are (with a note)."""
        self._skipped_workspace = unshipped_workspace(roles, cfg)
        if self._skipped_workspace:
            return
        super().build_workspaces(roles, cfg, dryrun)

    def _submit_dryrun(self, app: AppDef, cfg: Mapping[str, CfgVal]) -> AppDryRunInfo[KubernetesJob]:
        opts = KubernetesOpts.from_cfg(cfg)  # resolved by submit_dryrun
        if not app.roles:
            raise TorchXError(f"app `{app.name}` has no roles")
        ns = self._namespace(opts.namespace)
        name = make_name(app.name)
        popts = pod_options(opts)
        volcano = opts.scheduler_name == "volcano"
        if volcano:
            job, notes = volcano_job(app, name, ns, opts, popts)
            resources = [job]
        else:
            resources, notes = batch_resources(app, name, ns, opts, popts)
        builds = self.workspace_builds()
        if self._skipped_workspace:
            notes.append(self._skipped_workspace)
        req = KubernetesJob(ns, name, volcano, resources, {r.name: r.image for r in app.roles},
                            notes, [builds[r.image] for r in app.roles if r.image in builds])
        if opts.validate_spec:
            for obj in resources:
                self._create(ns, obj, dry_run=True)
        return AppDryRunInfo(req, repr)

    def _create(self, ns: str, obj: dict[str, Any], dry_run: bool = False) -> None:
        kw = {"dry_run": "All"} if dry_run else {}
        kind = f"{obj['kind']} `{obj['metadata']['name']}`"
        try:
            if obj["apiVersion"] == "batch.volcano.sh/v1alpha1":
                self.kube.call("CustomObjectsApi", "create_namespaced_custom_object",
                               *VOLCANO[:2], ns, VOLCANO[2], obj, **kw)
            elif obj["kind"] == "Service":
                self.kube.call("CoreV1Api", "create_namespaced_service", ns, obj, **kw)
            else:
                self.kube.call("BatchV1Api", "create_namespaced_job", ns, obj, **kw)
        except KubeApiError as e:
            if e.status == 0:  # no cluster: not the manifest's fault
                hint = "; for an offline dryrun add `-cfg validate_spec=False`" if dry_run else ""
                raise TorchXError(f"{e}{hint}") from None
            if e.status == 404 and obj["apiVersion"].startswith("batch.volcano.sh"):
                raise TorchXError(
                    "Volcano is not installed on this cluster (no batch.volcano.sh/v1alpha1"
                    f" jobs in namespace `{ns}`): install it, or run without it with"
                    " `-cfg scheduler_name=default-scheduler`"
                ) from None
            if e.status == 409:
                raise TorchXError(f"{kind} already exists in namespace `{ns}`: run again"
                                  " (names are random) or delete the old app") from None
            verb = "rejected (dry run)" if dry_run else "rejected"
            raise TorchXError(f"the API server {verb} {kind}: {e}") from None

    def schedule(self, dryrun_info: AppDryRunInfo[KubernetesJob]) -> str:
        req = dryrun_info.request
        for note in req.notes:
            log.warning(note)
        if dryrun_info.app is not None:  # workspace images are built after the dryrun
            ks.retarget_images(_templates(req.resources), dryrun_info.app.roles, req.role_images)
        created: list[dict[str, Any]] = []
        try:
            for obj in req.resources:
                self._create(req.namespace, obj)
                created.append(obj)
        except TorchXError:
            for obj in created:  # nothing half-made is left running
                try:
                    kind = "VolcanoJob" if req.volcano else obj["kind"]
                    self._delete(req.namespace, kind, obj["metadata"]["name"])
                except TorchXError:
                    pass
            raise
        return req.app_id

    # ---- reading the cluster

    def _get(self, ns: str, name: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """(the Volcano Job, []) or (None, the app's batch Jobs); (None, []) when unknown."""
        try:
            return self.kube.call("CustomObjectsApi", "get_namespaced_custom_object",
                                  *VOLCANO[:2], ns, VOLCANO[2], name), []
        except KubeApiError as e:
            if e.status != 404:
                raise
        jobs = self.kube.call("BatchV1Api", "list_namespaced_job", ns,
                              label_selector=f"{LABEL_INSTANCE}={name}")
        return None, list(jobs.get("items") or [])

    def _pods(self, ns: str, name: str) -> list[dict[str, Any]]:
        out = self.kube.call("CoreV1Api", "list_namespaced_pod", ns,
                             label_selector=f"{LABEL_INSTANCE}={name}")
        return list(out.get("items") or [])

    def _events(self, ns: str, name: str) -> list[dict[str, Any]]:
        out = self.kube.call("CoreV1Api", "list_namespaced_event", ns)
        def ours(obj: str) -> bool:  # the app's objects: <name>, <name>-<role>, <name>-<uid>
            return obj == name or obj.startswith(name + "-")

        return [e for e in out.get("items") or []
                if ours(str(e.get("involvedObject", {}).get("name", "")))]

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        ns_given, name = parse_app_id(app_id)
        ns = self._namespace(ns_given)
        vcjob, jobs = self._get(ns, name)
        if vcjob is None and not jobs:
            return None
        pods = pods_by_replica(self._pods(ns, name))
        if vcjob is not None:
            return self._describe_volcano(app_id, ns, name, vcjob, pods)
        return self._describe_batch(app_id, ns, name, jobs, pods)

    def _finish(self, resp: DescribeAppResponse, problems: list[str], ns: str, name: str) -> None:
        resp.msg = ks.message(resp.state, problems)
        if resp.state in (AppState.PENDING, AppState.SUBMITTED) and not problems:
            why = ks.event_reason(self._events(ns, name))
            if why:
                resp.msg = why

    def _describe_volcano(self, app_id: str, ns: str, name: str, job: Mapping[str, Any],
                          pods: Mapping[tuple[str, int], Mapping[str, Any]]) -> DescribeAppResponse:
        state = volcano_state(job)
        expected: dict[str, int] = {}
        tmpls: dict[str, Mapping[str, Any]] = {}
        by_task: dict[str, tuple[str, int]] = {}
        for t in job.get("spec", {}).get("tasks") or []:
            tmpl = t.get("template", {})
            meta = tmpl.get("metadata", {})
            role = str(meta.get("annotations", {}).get(ANNOTATION_ROLE, t.get("name")))
            k = int(meta.get("labels", {}).get(LABEL_REPLICA_ID, expected.get(role, 0)))
            expected[role] = max(expected.get(role, 0), k + 1)
            tmpls.setdefault(role, tmpl)
            by_task[str(t.get("name"))] = (role, k)
        task_states: dict[tuple[str, int], AppState] = {}
        for task, counts in (job.get("status", {}).get("taskStatusCount") or {}).items():
            phases = [p for p, n in (counts.get("phase") or {}).items() if n]
            if task in by_task and phases:
                task_states[by_task[task]] = ks.app_state(
                    VOLCANO_TASK_STATES.get(p, AppState.UNKNOWN) for p in phases)
        roles, problems = ks.replica_statuses(expected, pods, ns, task_states)
        resp = DescribeAppResponse(
            app_id=app_id, state=state, name=str(
                job.get("metadata", {}).get("annotations", {}).get(ANNOTATION_APP, "")),
            num_restarts=int(job.get("status", {}).get("retryCount") or 0),
            roles_statuses=roles,
            roles=[role_from_template(r, n, tmpls[r]) for r, n in expected.items()],
        )
        self._finish(resp, problems, ns, name)
        if not resp.msg:
            resp.msg = str(job.get("status", {}).get("state", {}).get("message") or "")
        return resp

    def _describe_batch(self, app_id: str, ns: str, name: str, jobs: list[dict[str, Any]],
                        pods: Mapping[tuple[str, int], Mapping[str, Any]]) -> DescribeAppResponse:
        jobs.sort(key=lambda j: int(j["metadata"].get("labels", {}).get(LABEL_ROLE_INDEX, 0)))
        expected: dict[str, int] = {}
        role_states: list[AppState] = []
        restarts = 0
        roles: list[Role] = []
        for job in jobs:
            role = str(job["metadata"].get("annotations", {}).get(ANNOTATION_ROLE, "?"))
            n = int(job.get("spec", {}).get("completions") or 1)
            expected[role] = n
            st = batch_job_state(job)
            if not st.is_terminal():
                phases = {ks.pod_state(p) for (r, _), p in pods.items() if r == role}
                st = AppState.RUNNING if phases & {AppState.RUNNING, AppState.SUCCEEDED} \
                    else AppState.PENDING
            role_states.append(st)
            status = job.get("status", {})
            failed_idx = len([x for x in str(status.get("failedIndexes") or "").split(",") if x])
            restarts += max(int(status.get("failed") or 0) - failed_idx
                            - (1 if st == AppState.FAILED and not failed_idx else 0), 0)
            roles.append(role_from_template(role, n, job["spec"]["template"]))
        state = ks.app_state(role_states)
        if state == AppState.FAILED:
            self._suspend([j for j, s in zip(jobs, role_states, strict=True)
                           if not s.is_terminal()], ns, cancelled=False)
        replicas, problems = ks.replica_statuses(expected, pods, ns)
        resp = DescribeAppResponse(app_id=app_id, state=state, num_restarts=restarts,
                                   roles_statuses=replicas, roles=roles, name=str(
                                       jobs[0]["metadata"].get("annotations", {})
                                       .get(ANNOTATION_APP, "")))
        self._finish(resp, problems, ns, name)
        return resp

    # ---- stopping

    def _cancel_existing(self, app_id: str) -> None:
        ns_given, name = parse_app_id(app_id)
        ns = self._namespace(ns_given)
        vcjob, jobs = self._get(ns, name)
        if vcjob is not None:
            self.kube.call("CustomObjectsApi", "patch_namespaced_custom_object_status",
                           *VOLCANO[:2], ns, VOLCANO[2], name,
                           {"status": {"state": {"phase": "Aborted"}}})
        self._suspend(jobs, ns, cancelled=True)

    def _suspend(self, jobs: list[dict[str, Any]], ns: str, cancelled: bool) -> None:
        for job in jobs:
            patch: dict[str, Any] = {"spec": {"suspend": True}}
            if cancelled:
                patch["metadata"] = {"annotations": {ANNOTATION_CANCELLED: "true"}}
            self.kube.call("BatchV1Api", "patch_namespaced_job", job["metadata"]["name"], ns, patch)

    def _delete(self, ns: str, kind: str, name: str) -> None:
        try:
            if kind == "Service":
                self.kube.call("CoreV1Api", "delete_namespaced_service", name, ns)
            elif kind == "VolcanoJob":
                self.kube.call("CustomObjectsApi", "delete_namespaced_custom_object",
                               *VOLCANO[:2], ns, VOLCANO[2], name, propagation_policy="Background")
            else:
                self.kube.call("BatchV1Api", "delete_namespaced_job", name, ns,
                               propagation_policy="Background")
        except KubeApiError as e:
            if e.status != 404:
                raise

    def _delete_existing(self, app_id: str) -> None:
        ns_given, name = parse_app_id(app_id)
        ns = self._namespace(ns_given)
        vcjob, jobs = self._get(ns, name)
        if vcjob is not None:
            self._delete(ns, "VolcanoJob", name)
        for job in jobs:
            self._delete(ns, "Job", job["metadata"]["name"])
        if jobs:
            self._delete(ns, "Service", name)

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
        """Lines of replica ``k``'s newest pod (stdout and stderr interleaved, as Kubernetes
        keeps them); ``since``/``until`` use the log's timestamps; tails while the pod runs."""
        return pod_log_iter(self, self.kube, self._namespace, app_id, role_name, k, regex,
                            since, until, should_tail, streams)

    # ---- listing (last: `list` shadows the builtin in annotations below it)

    def list(self, cfg: Mapping[str, CfgVal] | None = None) -> list[ListAppResponse]:
        """The torchx apps in the namespace (``cfg`` namespace, else the context's): two calls."""
        ns = self._namespace((cfg or {}).get("namespace"))
        out: list[ListAppResponse] = []
        try:
            vc = self.kube.call("CustomObjectsApi", "list_namespaced_custom_object",
                                *VOLCANO[:2], ns, VOLCANO[2], label_selector=SELECT_ALL)
        except KubeApiError as e:
            if e.status != 404:  # 404: Volcano is not installed
                raise
            vc = {}
        for job in vc.get("items") or []:
            out.append(self._listed(ns, job["metadata"], volcano_state(job)))
        groups: dict[str, list[dict[str, Any]]] = {}
        batch = self.kube.call("BatchV1Api", "list_namespaced_job", ns, label_selector=SELECT_ALL)
        for job in batch.get("items") or []:
            groups.setdefault(job["metadata"]["labels"].get(LABEL_INSTANCE, ""), []).append(job)
        for jobs in groups.values():
            out.append(self._listed(ns, jobs[0]["metadata"],
                                    ks.app_state(batch_job_state(j) for j in jobs)))
        return sorted(out, key=lambda a: a.created or 0)

    def _listed(self, ns: str, meta: Mapping[str, Any], state: AppState) -> ListAppResponse:
        name = str(meta.get("labels", {}).get(LABEL_INSTANCE) or meta["name"])
        app_id = f"{ns}:{name}"
        created = ks.created_at(meta)
        return ListAppResponse(app_id=app_id, state=state,
                               app_handle=make_app_handle(self.backend, self.session_name, app_id),
                               name=str(meta.get("annotations", {}).get(ANNOTATION_APP, name)),
                               created=created)

def _templates(resources: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every pod template in ``resources`` (Volcano tasks, Job templates)."""
    for obj in resources:
        for t in obj.get("spec", {}).get("tasks") or []:
            yield t["template"]
        if obj.get("kind") == "Job" and "template" in obj.get("spec", {}):
            yield obj["spec"]["template"]



def create_scheduler(session_name: str, client: KubeClient | None = None,
                     docker_client: Any | None = None, **kwargs: Any) -> KubernetesScheduler:
    """The ``kubernetes`` scheduler (``client``: a :py:class:`KubeClient` to use instead of
    loading the kubeconfig on first use)."""
    return KubernetesScheduler(session_name, client=client, docker_client=docker_client)
