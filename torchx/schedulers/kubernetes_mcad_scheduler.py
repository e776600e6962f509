"""``kubernetes_mcad``: run an AppDef as one CodeFlare MCAD ``AppWrapper``
(``workload.codeflare.dev/v1beta1``), which MCAD dispatches as a whole when the cluster has room.

Requirements: ``pip install 'torchx[kubernetes]'``, credentials for the cluster (in-cluster, else
the kubeconfig) and the MCAD controller. Handles are ``kubernetes_mcad://<session>/<ns>:<name>``.

The AppWrapper's ``GenericItems`` are one Pod per replica (``<name>-<role>-<i>``, hostname =
pod name) with its ``custompodresources``, plus a headless Service named after the app that
every pod joins as its ``subdomain``, so ``$TORCHX_RANK0_HOST`` (``macros.rank0_env``) =
``<rank-0 pod>.<service>`` from every pod (rank 0 itself gets ``localhost``). With
``coscheduler_name`` the pods use that scheduler and a ``scheduling.x-k8s.io/v1alpha1`` PodGroup
(``minMember`` = all replicas) is wrapped too. ``network`` attaches a Multus network
(``k8s.v1.cni.cncf.io/networks``); ``image_secret`` is the pods' image pull secret.
``schedulingSpec.minAvailable`` is the number of replicas; with ``max_retries`` MCAD requeues the
whole wrapper up to that many times (``requeuing.maxNumRequeuings``): every retry policy restarts
the whole app here, and the dryrun notes it for ``REPLICA``/``ROLE``.

Status: the wrapper's ``status.state`` (:py:data:`MCAD_STATES`), refined by the pods once
dispatched (all succeeded -> SUCCEEDED, one failed -> FAILED); PENDING says why, as
``kubernetes`` does. ``cancel`` deletes the AppWrapper (MCAD removes its pods and frees the
quota) and leaves a small ConfigMap of the same name recording the cancellation, so status says
CANCELLED until ``delete`` removes that too. Pods are built by
:py:mod:`torchx.schedulers.kubernetes_common`; each role's ``V1Pod`` overlay
(``torchx.specs.overlays``) is merged into each of its Pod items.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
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
    ANNOTATION_ROLE,
    IMAGE_ENV,
    LABEL_INSTANCE,
    LABEL_REPLICA_ID,
    LABEL_ROLE_INDEX,
    LABEL_ROLE_NAME,
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
    pod_log_iter,
    pod_template,
    pods_by_replica,
    role_from_template,
    role_names,
    to_yaml,
    unshipped_workspace,
)
from torchx.schedulers.kubernetes_status import MCAD_STATES
from torchx.specs.api import (
    AppDef,
    AppDryRunInfo,
    AppState,
    CfgVal,
    RetryPolicy,
    TorchXError,
    macros,
    make_app_handle,
    runopts,
)
from torchx.workspace.api import WorkspaceBuild
from torchx.workspace.docker_workspace import DockerWorkspaceMixin

__all__ = ["MCAD_STATES", "AppWrapperRequest", "KubernetesMcadOpts", "KubernetesMcadScheduler",
           "app_wrapper", "create_scheduler"]

log = logging.getLogger(__name__)

AW = ("workload.codeflare.dev", "v1beta1", "appwrappers")
POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
NETWORK_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
CANCELLED_LABEL = "torchx.pytorch.org/cancelled"

# --------------------------------------------------------------------------- options


@dataclass
class KubernetesMcadOpts(StructuredOpts):
    namespace: str | None = None
    """namespace to run in (default: the kube context's namespace, else `default`)"""
    service_account: str | None = None
    """service account the pods run as"""
    priority: int | None = None
    """AppWrapper priority (MCAD dispatches higher first)"""
    priority_class_name: str | None = None
    """priority class of the pods"""
    image_secret: str | None = None
    """image pull secret of the pods"""
    coscheduler_name: str | None = None
    """a gang scheduler (e.g. `scheduler-plugins-scheduler`): the pods use it and a PodGroup of
    all replicas is added"""
    network: str | None = None
    """Multus network attached to every pod (`k8s.v1.cni.cncf.io/networks`)"""


# --------------------------------------------------------------------------- request


@dataclass
class AppWrapperRequest:
    """The AppWrapper ``schedule`` creates in ``namespace``; the repr is the dryrun."""

    namespace: str
    name: str
    resource: dict[str, Any]
    role_images: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    builds: list[WorkspaceBuild] = field(default_factory=list)

    @property
    def app_id(self) -> str:
        return f"{self.namespace}:{self.name}"

    def __repr__(self) -> str:
        head = [f"# kubernetes_mcad app `{self.app_id}` (AppWrapper) in namespace"
                f" `{self.namespace}`"]
        head += [f"# note: {n}" for n in self.notes]
        head += [f"# workspace: {b.describe()}" for b in self.builds]
        return "\n".join(head) + "\n" + to_yaml([self.resource])

    def __str__(self) -> str:
        return repr(self)


# --------------------------------------------------------------------------- app -> AppWrapper


def app_wrapper(app: AppDef, name: str, namespace: str,
                opts: KubernetesMcadOpts) -> tuple[dict[str, Any], list[str]]:
    """The AppWrapper for ``app`` (pure), and notes on where it differs from what was asked."""
    reserve = len(str(max((r.num_replicas for r in app.roles), default=1) - 1)) + 1
    shorts = role_names(name, app.roles, reserve)
    labels = app_labels(app.name, name)
    total = sum(r.num_replicas for r in app.roles)
    app_id = f"{namespace}:{name}"
    rank0_host = f"{name}-{shorts[0]}-0.{name}"
    annotations = {NETWORK_ANNOTATION: opts.network} if opts.network else {}
    notes: list[str] = []
    items: list[dict[str, Any]] = []
    for index, (role, short) in enumerate(zip(app.roles, shorts, strict=True)):
        if role.max_retries > 0 and RetryPolicy(role.retry_policy) != RetryPolicy.APPLICATION:
            notes.append(f"role `{role.name}` asks for retry_policy"
                         f" {RetryPolicy(role.retry_policy).value}; MCAD requeues the whole"
                         " AppWrapper instead")
        for k in range(role.num_replicas):
            first = index == 0 and k == 0
            pod_name = f"{name}-{short}-{k}"
            popts = PodOptions(reserved_millicpu=0, reserved_memmb=0,
                               service_account=opts.service_account,
                               priority_class=opts.priority_class_name,
                               scheduler_name=opts.coscheduler_name,
                               image_pull_secret=opts.image_secret, annotations=annotations,
                               hostname=pod_name, subdomain=name)
            values = macros.Values(img_root="", app_id=app_id, replica_id=str(k),
                                   rank0_env=RANK0_ENV)
            pod_labels = {**labels, LABEL_ROLE_INDEX: str(index),
                          LABEL_ROLE_NAME: clean_label(role.name), LABEL_REPLICA_ID: str(k)}
            if opts.coscheduler_name:
                pod_labels[POD_GROUP_LABEL] = name
            env = {RANK0_ENV: "localhost" if first else rank0_host, IMAGE_ENV: role.image}
            tmpl = apply_pod_overlay(role, pod_template(
                role, container=short, values=values, opts=popts, labels=pod_labels, env=env))
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": pod_name, **tmpl["metadata"]}, "spec": tmpl["spec"]}
            res = pod["spec"]["containers"][0].get("resources", {})
            item: dict[str, Any] = {"replicas": 1, "generictemplate": pod}
            if res.get("requests"):
                item["custompodresources"] = [{"replicas": 1, "requests": res["requests"],
                                               "limits": res.get("limits", {})}]
            items.append(item)
    items.append({"replicas": 1, "generictemplate": {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                 "selector": {LABEL_INSTANCE: name}},
    }})
    if opts.coscheduler_name:
        items.append({"replicas": 1, "generictemplate": {
            "apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
            "metadata": {"name": name, "labels": labels}, "spec": {"minMember": total}}})
    sched: dict[str, Any] = {"minAvailable": total}
    retries = min(r.max_retries for r in app.roles)
    if retries > 0:
        sched["requeuing"] = {"timeInSeconds": 300, "growthType": "exponential",
                              "maxNumRequeuings": retries}
    spec: dict[str, Any] = {}
    if opts.priority is not None:
        spec["priority"] = opts.priority
    spec["schedulingSpec"] = sched
    spec["resources"] = {"GenericItems": items}
    aw = {
        "apiVersion": "/".join(AW[:2]), "kind": "AppWrapper",
        "metadata": {"name": name, "labels": labels, "annotations": {ANNOTATION_APP: app.name}},
        "spec": spec,
    }
    return aw, notes


def _pod_items(aw: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    for item in aw.get("spec", {}).get("resources", {}).get("GenericItems") or []:
        tmpl = item.get("generictemplate") or {}
        if tmpl.get("kind") == "Pod":
            yield tmpl


def wrapper_state(aw: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> AppState:
    """The wrapper's state, refined by its pods' phases once MCAD dispatched them."""
    state = MCAD_STATES.get(str(aw.get("status", {}).get("state", "")), AppState.UNKNOWN)
    phases = [ks.pod_state(p) for p in pods]
    if state == AppState.RUNNING and phases:
        n = sum(1 for _ in _pod_items(aw))
        if AppState.FAILED in phases:
            return AppState.FAILED
        if phases.count(AppState.SUCCEEDED) >= n:
            return AppState.SUCCEEDED
        return AppState.RUNNING if AppState.RUNNING in phases or AppState.SUCCEEDED in phases \
            else AppState.PENDING
    return state


# --------------------------------------------------------------------------- scheduler


class KubernetesMcadScheduler(DockerWorkspaceMixin, Scheduler[Mapping[str, CfgVal]]):
    """Runs apps as MCAD AppWrappers (see the module doc); API calls go through ``kube``."""

    def __init__(self, session_name: str, client: KubeClient | None = None,
                 docker_client: Any | None = None) -> None:
        super().__init__("kubernetes_mcad", session_name, docker_client=docker_client)
        self.kube = client or KubeClient()
        self._skipped_workspace: str | None = None

    def _run_opts(self) -> runopts:
        return KubernetesMcadOpts.as_runopts()

    def _namespace(self, ns: object) -> str:
        return str(ns) if ns else (context_namespace() or "default")

    def build_workspaces(self, roles: list[Any], cfg: Mapping[str, CfgVal], dryrun: bool = False) -> None:
        """As ``kubernetes``: workspaces are built and pushed only with ``image_repo``."""
        self._skipped_workspace = unshipped_workspace(roles, cfg)
        if self._skipped_workspace:
            return
        super().build_workspaces(roles, cfg, dryrun)

    def _submit_dryrun(self, app: AppDef, cfg: Mapping[str, CfgVal]) -> AppDryRunInfo[AppWrapperRequest]:
        opts = KubernetesMcadOpts.from_cfg(cfg)
        if not app.roles:
            raise TorchXError(f"app `{app.name}` has no roles")
        ns = self._namespace(opts.namespace)
        name = make_name(app.name)
        aw, notes = app_wrapper(app, name, ns, opts)
        if self._skipped_workspace:
            notes.append(self._skipped_workspace)
        builds = self.workspace_builds()
        req = AppWrapperRequest(ns, name, aw, {r.name: r.image for r in app.roles}, notes,
                                [builds[r.image] for r in app.roles if r.image in builds])
        return AppDryRunInfo(req, repr)

    def schedule(self, dryrun_info: AppDryRunInfo[AppWrapperRequest]) -> str:
        req = dryrun_info.request
        for note in req.notes:
            log.warning(note)
        if dryrun_info.app is not None:  # workspace images are built after the dryrun
            ks.retarget_images(_pod_items(req.resource), dryrun_info.app.roles, req.role_images)
        try:
            self.kube.call("CustomObjectsApi", "create_namespaced_custom_object", *AW[:2],
                           req.namespace, AW[2], req.resource)
        except KubeApiError as e:
            if e.status == 404:
                raise TorchXError(
                    "MCAD is not installed on this cluster (no workload.codeflare.dev/v1beta1"
                    f" appwrappers in namespace `{req.namespace}`): install the MCAD controller,"
                    " or use `-s kubernetes`") from None
            raise TorchXError(f"the API server rejected AppWrapper `{req.name}`: {e}") from None
        return req.app_id

    # ---- reading

    def _get(self, ns: str, name: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(the AppWrapper, None), (None, the cancellation record) or (None, None)."""
        try:
            return self.kube.call("CustomObjectsApi", "get_namespaced_custom_object", *AW[:2],
                                  ns, AW[2], name), None
        except KubeApiError as e:
            if e.status != 404:
                raise
        try:
            cm = self.kube.call("CoreV1Api", "read_namespaced_config_map", name, ns)
        except KubeApiError as e:
            if e.status != 404:
                raise
            return None, None
        return (None, cm) if cm.get("metadata", {}).get("labels", {}).get(CANCELLED_LABEL) \
            else (None, None)

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        ns_given, name = parse_app_id(app_id)
        ns = self._namespace(ns_given)
        aw, record = self._get(ns, name)
        if aw is None:
            if record is None:
                return None
            return DescribeAppResponse(
                app_id=app_id, state=AppState.CANCELLED, num_restarts=0,
                name=str(record.get("metadata", {}).get("annotations", {}).get(ANNOTATION_APP, "")),
                msg="cancelled: the AppWrapper was deleted")
        items = self.kube.call("CoreV1Api", "list_namespaced_pod", ns,
                               label_selector=f"{LABEL_INSTANCE}={name}").get("items") or []
        pods = pods_by_replica(items)
        expected: dict[str, int] = {}
        tmpls: dict[str, Mapping[str, Any]] = {}
        for pod in _pod_items(aw):
            role = str(pod["metadata"].get("annotations", {}).get(ANNOTATION_ROLE, "?"))
            expected[role] = expected.get(role, 0) + 1
            tmpls.setdefault(role, pod)
        state = wrapper_state(aw, pods.values())
        roles, problems = ks.replica_statuses(expected, pods, ns)
        resp = DescribeAppResponse(
            app_id=app_id, state=state,
            name=str(aw["metadata"].get("annotations", {}).get(ANNOTATION_APP, "")),
            num_restarts=int(aw.get("status", {}).get("numberOfRequeueings") or 0),
            roles_statuses=roles,
            roles=[role_from_template(r, n, tmpls[r]) for r, n in expected.items()])
        resp.msg = ks.message(state, problems) or str(aw.get("status", {}).get("message") or "")
        return resp

    # ---- stopping

    def _cancel_existing(self, app_id: str) -> None:
        ns_given, name = parse_app_id(app_id)
        ns = self._namespace(ns_given)
        aw, _ = self._get(ns, name)
        if aw is None:
            return
        meta = aw["metadata"]
        record = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": name, "labels": {**meta.get("labels", {}),
                                                        CANCELLED_LABEL: "true"},
                               "annotations": dict(meta.get("annotations") or {})},
                  "data": {"cancelled": "true"}}
        try:
            self.kube.call("CoreV1Api", "create_namespaced_config_map", ns, record)
        except KubeApiError as e:
            if e.status != 409:
                raise
        self._delete_wrapper(ns, name)

    def _delete_wrapper(self, ns: str, name: str) -> None:
        try:
            self.kube.call("CustomObjectsApi", "delete_namespaced_custom_object", *AW[:2], ns,
                           AW[2], name, propagation_policy="Background")
        except KubeApiError as e:
            if e.status != 404:
                raise

    def _delete_existing(self, app_id: str) -> None:
        ns_given, name = parse_app_id(app_id)
        ns = self._namespace(ns_given)
        self._delete_wrapper(ns, name)
        try:
            self.kube.call("CoreV1Api", "delete_namespaced_config_map", name, ns)
        except KubeApiError as e:
            if e.status != 404:
                raise

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
        """As ``kubernetes``: replica ``k``'s pod log (stdout and stderr interleaved)."""
        return pod_log_iter(self, self.kube, self._namespace, app_id, role_name, k, regex,
                            since, until, should_tail, streams)

    # ---- listing (last: `list` shadows the builtin in annotations below it)

    def list(self, cfg: Mapping[str, CfgVal] | None = None) -> list[ListAppResponse]:
        """The torchx AppWrappers of the namespace, and the cancelled ones: two calls."""
        ns = self._namespace((cfg or {}).get("namespace"))
        try:
            aws = self.kube.call("CustomObjectsApi", "list_namespaced_custom_object", *AW[:2],
                                 ns, AW[2], label_selector=SELECT_ALL).get("items") or []
        except KubeApiError as e:
            if e.status != 404:
                raise
            aws = []
        cms = self.kube.call("CoreV1Api", "list_namespaced_config_map", ns,
                             label_selector=f"{SELECT_ALL},{CANCELLED_LABEL}=true")
        out = []
        for obj, state in [*((a, MCAD_STATES.get(str(a.get("status", {}).get("state", "")),
                                                 AppState.UNKNOWN)) for a in aws),
                           *((c, AppState.CANCELLED) for c in cms.get("items") or [])]:
            meta = obj["metadata"]
            app_id = f"{ns}:{meta['name']}"
            created = ks.created_at(meta)
            out.append(ListAppResponse(
                app_id=app_id, state=state,
                app_handle=make_app_handle(self.backend, self.session_name, app_id),
                name=str(meta.get("annotations", {}).get(ANNOTATION_APP, meta["name"])),
                created=created))
        return sorted(out, key=lambda a: a.created or 0)


def create_scheduler(session_name: str, client: KubeClient | None = None,
                     docker_client: Any | None = None, **kwargs: Any) -> KubernetesMcadScheduler:
    """The ``kubernetes_mcad`` scheduler (``client``: a :py:class:`KubeClient` to use instead
    of loading the kubeconfig on first use)."""
    return KubernetesMcadScheduler(session_name, client=client, docker_client=docker_client)
