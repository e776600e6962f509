"""A FAKE Kubernetes API server for the kubernetes and kubernetes_mcad scheduler tests.

Why a fake: no Kubernetes API server (nor kind/minikube/k3s, which need container runtimes and
images from the internet) can be installed on these machines, so the client-facing code is
tested against this loopback HTTP server instead (stdlib ``http.server`` in a thread). The real
``kubernetes`` client talks to it through a kubeconfig pointing at its URL.

It cannot accept what a real server would refuse, as far as it checks: every Pod, Service and
``batch/v1`` Job it receives, and every pod template inside a Job, a Volcano Job or an
AppWrapper, is validated strictly against the Kubernetes OpenAPI schemas bundled with
``kubernetes-validate`` (unknown fields are errors), plus the rules the API server adds that no
schema states (DNS-1123/1035 names, label keys and values, IANA port names and port ranges,
volume mounts that name a volume, a Job's restartPolicy, names of 63 characters at most for
Jobs and Services).

What it does not do: run controllers or a scheduler. Tests play the controllers: they create
the pods a Volcano or Job controller would (:py:meth:`FakeKubeApiServer.volcano_pods`,
:py:meth:`batch_pods`, :py:meth:`appwrapper_pods`), set phases, container statuses, events and
pod logs, and the fake serves them back (GET/LIST with label selectors, merge PATCH, DELETE
with owner garbage collection, ``dryRun=All``, pod logs with ``timestamps``/``sinceSeconds``/
``follow``). ``requests`` records every call (method, path) for call-count assertions.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

K8S_VERSION = "1.37.0"
_VALIDATORS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()

# path regex -> resource key; group(1) namespace, group(2) name, group(3) subresource
_ROUTES = [
    (r"/apis/batch\.volcano\.sh/v1alpha1/namespaces/([^/]+)/jobs", "volcano"),
    (r"/apis/workload\.codeflare\.dev/v1beta1/namespaces/([^/]+)/appwrappers", "appwrapper"),
    (r"/apis/batch/v1/namespaces/([^/]+)/jobs", "job"),
    (r"/api/v1/namespaces/([^/]+)/services", "service"),
    (r"/api/v1/namespaces/([^/]+)/pods", "pod"),
    (r"/api/v1/namespaces/([^/]+)/events", "event"),
    (r"/api/v1/namespaces/([^/]+)/configmaps", "configmap"),
]
_KINDS = {
    "volcano": ("batch.volcano.sh/v1alpha1", "Job"),
    "appwrapper": ("workload.codeflare.dev/v1beta1", "AppWrapper"),
    "job": ("batch/v1", "Job"),
    "service": ("v1", "Service"),
    "pod": ("v1", "Pod"),
    "configmap": ("v1", "ConfigMap"),
}
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
IANA_SVC = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class Invalid(Exception):
    def __init__(self, msg: str, code: int = 422, reason: str = "Invalid") -> None:
        super().__init__(msg)
        self.code, self.reason = code, reason


def _validator(api_version: str, kind: str) -> Any:
    """A cached strict validator for one kind (kubernetes-validate's schema files)."""
    key = (api_version, kind)
    with _LOCK:
        if key not in _VALIDATORS:
            import jsonschema
            from kubernetes_validate.utils import schema_contents
            from referencing import Registry, Resource

            group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
            d = f"kubernetes-json-schema/v{K8S_VERSION}-local-strict"
            schema = schema_contents(f"{d}/{kind.lower()}-{group}.json", K8S_VERSION)
            defs = schema_contents(f"{d}/_definitions.json", K8S_VERSION)
            registry = Resource.from_contents(defs) @ (Resource.from_contents(schema) @ Registry())
            _VALIDATORS[key] = jsonschema.Draft202012Validator(schema, registry=registry)
        return _VALIDATORS[key]


def validate_core(obj: dict[str, Any]) -> None:
    """Strict schema check of a Pod, Service or batch/v1 Job, plus server-side rules."""
    errors = sorted(_validator(obj["apiVersion"], obj["kind"]).iter_errors(obj),
                    key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        raise Invalid(f"{obj['kind']} {obj.get('metadata', {}).get('name')!r} is invalid:"
                      f" {'.'.join(map(str, e.path))}: {e.message}")
    meta = obj.get("metadata", {})
    _check_meta(meta, obj["kind"])
    if obj["kind"] == "Pod":
        check_pod_spec(obj["spec"], where=f"Pod {meta.get('name')}")
    elif obj["kind"] == "Job":
        check_template(obj["spec"]["template"], f"Job {meta['name']}")
        if obj["spec"]["template"]["spec"].get("restartPolicy") not in ("Never", "OnFailure"):
            raise Invalid("spec.template.spec.restartPolicy: Unsupported value: must be Never or"
                          " OnFailure for a Job")
        if len(meta["name"]) > 63:
            raise Invalid(f"Job name {meta['name']!r}: must be no more than 63 characters")
    elif obj["kind"] == "Service":
        if not DNS1035_LABEL.match(meta.get("name", "")) or len(meta["name"]) > 63:
            raise Invalid(f"Service name {meta.get('name')!r}: a DNS-1035 label must consist of"
                          " lower case alphanumerics or '-', start with a letter")
        for p in obj["spec"].get("ports") or []:
            if not 0 < int(p["port"]) < 65536:
                raise Invalid(f"Service port {p['port']}: must be between 1 and 65535, inclusive")
            if "name" in p and not IANA_SVC.match(p["name"]):
                raise Invalid(f"Service port name {p['name']!r} is not an IANA_SVC_NAME")


def _check_labels(labels: dict[str, Any], where: str) -> None:
    for k, v in labels.items():
        prefix, _, name = k.rpartition("/")
        if (prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix))) or \
                not name or len(name) > 63 or not LABEL_VALUE.match(name):
            raise Invalid(f"{where}: invalid label key {k!r}")
        if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
            raise Invalid(f"{where}: invalid label value {v!r} for {k!r}: must be 63 characters"
                          " or less, alphanumerics, '-', '_' or '.', alphanumeric at both ends")


def _check_meta(meta: dict[str, Any], kind: str) -> None:
    name = meta.get("name", "")
    if not name or len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        raise Invalid(f"{kind} name {name!r}: a lowercase RFC 1123 subdomain is required")
    _check_labels(meta.get("labels") or {}, f"{kind} {name}")
    for k, v in (meta.get("annotations") or {}).items():
        if not isinstance(v, str):
            raise Invalid(f"{kind} {name}: annotation {k!r} must be a string")


def check_pod_spec(spec: dict[str, Any], where: str) -> None:
    volumes = {v["name"] for v in spec.get("volumes") or []}
    for v in volumes:
        if not DNS1123_LABEL.match(v) or len(v) > 63:
            raise Invalid(f"{where}: volume name {v!r} is not a DNS-1123 label")
    names = set()
    for c in [*(spec.get("initContainers") or []), *spec["containers"]]:
        if not DNS1123_LABEL.match(c["name"]) or len(c["name"]) > 63:
            raise Invalid(f"{where}: container name {c['name']!r} is not a DNS-1123 label")
        if c["name"] in names:
            raise Invalid(f"{where}: duplicate container name {c['name']!r}")
        names.add(c["name"])
        for p in c.get("ports") or []:
            if not 0 < int(p["containerPort"]) < 65536:
                raise Invalid(f"{where}: containerPort {p['containerPort']}: must be between 1"
                              " and 65535, inclusive")
            if "name" in p and (len(p["name"]) > 15 or not IANA_SVC.match(p["name"])):
                raise Invalid(f"{where}: port name {p['name']!r} is not an IANA_SVC_NAME")
        for m in c.get("volumeMounts") or []:
            if m["name"] not in volumes:
                raise Invalid(f"{where}: volumeMounts {m['name']!r} names no volume")
    for key in ("hostname", "subdomain"):
        if key in spec and (not DNS1123_LABEL.match(spec[key]) or len(spec[key]) > 63):
            raise Invalid(f"{where}: spec.{key} {spec[key]!r} is not a DNS-1123 label")


def check_template(tmpl: dict[str, Any], where: str) -> None:
    """A pod template, validated strictly as the Pod it becomes."""
    meta = {"name": "template-check", **copy.deepcopy(tmpl.get("metadata") or {})}
    validate_core({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tmpl["spec"]})


def validate_custom(key: str, obj: dict[str, Any]) -> None:
    """Volcano Jobs and AppWrappers: their shape, and every embedded pod/service strictly."""
    meta = obj.get("metadata", {})
    _check_meta(meta, obj.get("kind", "?"))
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise Invalid(f"{obj.get('kind')} {meta.get('name')}: spec is required")
    if key == "volcano":
        for t in spec.get("tasks") or []:
            if not DNS1123_LABEL.match(t.get("name", "")):
                raise Invalid(f"task name {t.get('name')!r} is not a DNS-1123 label")
            check_template(t["template"], f"task {t['name']}")
            pod = f"{meta['name']}-{t['name']}-0"
            if len(pod) > 63:
                raise Invalid(f"pod name {pod!r} would exceed 63 characters")
    elif key == "appwrapper":
        items = spec.get("resources", {}).get("GenericItems")
        if not isinstance(items, list) or not items:
            raise Invalid("spec.resources.GenericItems: at least one item is required")
        for item in items:
            tmpl = item.get("generictemplate") or {}
            if tmpl.get("kind") in ("Pod", "Service"):
                validate_core(tmpl)
            elif not tmpl.get("kind") or not tmpl.get("apiVersion"):
                raise Invalid("generictemplate needs apiVersion and kind")


def _merge(base: Any, patch: Any) -> Any:
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return copy.deepcopy(patch)
    out = dict(base)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k) != v:
                return False
        elif labels.get(term) is None:
            return False
    return True


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeKubeApiServer:
    """See the module doc. Use as a context manager; ``url`` is its address."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.logs: dict[tuple[str, str, str], list[tuple[datetime, str]]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str]] = []
        self.missing: set[str] = set()
        """Resource keys (e.g. ``volcano``) whose API is not installed: 404 for every call."""
        self.lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.stopping = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeKubeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping = True
        self._server.shutdown()
        self._server.server_close()

    def calls(self, method: str | None = None) -> int:
        return sum(1 for m, _ in self.requests if method is None or m == method)

    # ---- playing the controllers

    def get(self, key: str, ns: str, name: str) -> dict[str, Any]:
        return self.objects[(key, ns, name)]

    def of(self, key: str, ns: str | None = None) -> list[dict[str, Any]]:
        return [o for (k, n, _), o in self.objects.items() if k == key and ns in (None, n)]

    def put(self, key: str, obj: dict[str, Any], ns: str = "default") -> dict[str, Any]:
        """Store ``obj`` as a controller would create it (validated when core)."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", ns)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_iso())
        meta.setdefault("resourceVersion", "1")
        if obj.get("kind") in ("Pod", "Service") or key == "job":
            validate_core(obj)
        with self.lock:
            self.objects[(key, meta["namespace"], meta["name"])] = obj
        return obj

    def set_status(self, key: str, ns: str, name: str, status: dict[str, Any]) -> None:
        with self.lock:
            self.objects[(key, ns, name)]["status"] = status

    def _pod(self, ns: str, name: str, tmpl: dict[str, Any], owner: dict[str, Any],
             phase: str, labels: dict[str, str], annotations: dict[str, str],
             ip: str) -> dict[str, Any]:
        spec = copy.deepcopy(tmpl["spec"])
        meta = copy.deepcopy(tmpl.get("metadata") or {})
        meta["name"] = name
        meta.setdefault("labels", {}).update(labels)
        meta.setdefault("annotations", {}).update(annotations)
        meta["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                    "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"]}]
        status: dict[str, Any] = {"phase": phase}
        if phase != "Pending":
            status["podIP"] = ip
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
               "status": status}
        return self.put("pod", pod, ns)

    def volcano_pods(self, ns: str, name: str, phase: str = "Running") -> list[dict[str, Any]]:
        """The pods Volcano creates: ``<job>-<task>-0``, hostname = pod name, subdomain = job."""
        job = self.get("volcano", ns, name)
        out = []
        for i, t in enumerate(job["spec"]["tasks"]):
            pod_name = f"{name}-{t['name']}-0"
            tmpl = copy.deepcopy(t["template"])
            tmpl["spec"].update({"hostname": pod_name, "subdomain": name,
                                 "schedulerName": "volcano"})
            out.append(self._pod(ns, pod_name, tmpl, job, phase,
                                 {"volcano.sh/job-name": name, "volcano.sh/task-spec": t["name"]},
                                 {"volcano.sh/task-index": "0"}, f"10.0.0.{i + 1}"))
        return out

    def batch_pods(self, ns: str, job_name: str, phase: str = "Running",
                   indexes: list[int] | None = None) -> list[dict[str, Any]]:
        """The pods the Job controller creates for an Indexed Job."""
        job = self.get("job", ns, job_name)
        out = []
        for i in indexes if indexes is not None else range(job["spec"]["completions"]):
            tmpl = copy.deepcopy(job["spec"]["template"])
            tmpl["spec"]["hostname"] = f"{job_name}-{i}"
            idx = {"batch.kubernetes.io/job-completion-index": str(i)}
            out.append(self._pod(ns, f"{job_name}-{i}-{secrets.token_hex(3)[:5]}", tmpl, job,
                                 phase, {"batch.kubernetes.io/job-name": job_name, **idx}, idx,
                                 f"10.0.1.{i + 1}"))
        return out

    def appwrapper_pods(self, ns: str, name: str, phase: str = "Running") -> list[dict[str, Any]]:
        """The pods MCAD creates from an AppWrapper's Pod items."""
        aw = self.get("appwrapper", ns, name)
        out = []
        for i, item in enumerate(aw["spec"]["resources"]["GenericItems"]):
            tmpl = item["generictemplate"]
            if tmpl.get("kind") != "Pod":
                continue
            out.append(self._pod(ns, tmpl["metadata"]["name"], tmpl, aw, phase,
                                 {"workload.codeflare.dev/appwrapper": name}, {},
                                 f"10.0.2.{i + 1}"))
        return out

    def set_pod(self, ns: str, name: str, phase: str | None = None, **status: Any) -> None:
        with self.lock:
            pod = self.objects[("pod", ns, name)]
            if phase:
                pod["status"]["phase"] = phase
            pod["status"].update(status)
        validate_core(pod)

    def add_log(self, ns: str, pod: str, container: str, lines: list[str],
                start: datetime | None = None, step: float = 1.0) -> None:
        t = start or datetime.now(timezone.utc)
        with self.lock:
            buf = self.logs.setdefault((ns, pod, container), [])
            for i, line in enumerate(lines):
                buf.append((t + timedelta(seconds=i * step), line))

    def add_event(self, ns: str, kind: str, name: str, reason: str, message: str,
                  type_: str = "Warning") -> None:
        with self.lock:
            self.events.setdefault(ns, []).append({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{name}.{secrets.token_hex(4)}", "namespace": ns},
                "involvedObject": {"kind": kind, "name": name, "namespace": ns},
                "reason": reason, "message": message, "type": type_,
                "lastTimestamp": now_iso(),
            })

    # ---- the API

    def handle(self, method: str, path: str, query: dict[str, list[str]],
               body: Any) -> tuple[int, Any]:
        found = [(m, key) for pattern, key in _ROUTES
                 if (m := re.fullmatch(pattern + r"(?:/([^/]+))?(?:/(status|log))?", path))]
        if not found:
            raise Invalid(f"the server could not find the requested resource ({path})", 404,
                          "NotFound")
        m, key = found[0]
        if key in self.missing:
            raise Invalid("the server could not find the requested resource", 404, "NotFound")
        ns, name, sub = m.group(1), m.group(2), m.group(3)
        q = {k: v[-1] for k, v in query.items()}
        with self.lock:
            if key == "event":
                return 200, {"kind": "EventList", "apiVersion": "v1",
                             "items": copy.deepcopy(self.events.get(ns, []))}
            if name is None and method == "GET":
                sel = q.get("labelSelector", "")
                items = [copy.deepcopy(o) for (k, n, _), o in self.objects.items()
                         if k == key and n == ns
                         and _matches(o["metadata"].get("labels") or {}, sel)]
                return 200, {"kind": "List", "apiVersion": "v1", "items": items,
                             "metadata": {"resourceVersion": "1"}}
            if name is None and method == "POST":
                return self._create(key, ns, body, q.get("dryRun") == "All")
            obj = self.objects.get((key, ns, name or ""))
            if obj is None:
                raise Invalid(f'{key} "{name}" not found', 404, "NotFound")
            if method == "GET":
                return 200, copy.deepcopy(obj)
            if method == "PATCH":
                if sub == "status":
                    obj["status"] = _merge(obj.get("status") or {}, (body or {}).get("status", {}))
                else:
                    patched = _merge(obj, body)
                    if key == "job":
                        validate_core(patched)
                    self.objects[(key, ns, name or "")] = obj = patched
                obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
                return 200, copy.deepcopy(obj)
            if method == "DELETE":
                del self.objects[(key, ns, name or "")]
                uid = obj["metadata"]["uid"]
                for k in [k for k, o in self.objects.items()
                          if any(r.get("uid") == uid
                                 for r in o["metadata"].get("ownerReferences") or [])]:
                    del self.objects[k]
                return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
        raise Invalid(f"method {method} not allowed", 405, "MethodNotAllowed")

    def _create(self, key: str, ns: str, body: Any, dry_run: bool) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise Invalid("the body must be an object", 400, "BadRequest")
        want = _KINDS.get(key)
        if want and (body.get("apiVersion"), body.get("kind")) != want:
            raise Invalid(f"expected {want[0]} {want[1]}, got {body.get('apiVersion')}"
                          f" {body.get('kind')}", 400, "BadRequest")
        if key in ("volcano", "appwrapper"):
            validate_custom(key, body)
        else:
            validate_core(body)
        name = body["metadata"]["name"]
        if (key, ns, name) in self.objects:
            raise Invalid(f'{key} "{name}" already exists', 409, "AlreadyExists")
        if dry_run:
            return 201, body
        return 201, self.put(key, body, ns)

    def log(self, ns: str, pod: str, q: dict[str, str]) -> tuple[int, Any]:
        with self.lock:
            obj = self.objects.get(("pod", ns, pod))
            if obj is None:
                raise Invalid(f'pods "{pod}" not found', 404, "NotFound")
            names = [c["name"] for c in obj["spec"]["containers"]]
            container = q.get("container") or (names[0] if len(names) == 1 else "")
            if container not in names:
                raise Invalid(f"container {container!r} is not valid for pod {pod}", 400,
                              "BadRequest")
            if obj["status"].get("phase") == "Pending":
                raise Invalid(f'container "{container}" in pod "{pod}" is waiting to start:'
                              " ContainerCreating", 400, "BadRequest")
        return 200, (ns, pod, container)

    def log_lines(self, key: tuple[str, str, str], q: dict[str, str]) -> Any:
        """Yield encoded log lines; follows (polling) while the pod is not terminal."""
        since = None
        if q.get("sinceSeconds"):
            since = datetime.now(timezone.utc) - timedelta(seconds=int(q["sinceSeconds"]))
        sent = 0
        while True:
            with self.lock:
                lines = list(self.logs.get(key, []))
                pod = self.objects.get(("pod", key[0], key[1]))
                done = pod is None or pod["status"].get("phase") in ("Succeeded", "Failed")
            for ts, line in lines[sent:]:
                if since is None or ts >= since:
                    stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + " " \
                        if q.get("timestamps") == "true" else ""
                    yield (stamp + line + "\n").encode()
            sent = len(lines)
            if q.get("follow") != "true" or done or self.stopping:
                return
            time.sleep(0.05)


def _handler(fake: FakeKubeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no 40 ms Nagle/delayed-ACK stall per response
        wbufsize = 1 << 16  # headers and body leave in one write

        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self, method: str) -> None:
            url = urlparse(self.path)
            with fake.lock:
                fake.requests.append((method, url.path))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
                query = parse_qs(url.query)
                if url.path.endswith("/log") and method == "GET":
                    m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/log", url.path)
                    if not m:
                        raise Invalid("not found", 404, "NotFound")
                    q = {k: v[-1] for k, v in query.items()}
                    _, key = fake.log(m.group(1), m.group(2), q)
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for chunk in fake.log_lines(key, q):  # as the API server: chunked
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    self.close_connection = True
                    return
                code, out = fake.handle(method, url.path, query, body)
            except Invalid as e:
                code, out = e.code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                     "message": str(e), "reason": e.reason, "code": e.code}
            except (BrokenPipeError, ConnectionResetError):
                return
            data = json.dumps(out).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

    return Handler


def write_kubeconfig(path: str, url: str, namespace: str | None = None) -> str:
    """A kubeconfig whose current context points at ``url`` (token auth, optional namespace)."""
    ctx: dict[str, Any] = {"cluster": "fake", "user": "tester"}
    if namespace:
        ctx["namespace"] = namespace
    cfg = {
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": url}}],
        "users": [{"name": "tester", "user": {"token": "fake-token"}}],
        "contexts": [{"name": "fake", "context": ctx}],
    }
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path
