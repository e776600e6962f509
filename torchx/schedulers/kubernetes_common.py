"""Shared Kubernetes code for ``kubernetes`` and ``kubernetes_mcad``: names, labels, the pod a
role replica runs in, and the one seam every API call goes through (:py:class:`KubeClient`).

Everything here is pure except :py:class:`KubeClient`, which imports the official ``kubernetes``
client (``pip install 'torchx[kubernetes]'``) only when a call is made, so building a manifest
(``--dryrun``) needs neither the package nor a cluster.

Strings from the user (entrypoint, args, env values) reach the container unchanged: the kubelet
expands ``$(VAR)`` in ``command``/``args``/``env``, so every ``$`` is written as ``$$`` (which the
kubelet turns back into ``$``). Only references torchx itself inserts (the replica index of an
Indexed Job) stay live. An env value starting with ``[FIELD_PATH]`` becomes a downward-API
``fieldRef`` (``[FIELD_PATH]status.podIP``), as upstream.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from torchx.schedulers.api import Stream, filter_regex
from torchx.specs.api import (
    MISSING,
    BindMount,
    DeviceMount,
    Resource,
    Role,
    TorchXError,
    UnknownAppException,
    VolumeMount,
    macros,
)

if TYPE_CHECKING:
    from torchx.schedulers.api import Scheduler

__all__ = [
    "ANNOTATION_ROLE", "KubeApiError", "KubeClient", "LABEL_INSTANCE", "LABEL_MANAGED_BY",
    "PodOptions", "app_labels", "clean_label", "escape", "make_name", "normalize", "parse_node_selector",
    "parse_tolerations", "pod_template", "to_yaml",
]

_T = "torchx.pytorch.org/"
LABEL_VERSION, LABEL_APP_NAME = _T + "version", _T + "app-name"
LABEL_ROLE_INDEX, LABEL_ROLE_NAME, LABEL_REPLICA_ID = _T + "role-index", _T + "role-name", _T + "replica-id"
LABEL_NAME, LABEL_MANAGED_BY = "app.kubernetes.io/name", "app.kubernetes.io/managed-by"
LABEL_INSTANCE = "app.kubernetes.io/instance"
MANAGED_BY = "torchx.pytorch.org"
SELECT_ALL = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
ANNOTATION_ROLE = _T + "role-name"
"""The role's exact name (labels only hold a cleaned copy)."""
ANNOTATION_APP = _T + "app-name"
ANNOTATION_CANCELLED = _T + "cancelled"
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
RANK0_ENV = "TORCHX_RANK0_HOST"
IMAGE_ENV = "TORCHX_IMAGE"
FIELD_PATH = "[FIELD_PATH]"
EFA_DEVICE = "vpc.amazonaws.com/efa"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
MAX_NAME = 63
_NAME_PREFIX = 20
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


# --------------------------------------------------------------------------- names


def normalize(text: str) -> str:
    """``text`` as a DNS-1123 label fragment: lower case, runs of other characters -> ``-``."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def clean_label(value: str) -> str:
    """``value`` as a valid label value (``[A-Za-z0-9._-]``, alphanumeric ends, <= 63)."""
    v = re.sub(r"[^A-Za-z0-9._-]+", "-", value)[:MAX_NAME]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", v)


def random_id(n: int = 8) -> str:
    """``n`` random characters, the first a letter (so names built from it are DNS-1035)."""
    first = secrets.choice(string.ascii_lowercase)
    return first + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(n - 1))


def make_name(app_name: str) -> str:
    """A unique object name for ``app_name``: ``<prefix <= 20>-<8 random>`` (a DNS-1035 label)."""
    base = normalize(app_name)[:_NAME_PREFIX].strip("-")
    if not base or not base[0].isalpha():
        base = ("app-" + base)[:_NAME_PREFIX].strip("-")
    return f"{base}-{random_id()}"


def role_names(name: str, roles: list[Role], reserve: int) -> list[str]:
    """Per role, the normalized name used in object names, cut so ``<name>-<role>`` plus
    ``reserve`` more characters fits in 63; TorchXError when two roles would collide."""
    budget = MAX_NAME - len(name) - 1 - reserve
    if budget < 1:
        raise TorchXError(f"app name `{name}` leaves no room for role names: use a shorter app name")
    out: list[str] = []
    for role in roles:
        short = normalize(role.name)[:budget].strip("-") or "role"
        if short in out:
            other = roles[out.index(short)].name
            raise TorchXError(
                f"roles `{other}` and `{role.name}` both become `{short}` in Kubernetes object"
                " names (lower case, [a-z0-9-], cut to fit 63 characters): rename one"
            )
        out.append(short)
    return out


# --------------------------------------------------------------------------- run options


def parse_tolerations(items: list[str] | None) -> list[dict[str, str]]:
    """``key[=value][:Effect]`` items (``kubectl taint`` syntax) -> pod tolerations."""
    out: list[dict[str, str]] = []
    for item in items or []:
        spec, _, effect = item.strip().partition(":")
        if effect and effect not in _EFFECTS:
            import difflib

            close = difflib.get_close_matches(effect, _EFFECTS, 1)
            hint = f"Did you mean {close[0]}?" if close else f"use one of {', '.join(_EFFECTS)}"
            raise TorchXError(f"toleration `{item}`: unknown taint effect `{effect}`. {hint}")
        key, eq, value = spec.partition("=")
        if not key:
            raise TorchXError(f"toleration `{item}` has no key: write key[=value][:Effect],"
                              " e.g. nvidia.com/gpu:NoSchedule")
        tol = {"key": key, "operator": "Equal" if eq else "Exists"}
        if eq:
            tol["value"] = value
        if effect:
            tol["effect"] = effect
        out.append(tol)
    return out


def parse_node_selector(items: list[str] | None) -> dict[str, str]:
    """``key=value`` (or ``key:value``) items -> a node selector."""
    out: dict[str, str] = {}
    for item in items or []:
        sep = "=" if "=" in item else ":"
        key, found, value = item.partition(sep)
        if not found or not key.strip():
            raise TorchXError(f"node_selector item `{item}` is not key=value: write e.g."
                              " node_selector=pool=train")
        out[key.strip()] = value.strip()
    return out


# --------------------------------------------------------------------------- pods


def escape(text: str) -> str:
    """``text`` protected from the kubelet's ``$(VAR)`` expansion (``$`` -> ``$$``)."""
    return text.replace("$", "$$")


LIVE = "\x00torchx-live\x00"
"""Stands for a value the kubelet must expand (inserted by torchx, never by the user)."""


def _render(text: str, live: str) -> str:
    return escape(text).replace(LIVE, live)


@dataclass
class PodOptions:
    """Everything about a pod that comes from run options rather than the role."""

    reserved_millicpu: int = 100
    reserved_memmb: int = 1024
    efa_device_count: int | None = None
    service_account: str | None = None
    priority_class: str | None = None
    scheduler_name: str | None = None
    tolerations: list[dict[str, str]] = field(default_factory=list)
    node_selector: dict[str, str] = field(default_factory=dict)
    image_pull_secret: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    subdomain: str | None = None
    hostname: str | None = None


def app_labels(app_name: str, name: str) -> dict[str, str]:
    """Labels every object of app ``name`` carries (``list`` selects on managed-by)."""
    from torchx import __version__

    return {
        LABEL_VERSION: clean_label(__version__),
        LABEL_APP_NAME: clean_label(app_name),
        LABEL_NAME: clean_label(app_name),
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_INSTANCE: name,
    }


def resources(role: Role, opts: PodOptions) -> dict[str, dict[str, str]]:
    """Limits from the role's resource; requests = limits minus the reservations."""
    res = role.resource
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    if res.cpu > 0:
        mcpu = int(res.cpu * 1000)
        limits["cpu"] = f"{mcpu}m"
        requests["cpu"] = f"{max(mcpu - opts.reserved_millicpu, 0)}m"
    if res.memMB > 0:
        limits["memory"] = f"{res.memMB}M"
        requests["memory"] = f"{max(res.memMB - opts.reserved_memmb, 0)}M"
    if res.gpu > 0:
        limits["nvidia.com/gpu"] = requests["nvidia.com/gpu"] = str(res.gpu)
    devices = dict(res.devices)
    if opts.efa_device_count is not None:
        devices.pop(EFA_DEVICE, None)
        if opts.efa_device_count > 0:
            devices[EFA_DEVICE] = opts.efa_device_count
    for dev, count in devices.items():
        limits[dev] = str(count)
    out: dict[str, dict[str, str]] = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def _env_var(name: str, value: str, live: str) -> dict[str, Any]:
    if value.startswith(FIELD_PATH):
        return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": value[len(FIELD_PATH):]}}}
    return {"name": name, "value": _render(value, live)}


def _mounts(role: Role) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    volumes: list[dict[str, Any]] = [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]
    mounts: list[dict[str, Any]] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    privileged = False
    for i, m in enumerate(role.mounts):
        name = f"mount-{i}"
        if isinstance(m, BindMount):
            volumes.append({"name": name, "hostPath": {"path": m.src_path}})
            mounts.append({"name": name, "mountPath": m.dst_path, "readOnly": m.read_only})
        elif isinstance(m, VolumeMount):
            volumes.append({"name": name, "persistentVolumeClaim": {"claimName": m.src}})
            mounts.append({"name": name, "mountPath": m.dst_path, "readOnly": m.read_only})
        elif isinstance(m, DeviceMount):
            volumes.append({"name": name, "hostPath": {"path": m.src_path}})
            mounts.append({"name": name, "mountPath": m.dst_path,
                           "readOnly": "w" not in m.permissions})
            privileged = True
    return volumes, mounts, privileged


def _port_name(name: str) -> str | None:
    """``name`` as an IANA service name (<= 15, [a-z0-9-], a letter), or None if impossible."""
    n = re.sub(r"-+", "-", normalize(name))[:15].strip("-")
    return n if n and re.search(r"[a-z]", n) else None


def pod_template(
    role: Role,
    *,
    container: str,
    values: macros.Values,
    opts: PodOptions,
    labels: Mapping[str, str],
    env: Mapping[str, str],
    live: str = "",
) -> dict[str, Any]:
    """The pod (``{metadata, spec}``, a PodTemplateSpec) one replica of ``role`` runs in.

    ``values`` fills the macros; a value equal to :py:data:`LIVE` is written unescaped as
    ``live`` (e.g. ``$(TORCHX_REPLICA_ID)``). ``env`` is added after the role's env.
    """
    if role.entrypoint in (MISSING, ""):
        raise TorchXError(f"role `{role.name}` has no entrypoint")
    r = values.apply(role)
    container_env = [_env_var(k, v, live) for k, v in {**r.env, **env}.items()]
    volumes, mounts, privileged = _mounts(role)
    ports: list[dict[str, Any]] = []
    for pname, port in role.port_map.items():
        p: dict[str, Any] = {"containerPort": int(port)}
        clean = _port_name(pname)
        if clean and clean not in {q.get("name") for q in ports}:
            p["name"] = clean
        ports.append(p)
    c: dict[str, Any] = {
        "name": container,
        "image": role.image,
        "command": [_render(r.entrypoint, live), *(_render(a, live) for a in r.args)],
        "env": container_env,
        "resources": resources(role, opts),
        "volumeMounts": mounts,
    }
    if ports:
        c["ports"] = ports
    if privileged:
        c["securityContext"] = {"privileged": True}
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [c], "volumes": volumes}
    node_selector = dict(opts.node_selector)
    itype = role.resource.capabilities.get(INSTANCE_TYPE)
    if itype:
        node_selector.setdefault(INSTANCE_TYPE, str(itype))
    if node_selector:
        spec["nodeSelector"] = node_selector
    if opts.tolerations:
        spec["tolerations"] = [dict(t) for t in opts.tolerations]
    if opts.service_account:
        spec["serviceAccountName"] = opts.service_account
    if opts.priority_class:
        spec["priorityClassName"] = opts.priority_class
    if opts.scheduler_name:
        spec["schedulerName"] = opts.scheduler_name
    if opts.image_pull_secret:
        spec["imagePullSecrets"] = [{"name": opts.image_pull_secret}]
    if opts.hostname:
        spec["hostname"] = opts.hostname
    if opts.subdomain:
        spec["subdomain"] = opts.subdomain
    annotations = {"sidecar.istio.io/inject": "false", ANNOTATION_ROLE: role.name,
                   DEFAULT_CONTAINER: container, **opts.annotations}
    return {"metadata": {"labels": dict(labels), "annotations": annotations}, "spec": spec}


def apply_pod_overlay(role: Role, pod: dict[str, Any]) -> dict[str, Any]:
    """``pod`` with the role's ``V1Pod`` overlay (``torchx.specs.overlays``,
    ``get_overlay(role, "kubernetes", "V1Pod")``) merged in, as upstream: the overlay is applied
    to a whole Pod and only its ``metadata`` and ``spec`` are kept."""
    from torchx.specs import overlays

    overlay = overlays.get_overlay(role, "kubernetes", "V1Pod")
    if not overlay:
        return pod
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", **pod}
    try:
        overlays.apply_overlay(merged, overlay)
    except (TypeError, ValueError) as e:
        raise TorchXError(f"role `{role.name}`: the kubernetes V1Pod overlay does not fit the"
                          f" pod: {e}") from None
    return {"metadata": merged.get("metadata", {}), "spec": merged.get("spec", {})}


def to_yaml(docs: list[Any]) -> str:
    """``docs`` as a YAML stream (block style, keys in insertion order)."""
    try:
        import yaml  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise TorchXError("Kubernetes support needs PyYAML and the kubernetes client:"
                          " pip install 'torchx[kubernetes]'") from None

    class _NoAliases(yaml.SafeDumper):  # type: ignore[misc,unused-ignore]
        def ignore_aliases(self, data: Any) -> bool:
            return True  # shared dicts (labels, resources) are written out each time

    return str(yaml.dump_all(docs, Dumper=_NoAliases, sort_keys=False, default_flow_style=False,
                             width=100))


# --------------------------------------------------------------------------- the API seam


class KubeApiError(TorchXError):
    """The API server refused a request; ``status`` is the HTTP status (0: unreachable)."""

    def __init__(self, msg: str, status: int = 0, reason: str = "") -> None:
        super().__init__(msg)
        self.status = status
        self.reason = reason


def kubeconfig() -> str:
    """``$KUBECONFIG`` (read now: the client reads it once, at import) or ``~/.kube/config``."""
    return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def _kubernetes() -> Any:
    try:
        import kubernetes
    except ImportError:
        raise TorchXError("Kubernetes support needs the kubernetes client:"
                          " pip install 'torchx[kubernetes]'") from None
    return kubernetes


class KubeClient:
    """Every Kubernetes API call goes through :py:meth:`call` (``calls`` counts them).

    The client connects on first use: in-cluster credentials when running in a pod, otherwise
    the kubeconfig (``KUBECONFIG`` or ``~/.kube/config``, current context). Pass ``api_client``
    (a ``kubernetes.client.ApiClient``) to use another configuration.
    """

    timeout = 60.0

    def __init__(self, api_client: Any | None = None) -> None:
        self._api_client = api_client
        self._apis: dict[str, Any] = {}
        self.calls = 0

    def api_client(self) -> Any:
        if self._api_client is None:
            k8s = _kubernetes()
            if os.environ.get("KUBERNETES_SERVICE_HOST"):
                cfg = k8s.client.Configuration()
                try:
                    k8s.config.load_incluster_config(client_configuration=cfg)
                    self._api_client = k8s.client.ApiClient(cfg)
                    return self._api_client
                except k8s.config.ConfigException:
                    pass
            try:
                self._api_client = k8s.config.new_client_from_config(config_file=kubeconfig())
            except (k8s.config.ConfigException, OSError) as e:
                where = os.environ.get("KUBECONFIG") or "~/.kube/config"
                raise KubeApiError(
                    f"no usable Kubernetes configuration in {where} ({e}): point KUBECONFIG at"
                    " your cluster's kubeconfig (`kubectl config view` should show it)"
                ) from None
        return self._api_client

    @property
    def host(self) -> str:
        return str(getattr(self.api_client().configuration, "host", "?"))

    def call(self, api: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``kubernetes.client.<api>(...).<method>(*args, **kwargs)``; the decoded JSON answer."""
        resp = self.raw(api, method, *args, **kwargs)
        data = resp.data
        return json.loads(data) if data else {}

    def raw(self, api: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """The undecoded urllib3 response (for streams such as logs)."""
        k8s = _kubernetes()
        client = self.api_client()
        if api not in self._apis:
            self._apis[api] = getattr(k8s.client, api)(client)
        kwargs.setdefault("_request_timeout", self.timeout)
        self.calls += 1
        try:
            return getattr(self._apis[api], method)(*args, _preload_content=False, **kwargs)
        except k8s.client.ApiException as e:
            raise _api_error(e) from None
        except ValueError as e:  # the client's own checks of the body (pydantic in >= 36)
            text = "; ".join(ln.strip() for ln in str(e).splitlines()[:4] if ln.strip())
            raise KubeApiError(f"the kubernetes client refused the request: {text}") from None
        except Exception as e:  # urllib3 connection errors and the like
            if type(e).__module__.startswith(("urllib3", "socket", "ssl")) or isinstance(e, OSError):
                raise KubeApiError(
                    f"cannot reach the Kubernetes API server at {self.host} ({_short(e)}): check"
                    " that the cluster is up and KUBECONFIG names it (`kubectl cluster-info`)"
                ) from None
            raise


def _short(e: BaseException) -> str:
    text = str(getattr(e, "reason", None) or e)
    return text.splitlines()[0][:200] if text else type(e).__name__


def _api_error(e: Any) -> KubeApiError:
    status = int(getattr(e, "status", 0) or 0)
    message, reason = "", str(getattr(e, "reason", "") or "")
    try:
        body = json.loads(getattr(e, "body", None) or "{}")
        message, reason = str(body.get("message", "")), str(body.get("reason", reason))
    except (ValueError, AttributeError):
        message = str(getattr(e, "body", "") or "")
    text = message or reason or f"HTTP {status}"
    hint = {
        401: ": your credentials were refused; refresh them (e.g. log in to the cluster again)",
        403: ": ask for RBAC permission, or use a namespace you may write to (`-cfg namespace=`)",
    }.get(status, "")
    return KubeApiError(f"Kubernetes API error {status}: {text}{hint}", status, reason)


def context_namespace() -> str | None:
    """The namespace of the current kube context (or of the pod when in-cluster), if any."""
    sa = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    if os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(sa):
        with open(sa) as f:
            return f.read().strip() or None
    try:
        k8s = _kubernetes()
        _, active = k8s.config.list_kube_config_contexts(config_file=kubeconfig())
    except Exception:  # no kubeconfig, no package: the caller falls back to "default"
        return None
    ns = (active or {}).get("context", {}).get("namespace")
    return str(ns) if ns else None


# --------------------------------------------------------------------------- logs


_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d) ?")


def split_timestamp(line: str) -> tuple[datetime | None, str]:
    """A ``timestamps=true`` log line -> (its time, the line without the stamp)."""
    m = _TS.match(line)
    if not m:
        return None, line
    frac = (m.group(2) or "")[:7]
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    try:
        ts = datetime.fromisoformat(m.group(1) + frac + tz)
    except ValueError:
        return None, line
    return ts, line[m.end():]


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.astimezone(timezone.utc)


def log_lines(
    chunks: Iterator[bytes], since: datetime | None, until: datetime | None
) -> Iterator[str]:
    """Lines (ending in ``\\n``) of a timestamped log stream, kept within [since, until]."""
    lo = _aware(since) if since else None
    hi = _aware(until) if until else None
    buf = b""
    for chunk in chunks:
        buf += chunk
        *whole, buf = buf.split(b"\n")
        for raw in whole:
            ts, text = split_timestamp(raw.decode(errors="replace"))
            if ts is not None and lo is not None and ts < lo:
                continue
            if ts is not None and hi is not None and ts > hi:
                return
            yield text + "\n"
    if buf:
        ts, text = split_timestamp(buf.decode(errors="replace"))
        if not (ts and ((lo and ts < lo) or (hi and ts > hi))):
            yield text + "\n"


# --------------------------------------------------------------------------- reading pods

INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
"""Where the Job controller writes an Indexed Job pod's completion index."""


def parse_app_id(app_id: str) -> tuple[str | None, str]:
    """``<namespace>:<name>`` -> (namespace, name); a bare name has no namespace."""
    ns, sep, name = app_id.rpartition(":")
    return (ns or None) if sep else None, name


def latest(pods: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The most recently created of ``pods`` (retries leave older ones behind)."""
    return max(pods, key=lambda p: str(p.get("metadata", {}).get("creationTimestamp") or ""))


def pod_key(pod: Mapping[str, Any]) -> tuple[str, int] | None:
    meta = pod.get("metadata", {})
    ann, labels = meta.get("annotations") or {}, meta.get("labels") or {}
    role = ann.get(ANNOTATION_ROLE) or labels.get(LABEL_ROLE_NAME)
    idx = labels.get(LABEL_REPLICA_ID, ann.get(INDEX_ANNOTATION, labels.get(INDEX_ANNOTATION)))
    if role is None or idx is None or not str(idx).isdigit():
        return None
    return str(role), int(idx)


def pods_by_replica(pods: Iterable[Mapping[str, Any]]) -> dict[tuple[str, int], Mapping[str, Any]]:
    groups: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for pod in pods:
        key = pod_key(pod)
        if key is not None:
            groups.setdefault(key, []).append(pod)
    return {k: latest(v) for k, v in groups.items()}


def role_from_template(name: str, n: int, tmpl: Mapping[str, Any]) -> Role:
    """A Role as far as a pod template tells: image, command, env (without what torchx added),
    replicas and the resource limits."""
    c = (tmpl.get("spec", {}).get("containers") or [{}])[0]
    cmd = [s.replace("$$", "$") for s in c.get("command") or [""]]
    env = {e["name"]: str(e.get("value", "")).replace("$$", "$")
           for e in c.get("env") or [] if "value" in e and e["name"] not in _ADDED_ENV}
    limits = c.get("resources", {}).get("limits", {})
    cpu = str(limits.get("cpu", ""))
    mem = re.fullmatch(r"(\d+)M", str(limits.get("memory", "")))
    res = Resource(
        cpu=int(cpu[:-1]) // 1000 if cpu.endswith("m") and cpu[:-1].isdigit() else
        int(cpu) if cpu.isdigit() else -1,
        gpu=int(limits.get("nvidia.com/gpu", -1)),
        memMB=int(mem.group(1)) if mem else -1,
        devices={k: int(v) for k, v in limits.items()
                 if k not in ("cpu", "memory", "nvidia.com/gpu") and str(v).isdigit()},
    )
    return Role(name=name, image=str(c.get("image", "")), entrypoint=cmd[0], args=cmd[1:],
                env=env, num_replicas=n, resource=res)


_ADDED_ENV = frozenset({RANK0_ENV, IMAGE_ENV, "TORCHX_REPLICA_ID"})


def replica_log(
    kube: KubeClient,
    ns: str,
    name: str,
    role_name: str,
    k: int,
    since: datetime | None,
    until: datetime | None,
    should_tail: bool,
    done: Callable[[], bool],
) -> Iterator[str]:
    """Lines of replica ``k`` of ``role_name``'s newest pod among app ``name``'s pods (its main
    container). While tailing, waits for the pod to leave Pending (until ``done()``)."""

    def find() -> tuple[Mapping[str, Any] | None, dict[tuple[str, int], Mapping[str, Any]]]:
        out = kube.call("CoreV1Api", "list_namespaced_pod", ns,
                        label_selector=f"{LABEL_INSTANCE}={name}")
        pods = pods_by_replica(out.get("items") or [])
        return pods.get((role_name, k)), pods

    pod, pods = find()
    while pod is None or (should_tail and pod.get("status", {}).get("phase") == "Pending"):
        if pod is None and not should_tail:
            have = sorted(f"{r}[{i}]" for r, i in pods)
            raise TorchXError(
                f"app `{ns}:{name}` has no pod for replica {k} of role `{role_name}` (yet);"
                f" replicas with pods: {', '.join(have) or 'none'}"
                " (`torchx status` says why a replica is not running)")
        if done():
            if pod is None:
                raise TorchXError(f"replica {role_name}[{k}] of `{ns}:{name}` never started")
            break
        time.sleep(1.0)
        pod, pods = find()
    meta = pod["metadata"]
    container = meta.get("annotations", {}).get(DEFAULT_CONTAINER) or \
        pod["spec"]["containers"][0]["name"]
    kw: dict[str, Any] = {"container": container, "timestamps": True, "follow": should_tail}
    if since is not None:
        age = (datetime.now(timezone.utc) - _aware(since)).total_seconds()
        kw["since_seconds"] = max(int(age) + 1, 1)
    if should_tail:
        kw["_request_timeout"] = None
    resp = kube.raw("CoreV1Api", "read_namespaced_pod_log", meta["name"], ns, **kw)
    return log_lines(_chunks(resp), since, until)


def unshipped_workspace(roles: Iterable[Role], cfg: Mapping[str, Any]) -> str | None:
    """Why a workspace is not built, or None: a local image is of no use to the cluster, so
    workspaces are built and pushed only with ``image_repo``."""
    if any(r.workspace for r in roles) and not cfg.get("image_repo"):
        return ("the workspace is not shipped: the cluster cannot pull a local image; add"
                " `-cfg image_repo=<registry>/<repository>` to build and push it, or pass"
                " `--workspace ''` to silence this")
    return None


def pod_log_iter(sched: Scheduler[Any], kube: KubeClient, namespace: Callable[[object], str],
                 app_id: str, role_name: str, k: int, regex: str | None, since: datetime | None,
                 until: datetime | None, should_tail: bool,
                 streams: Stream | None) -> Iterable[str]:
    """``log_iter`` of the pod schedulers: replica ``k``'s pod log (one interleaved stream),
    tailed until ``sched`` says the app is done; ``namespace`` resolves the app's namespace."""
    if streams not in (None, Stream.COMBINED):
        raise TorchXError(
            f"{sched.backend} keeps one interleaved log per container: use --streams combined"
            f" (or omit it), not `{Stream(streams).value}`")
    ns_given, name = parse_app_id(app_id)
    ns = namespace(ns_given)

    def done() -> bool:
        d = sched.describe(app_id)
        return d is None or d.state.is_terminal()

    try:
        lines = replica_log(kube, ns, name, role_name, k, since, until, should_tail, done)
    except TorchXError:
        if not sched.exists(app_id):
            raise UnknownAppException(app_id) from None
        raise
    return filter_regex(regex, lines) if regex else lines


def _chunks(resp: Any) -> Iterator[bytes]:
    """The body as it arrives: chunk by chunk (the API server streams logs chunked), or
    whatever is available (``read1``) for an unchunked stream, never waiting for a full buffer."""
    try:
        if getattr(resp, "chunked", False) or not hasattr(resp, "read1"):
            yield from resp.stream(4096, decode_content=True)
        else:
            while data := resp.read1(4096):
                yield data
    finally:
        resp.release_conn()
