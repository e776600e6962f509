"""Benchmark the kubernetes scheduler against the tests' FAKE API server (no real Kubernetes API
server can run on these machines); prints a table with the floor beside each figure.

    .venv/bin/python benchmarks/bench_kubernetes.py [--quick]

- API calls (counted at the fake server) and time of ``list`` with 100 apps in the namespace
  (half Volcano Jobs, half batch/v1 apps); floor: one LIST per object kind that can hold an app
  (2), timed as the same two raw HTTP GETs (``http.client``, one kept-alive connection) +
  ``json.loads``.
- API calls and time of ``describe`` (``torchx status``) of a running Volcano app, a running
  batch/v1 app and a PENDING app with no pods yet (which also reads events); floor: the app's
  object and its pods (2 calls).
- ``submit_dryrun`` of a 2x8 ``dist.ddp`` (``validate_spec=False``) and its YAML rendering,
  beside the floor: building the same Volcano Job dict by hand (no macros, quoting, names or
  checks) and dumping that with PyYAML.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.unit.schedulers.kube_fake import FakeKubeApiServer, write_kubeconfig  # noqa: E402
from torchx.components.dist import ddp  # noqa: E402
from torchx.schedulers import kubernetes_scheduler as k8s  # noqa: E402
from torchx.schedulers.kubernetes_common import to_yaml  # noqa: E402
from torchx.specs import AppDef, Role  # noqa: E402

NS = "bench"
rows: list[tuple[str, str, str]] = []


def row(what: str, value: str, floor: str) -> None:
    rows.append((what, value, floor))
    print(f"  {what}: {value} (floor {floor})", file=sys.stderr)


def timed(fn: Callable[[], Any], reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def ms(x: float) -> str:
    return f"{x * 1000:.3f} ms"


def calls(fake: FakeKubeApiServer, fn: Callable[[], Any]) -> int:
    before = len(fake.requests)
    fn()
    return len(fake.requests) - before


def hand_built(name: str, n: int) -> dict[str, Any]:
    """The floor: the same Volcano Job as plain literals, no torchx logic at all."""
    tasks = []
    for k in range(n):
        tasks.append({"replicas": 1, "name": f"train-{k}", "template": {
            "metadata": {"labels": {"app.kubernetes.io/instance": name,
                                    "torchx.pytorch.org/replica-id": str(k)},
                         "annotations": {"sidecar.istio.io/inject": "false"}},
            "spec": {"restartPolicy": "Never", "containers": [{
                "name": f"train-{k}", "image": "ghcr.io/pytorch/torchx:0.1",
                "command": ["bash", "-c", "python -m torch.distributed.run --nnodes 2"
                            " --nproc_per_node 8 train.py"],
                "env": [{"name": "TORCHX_RANK0_HOST", "value": "localhost"}],
                "resources": {"limits": {"cpu": "2000m", "memory": "1024M"},
                              "requests": {"cpu": "1900m", "memory": "0M"}},
                "ports": [{"containerPort": 29500, "name": "c10d"}],
                "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}]}],
                "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]}},
            "policies": [{"event": "PodFailed", "action": "TerminateJob"}]})
    return {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
            "metadata": {"name": name}, "spec": {"schedulerName": "volcano", "queue": "default",
                                                 "tasks": tasks}}


def main() -> None:
    quick = "--quick" in sys.argv
    reps = 5 if quick else 20
    with FakeKubeApiServer() as fake, tempfile.TemporaryDirectory() as tmp:
        os.environ["KUBECONFIG"] = write_kubeconfig(os.path.join(tmp, "kc"), fake.url, NS)
        sched = k8s.create_scheduler("bench")
        one = AppDef("bench", [Role("r", image="busybox", entrypoint="true")])
        ids: dict[str, list[str]] = {"volcano": [], "batch": []}
        for i in range(100):
            mode = "volcano" if i % 2 else "batch"
            cfg = {"queue": "default", "validate_spec": False} if mode == "volcano" else \
                {"scheduler_name": "default-scheduler", "validate_spec": False}
            ids[mode].append(sched.schedule(sched.submit_dryrun(one, cfg)))

        n = calls(fake, lambda: sched.list())
        assert len(sched.list()) == 100
        t_list = timed(sched.list, reps)
        sel = "app.kubernetes.io%2Fmanaged-by%3Dtorchx.pytorch.org"
        paths = [f"/apis/batch.volcano.sh/v1alpha1/namespaces/{NS}/jobs?labelSelector={sel}",
                 f"/apis/batch/v1/namespaces/{NS}/jobs?labelSelector={sel}"]
        conn = http.client.HTTPConnection(fake.url.split("//")[1])  # kept alive, as the client

        def raw() -> None:
            for p in paths:
                conn.request("GET", p)
                json.loads(conn.getresponse().read())

        t_raw = timed(raw, reps)
        row("list, 100 apps: API calls", str(n), "2 (one LIST per object kind)")
        row("list, 100 apps: time", ms(t_list), f"{ms(t_raw)} (the 2 raw GETs + json)")

        vc = ids["volcano"][0]
        fake.volcano_pods(NS, vc.split(":")[1])
        fake.set_status("volcano", NS, vc.split(":")[1], {"state": {"phase": "Running"}})
        bt = ids["batch"][0]
        for j in fake.of("job", NS):
            if j["metadata"]["labels"]["app.kubernetes.io/instance"] == bt.split(":")[1]:
                fake.batch_pods(NS, j["metadata"]["name"])
        pending = ids["volcano"][1]
        for what, app_id in (("running Volcano app", vc), ("running batch/v1 app", bt),
                             ("PENDING app, no pods yet", pending)):
            c = calls(fake, lambda a=app_id: sched.describe(a))  # type: ignore[misc]
            t = timed(lambda a=app_id: sched.describe(a), reps)  # type: ignore[misc]
            row(f"status of a {what}: API calls / time", f"{c} / {ms(t)}",
                "2 (the app's object + its pods)")

        app = ddp(script="train.py", j="2x8", image="ghcr.io/pytorch/torchx:0.1")
        cfg = {"queue": "default", "validate_spec": False}
        t_dry = timed(lambda: sched.submit_dryrun(app, cfg), reps)
        info = sched.submit_dryrun(app, cfg)
        t_yaml = timed(lambda: repr(info), reps)
        t_hand = timed(lambda: hand_built("bench-x", 2), reps)
        t_hand_yaml = timed(lambda: to_yaml([hand_built("bench-x", 2)]), reps)
        row("dryrun dist.ddp -j 2x8: build the request", ms(t_dry), f"{ms(t_hand)} (dict by hand)")
        row("dryrun dist.ddp -j 2x8: print it (YAML)", ms(t_yaml),
            f"{ms(t_hand_yaml)} (YAML of the hand-built dict)")

    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'value':>18}  floor")
    for what, value, floor in rows:
        print(f"{what:<{width}}  {value:>18}  {floor}")


if __name__ == "__main__":
    main()
