"""kubernetes against a FAKE API server (``kube_fake``: no real API server can run on these
machines; the fake validates what it receives with the Kubernetes schemas and plays the Volcano
and Job controllers as each test directs). The real ``kubernetes`` client talks to it through
a kubeconfig pointing at its loopback URL."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import torchx.specs as specs
from tests.contract import SchedulerContract
from tests.unit.schedulers.kube_fake import FakeKubeApiServer, write_kubeconfig
from torchx.runner import Runner, get_runner
from torchx.schedulers import kubernetes_scheduler as k8s
from torchx.schedulers.api import Stream
from torchx.specs import AppState, Role
from torchx.specs.api import CfgVal, TorchXError

NS = "ml"
MODES = [{"queue": "default"}, {"scheduler_name": "default-scheduler"}]
MODE_IDS = ["volcano", "batch"]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer() as server:
        monkeypatch.setenv("KUBECONFIG", write_kubeconfig(str(tmp_path / "kubeconfig"),
                                                          server.url, NS))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        monkeypatch.setenv("TORCHX_HOME", str(tmp_path / "home"))
        yield server


@pytest.fixture
def runner(fake: FakeKubeApiServer) -> Iterator[Runner]:
    with get_runner() as r:
        yield r


def app(n: int = 2, **kw: Any) -> specs.AppDef:
    return specs.AppDef("trainer", roles=[
        Role("train", image="img:1", entrypoint="python", args=["-c", "print(1)"],
             num_replicas=n, resource=specs.Resource(cpu=1, gpu=0, memMB=2048), **kw)])


def start_pods(fake: FakeKubeApiServer, handle: str, phase: str = "Running") -> list[dict[str, Any]]:
    ns, name = handle.rsplit("/", 1)[1].split(":")
    if fake.objects.get(("volcano", ns, name)):
        return fake.volcano_pods(ns, name, phase)
    return [p for j in fake.of("job", ns)
            if j["metadata"]["labels"]["app.kubernetes.io/instance"] == name
            for p in fake.batch_pods(ns, j["metadata"]["name"], phase)]


def name_of(handle: str) -> str:
    return handle.rsplit(":", 1)[1]


@pytest.mark.parametrize("cfg", MODES, ids=MODE_IDS)
def test_run_describe_cancel_delete(runner: Runner, fake: FakeKubeApiServer, cfg: dict[str, Any]) -> None:
    handle = runner.run(app(), "kubernetes", cfg)
    assert handle.startswith(f"kubernetes://torchx/{NS}:trainer-")
    st = runner.status(handle)
    assert st is not None and st.state in (AppState.SUBMITTED, AppState.PENDING)
    start_pods(fake, handle)
    if "queue" in cfg:
        fake.set_status("volcano", NS, name_of(handle), {"state": {"phase": "Running"}})
    st = runner.status(handle)
    assert st is not None and st.state == AppState.RUNNING, st
    replicas = st.roles[0].replicas
    assert [r.state for r in replicas] == [AppState.RUNNING] * 2
    assert replicas[0].hostname.endswith(f".{NS}.pod.cluster.local")
    desc = runner.describe(handle)
    assert desc is not None and desc.roles[0].entrypoint == "python"
    # from another process (no Runner cache): rebuilt from the cluster
    desc2 = k8s.create_scheduler("other").describe(handle.rsplit("/", 1)[1])
    assert desc2 is not None and desc2.name == "trainer"
    r0 = desc2.roles[0]
    assert (r0.image, r0.entrypoint, r0.args, r0.num_replicas) == ("img:1", "python", ["-c", "print(1)"], 2)
    assert "TORCHX_RANK0_HOST" not in r0.env and "TORCHX_JOB_ID" in r0.env
    assert (r0.resource.cpu, r0.resource.memMB) == (1, 2048)
    assert desc.roles[0].args == ["-c", "print(1)"] and desc.roles[0].num_replicas == 2
    runner.cancel(handle)
    if "queue" in cfg:
        assert fake.get("volcano", NS, name_of(handle))["status"]["state"]["phase"] == "Aborted"
    st = runner.status(handle)
    assert st is not None and st.state == AppState.CANCELLED
    before = fake.calls("PATCH")
    runner.cancel(handle)  # idempotent: a cancelled app is not patched again
    assert fake.calls("PATCH") == before
    runner.delete(handle)
    assert runner.status(handle) is None
    assert not fake.of("pod", NS) and not fake.of("job", NS) and not fake.of("service", NS)
    assert not fake.of("volcano", NS)
    runner.delete(handle)  # deleting a deleted app is a no-op


@pytest.mark.parametrize("cfg", MODES, ids=MODE_IDS)
def test_success_and_failure_with_reasons(runner: Runner, fake: FakeKubeApiServer,
                                          cfg: dict[str, Any]) -> None:
    handle = runner.run(app(), "kubernetes", cfg)
    pods = start_pods(fake, handle)
    name = name_of(handle)
    failed = {"containerStatuses": [{
        "name": pods[1]["spec"]["containers"][0]["name"], "image": "img:1", "imageID": "",
        "ready": False, "restartCount": 0,
        "state": {"terminated": {"exitCode": 3, "reason": "Error"}}}]}
    fake.set_pod(NS, pods[0]["metadata"]["name"], "Succeeded")
    fake.set_pod(NS, pods[1]["metadata"]["name"], "Failed", **failed)
    if "queue" in cfg:
        fake.set_status("volcano", NS, name, {"state": {"phase": "Failed"},
                                              "taskStatusCount": {"train-0": {"phase": {"Succeeded": 1}},
                                                                  "train-1": {"phase": {"Failed": 1}}}})
    else:
        job = fake.of("job", NS)[0]
        fake.set_status("job", NS, job["metadata"]["name"], {
            "failed": 1, "conditions": [{"type": "Failed", "status": "True"}]})
    st = runner.status(handle)
    assert st is not None and st.state == AppState.FAILED
    assert "train[1]: exited with code 3 (Error)" in st.msg
    assert [r.state for r in st.roles[0].replicas] == [AppState.SUCCEEDED, AppState.FAILED]


PENDING_CASES = {
    "unschedulable": ({"conditions": [{"type": "PodScheduled", "status": "False",
                                        "reason": "Unschedulable",
                                        "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]},
                      "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."),
    "errimagepull": ("ErrImagePull", 'ErrImagePull: pull access denied for "nope:1"'),
    "imagepullbackoff": ("ImagePullBackOff", 'ImagePullBackOff: Back-off pulling image "nope:1"'),
    "crashloop": ("CrashLoopBackOff", "CrashLoopBackOff: back-off 10s restarting failed container"),
}


@pytest.mark.parametrize("case", sorted(PENDING_CASES))
@pytest.mark.parametrize("cfg", MODES, ids=MODE_IDS)
def test_pending_says_why(runner: Runner, fake: FakeKubeApiServer, cfg: dict[str, Any],
                          case: str) -> None:
    """TorchX #207: a PENDING job with a bad image (or no room) says so."""
    handle = runner.run(app(), "kubernetes", cfg)
    pods = start_pods(fake, handle, "Pending")
    status, want = PENDING_CASES[case]
    if isinstance(status, str):
        msg = want.split(": ", 1)[1]
        status = {"containerStatuses": [{
            "name": pods[1]["spec"]["containers"][0]["name"], "image": "nope:1", "imageID": "",
            "ready": False, "restartCount": 0, "state": {"waiting": {"reason": status, "message": msg}}}]}
    fake.set_pod(NS, pods[1]["metadata"]["name"], **status)
    if "queue" in cfg:
        fake.set_status("volcano", NS, name_of(handle), {"state": {"phase": "Pending"}})
    st = runner.status(handle)
    assert st is not None and st.state == AppState.PENDING
    assert st.msg == f"train[1]: {want}"
    assert st.roles[0].replicas[1].structured_error_msg == want


def test_pending_without_pods_reads_events(runner: Runner, fake: FakeKubeApiServer) -> None:
    handle = runner.run(app(), "kubernetes", {"scheduler_name": "default-scheduler"})
    job = fake.of("job", NS)[0]["metadata"]["name"]
    fake.add_event(NS, "Job", job, "FailedCreate",
                   'pods "x" is forbidden: exceeded quota: compute, requested: cpu=2')
    fake.add_event(NS, "Pod", "someone-else", "FailedCreate", "not ours")
    st = runner.status(handle)
    assert st is not None and st.state == AppState.PENDING
    assert st.msg == f"Job {job}: FailedCreate: pods \"x\" is forbidden: exceeded quota:" \
                     " compute, requested: cpu=2"


def test_a_failed_role_stops_the_other_roles(runner: Runner, fake: FakeKubeApiServer) -> None:
    two = specs.AppDef("two", roles=[Role("a", image="i", entrypoint="e"),
                                     Role("b", image="i", entrypoint="e")])
    handle = runner.run(two, "kubernetes", {"scheduler_name": "default-scheduler"})
    jobs = sorted(j["metadata"]["name"] for j in fake.of("job", NS))
    fake.set_status("job", NS, jobs[0], {"conditions": [{"type": "Failed", "status": "True"}]})
    st = runner.status(handle)
    assert st is not None and st.state == AppState.FAILED
    assert fake.get("job", NS, jobs[1])["spec"].get("suspend") is True
    assert fake.get("job", NS, jobs[0])["spec"].get("suspend") is None


def test_list_two_calls_whatever_the_number_of_apps(runner: Runner, fake: FakeKubeApiServer) -> None:
    handles = [runner.run(app(1), "kubernetes", cfg) for cfg in MODES for _ in range(3)]
    fake.set_status("volcano", NS, name_of(handles[0]), {"state": {"phase": "Completed"}})
    before = len(fake.requests)
    listed = runner.list("kubernetes")
    assert len(fake.requests) - before == 2
    assert sorted(a.app_handle for a in listed) == sorted(handles)
    states = {a.app_handle: a.state for a in listed}
    assert states[handles[0]] == AppState.SUCCEEDED
    assert all(a.name == "trainer" for a in listed)
    assert runner.list("kubernetes", {"namespace": "other"}) == []


def test_list_without_volcano_installed(runner: Runner, fake: FakeKubeApiServer) -> None:
    fake.missing.add("volcano")
    handle = runner.run(app(1), "kubernetes", {"scheduler_name": "default-scheduler"})
    assert [a.app_handle for a in runner.list("kubernetes")] == [handle]
    with pytest.raises(TorchXError, match="Volcano is not installed.*default-scheduler"):
        runner.run(app(1), "kubernetes", {"queue": "default"})


def test_validate_spec_dry_runs_on_the_server(runner: Runner, fake: FakeKubeApiServer) -> None:
    info = runner.dryrun(app(), "kubernetes", {"queue": "default"})
    assert ("POST", f"/apis/batch.volcano.sh/v1alpha1/namespaces/{NS}/jobs") in fake.requests
    assert not fake.of("volcano")  # dryRun=All stores nothing
    bad = app()
    bad.roles[0].port_map = {"x": 99999}  # out of range: the schema refuses it
    with pytest.raises(TorchXError, match="rejected \\(dry run\\)"):
        runner.dryrun(bad, "kubernetes", {"scheduler_name": "default-scheduler"})
    assert info.request.name.startswith("trainer-")


@pytest.mark.parametrize("cfg", MODES, ids=MODE_IDS)
def test_logs(runner: Runner, fake: FakeKubeApiServer, cfg: dict[str, Any]) -> None:
    handle = runner.run(app(), "kubernetes", cfg)
    pods = start_pods(fake, handle)
    pod = pods[1]
    container = pod["spec"]["containers"][0]["name"]
    t0 = datetime.now(timezone.utc) - timedelta(seconds=100)
    fake.add_log(NS, pod["metadata"]["name"], container, [f"line {i}" for i in range(10)], t0, 10)
    lines = list(runner.log_lines(handle, "train", 1))
    assert lines == [f"line {i}\n" for i in range(10)]
    assert list(runner.log_lines(handle, "train", 1, regex="line [37]")) == ["line 3\n", "line 7\n"]
    window = list(runner.log_lines(handle, "train", 1, since=t0 + timedelta(seconds=25),
                                   until=t0 + timedelta(seconds=55)))
    assert window == ["line 3\n", "line 4\n", "line 5\n"]
    with pytest.raises(TorchXError, match="one interleaved log.*combined"):
        list(runner.log_lines(handle, "train", 1, streams=Stream.STDERR))
    with pytest.raises(TorchXError, match="no pod for replica 5 of role `train`"):
        list(runner.log_lines(handle, "train", 5))


def test_tail_follows_until_the_pod_ends(runner: Runner, fake: FakeKubeApiServer) -> None:
    handle = runner.run(app(1), "kubernetes", {"queue": "default"})
    pod = start_pods(fake, handle, "Pending")[0]
    name, c = pod["metadata"]["name"], pod["spec"]["containers"][0]["name"]
    got: list[str] = []

    def tail() -> None:
        for line in runner.log_lines(handle, "train", 0, should_tail=True):
            got.append(line)

    t = threading.Thread(target=tail)
    t.start()
    time.sleep(0.3)
    fake.set_pod(NS, name, "Running", podIP="10.0.0.9")
    fake.add_log(NS, name, c, ["first"])
    deadline = time.monotonic() + 30
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    assert got == ["first\n"] and t.is_alive()  # still following
    fake.add_log(NS, name, c, ["second"])
    fake.set_pod(NS, name, "Succeeded")
    t.join(30)
    assert not t.is_alive() and got == ["first\n", "second\n"]


def test_unreachable_server_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    monkeypatch.setenv("KUBECONFIG", write_kubeconfig(str(tmp_path / "kc"), f"http://127.0.0.1:{port}"))
    sched = k8s.create_scheduler("t")
    sched.kube.timeout = 5
    with pytest.raises(TorchXError, match="cannot reach the Kubernetes API server at http://127"):
        sched.describe("default:x")


def test_unknown_app_is_none(runner: Runner, fake: FakeKubeApiServer) -> None:
    assert runner.status(f"kubernetes://torchx/{NS}:nope") is None
    assert runner.status("kubernetes://torchx/nope") is None  # namespace from the context


def test_missing_client_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['kubernetes'] = None\n"
        "from torchx.schedulers.kubernetes_scheduler import create_scheduler\n"
        "try:\n"
        "    create_scheduler('t').describe('default:x')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "pip install 'torchx[kubernetes]'" in out.stdout, out


def test_cli_dryrun_and_bad_option(fake: FakeKubeApiServer, tmp_path: Path) -> None:
    def torchx(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "torchx", *args], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path)

    ok = torchx("run", "--dryrun", "-s", "kubernetes", "--workspace", "",
                "-cfg", "scheduler_name=default-scheduler,validate_spec=False",
                "utils.echo", "--msg", "hi $(HOME)")
    assert ok.returncode == 0, ok.stderr
    assert "completionMode: Indexed" in ok.stdout and "hi $$(HOME)" in ok.stdout
    bad = torchx("run", "-s", "kubernetes", "-cfg", "queu=default", "utils.echo")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "queue" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_v1pod_overlay_reaches_every_pod(runner: Runner, fake: FakeKubeApiServer) -> None:
    from torchx.specs.overlays import JOIN, set_overlay

    a = app()
    set_overlay(a.roles[0], "kubernetes", "V1Pod", {
        "metadata": {"annotations": {"team": "vision"}},
        "spec": {"priorityClassName": "urgent",
                 JOIN("containers", on="name"): [{"name": "train", "workingDir": "/w"}]},
    })
    for cfg in MODES:
        info = runner.dryrun(a, "kubernetes", {**cfg, "validate_spec": False})
        for t in k8s._templates(info.request.resources):
            assert t["metadata"]["annotations"]["team"] == "vision"
            assert t["spec"]["priorityClassName"] == "urgent"
    # schema-checked by the fake on submit (a wrong overlay field would be refused)
    runner.run(a, "kubernetes", {"scheduler_name": "default-scheduler"})
    set_overlay(a.roles[0], "kubernetes", "V1Pod", {"spec": {"notAField": 1}})
    with pytest.raises(TorchXError, match="notAField"):
        runner.run(a, "kubernetes", {"scheduler_name": "default-scheduler"})


# --------------------------------------------------------------------------- the contract


class _FakeCluster(SchedulerContract):
    """The contract against the fake API server (one per test). The fake runs no containers,
    so nothing executes: exit codes, output and logs of real runs are out of its reach (the
    log client itself is tested above with logs the test gives the fake)."""

    backend = "kubernetes"
    unknown_app_id = f"{NS}:contract-no-such-app-0"
    image = "busybox:1.36"
    cannot = {
        "execute": "the fake API server runs no containers (no Kubernetes API server or kubelet"
                   " can run on these machines)",
        "log_streams": "Kubernetes keeps one interleaved log per container",
    }

    @pytest.fixture(autouse=True)
    def _fake_server(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        with FakeKubeApiServer() as server:
            monkeypatch.setenv("KUBECONFIG", write_kubeconfig(str(tmp_path / "kubeconfig"),
                                                              server.url, NS))
            monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
            self.fake = server
            yield

    def normalize_dryrun(self, text: str, tmp_path: Path) -> str:
        return re.sub(r"contract-golden-[a-z0-9]{8}", "contract-golden-<id>",
                      super().normalize_dryrun(text, tmp_path))


class TestKubernetesContract(_FakeCluster):
    def run_cfg(self) -> dict[str, CfgVal]:
        return {"queue": "default"}


class TestKubernetesDefaultSchedulerContract(_FakeCluster):
    def run_cfg(self) -> dict[str, CfgVal]:
        return {"scheduler_name": "default-scheduler"}

    def golden_path(self) -> Path:
        return super().golden_path().with_name("contract_dryrun_batch.txt")


def test_api_reference_examples_verbatim(fake: FakeKubeApiServer) -> None:
    """api_reference.rst "Submit a Job" and "Scheduler Config", against the fake."""
    from torchx.runner import get_runner

    with get_runner() as runner:
        # Method 1: run_component — resolves a component by name
        # Same resolution as `torchx run` CLI
        app_handle = runner.run_component(
            "dist.ddp",                           # component name
            ["--script", "train.py", "-j", "2x2"], # args (list[str])
            scheduler="kubernetes",                # scheduler backend
            cfg={"namespace": "default"},           # scheduler config (optional)
        )
        assert app_handle.startswith("kubernetes://torchx/default:")
        app_handle = runner.run(
            app(),
            scheduler="kubernetes",
            cfg={
                "namespace": "my-namespace",
                "image_repo": "my-registry.example.com/images",
                "queue": "default",
            },
        )
        status = runner.status(app_handle)
        assert status is not None and status.state == AppState.SUBMITTED


@pytest.mark.parametrize("cfg", MODES, ids=MODE_IDS)
def test_schedule_uses_the_image_built_after_the_dryrun(fake: FakeKubeApiServer,
                                                        cfg: dict[str, Any]) -> None:
    sched = k8s.create_scheduler("t")
    info = sched.submit_dryrun(app(), {**cfg, "validate_spec": False})
    assert info.app is not None
    info.app.roles[0].image = "registry.example.com/ws:abc"  # what the workspace build did
    app_id = sched.schedule(info)
    ns, name = app_id.split(":")
    objs = fake.of("volcano", ns) + fake.of("job", ns)
    tmpls = list(k8s._templates(objs))
    assert tmpls
    for t in tmpls:
        c = t["spec"]["containers"][0]
        assert c["image"] == "registry.example.com/ws:abc"
        assert {e["name"]: e.get("value") for e in c["env"]}["TORCHX_IMAGE"] == c["image"]
