"""kubernetes_mcad: the AppWrapper it builds (golden, with every wrapped Pod and Service
strict-validated) and its client path against the FAKE API server of ``kube_fake`` (no real
API server or MCAD controller can run on these machines; the test plays MCAD)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import torchx.specs as specs
from tests.contract import SchedulerContract
from tests.unit.schedulers.kube_fake import FakeKubeApiServer, validate_custom, write_kubeconfig
from tests.unit.schedulers.test_kubernetes_manifests import check_golden, full_app, kubelet_expand
from torchx.runner import Runner, get_runner
from torchx.schedulers import kubernetes_common as kc
from torchx.schedulers import kubernetes_mcad_scheduler as mcad
from torchx.specs import AppState, Role
from torchx.specs.api import CfgVal, TorchXError

NS = "ml"
OPTS = {"namespace": "ml", "service_account": "sa", "priority": 7, "priority_class_name": "high",
        "image_secret": "regcred", "coscheduler_name": "scheduler-plugins-scheduler",
        "network": "ib-net"}


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer() as server:
        monkeypatch.setenv("KUBECONFIG", write_kubeconfig(str(tmp_path / "kc"), server.url, NS))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        yield server


@pytest.fixture
def runner(fake: FakeKubeApiServer) -> Iterator[Runner]:
    with get_runner() as r:
        yield r


def dryrun(app: specs.AppDef, **cfg: Any) -> mcad.AppWrapperRequest:
    return mcad.create_scheduler("t").submit_dryrun(app, cfg).request


def test_golden_all_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mcad, "make_name", lambda name: f"{kc.normalize(name)[:20]}-abcd1234")
    req = dryrun(full_app(), **OPTS)
    validate_custom("appwrapper", req.resource)  # every Pod and the Service strictly
    check_golden("appwrapper_all_options.yaml", repr(req))
    items = req.resource["spec"]["resources"]["GenericItems"]
    pods = [i["generictemplate"] for i in items if i["generictemplate"]["kind"] == "Pod"]
    assert [p["metadata"]["name"] for p in pods] == [
        "my-trainer-abcd1234-trainer-0", "my-trainer-abcd1234-trainer-1", "my-trainer-abcd1234-ps-0"]
    for p in pods:
        assert p["spec"]["hostname"] == p["metadata"]["name"]
        assert p["spec"]["subdomain"] == "my-trainer-abcd1234"
        assert p["spec"]["schedulerName"] == "scheduler-plugins-scheduler"
        assert p["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
        assert p["metadata"]["annotations"][mcad.NETWORK_ANNOTATION] == "ib-net"
        assert p["metadata"]["labels"][mcad.POD_GROUP_LABEL] == "my-trainer-abcd1234"
    env = {e["name"]: e.get("value") for e in pods[1]["spec"]["containers"][0]["env"]}
    assert env["TORCHX_RANK0_HOST"] == "my-trainer-abcd1234-trainer-0.my-trainer-abcd1234"
    kinds = [i["generictemplate"]["kind"] for i in items]
    assert kinds[-2:] == ["Service", "PodGroup"]
    assert items[-1]["generictemplate"]["spec"] == {"minMember": 3}
    assert req.resource["spec"]["priority"] == 7
    assert req.resource["spec"]["schedulingSpec"]["minAvailable"] == 3
    assert any("REPLICA" in n and "whole AppWrapper" in n for n in req.notes)


def test_user_strings_are_escaped() -> None:
    app = specs.AppDef("q", roles=[Role("r", image="i", entrypoint="echo", args=["$(HOME) $$"])])
    req = dryrun(app)
    c = req.resource["spec"]["resources"]["GenericItems"][0]["generictemplate"]["spec"]["containers"][0]
    assert [kubelet_expand(a, {"HOME": "/root"}) for a in c["command"]] == ["echo", "$(HOME) $"]


def test_submit_status_pending_reason_cancel_delete(runner: Runner, fake: FakeKubeApiServer) -> None:
    app = specs.AppDef("job", roles=[Role("w", image="img:1", entrypoint="python", num_replicas=2)])
    handle = runner.run(app, "kubernetes_mcad", {})
    assert handle.startswith(f"kubernetes_mcad://torchx/{NS}:job-")
    name = handle.rsplit(":", 1)[1]
    st = runner.status(handle)
    assert st is not None and st.state == AppState.PENDING
    fake.set_status("appwrapper", NS, name, {"state": "Running"})
    pods = fake.appwrapper_pods(NS, name, "Pending")
    fake.set_pod(NS, pods[0]["metadata"]["name"], containerStatuses=[{
        "name": "w", "image": "img:1", "imageID": "", "ready": False, "restartCount": 0,
        "state": {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "img:1"'}}}])
    st = runner.status(handle)
    assert st is not None and st.state == AppState.PENDING
    assert st.msg == 'w[0]: ImagePullBackOff: Back-off pulling image "img:1"'
    for p in pods:
        fake.set_pod(NS, p["metadata"]["name"], "Running", podIP="10.1.1.1", containerStatuses=[])
    st = runner.status(handle)
    assert st is not None and st.state == AppState.RUNNING
    t0 = datetime.now(timezone.utc) - timedelta(seconds=5)
    fake.add_log(NS, pods[1]["metadata"]["name"], "w", ["hello", "world"], t0)
    assert list(runner.log_lines(handle, "w", 1, regex="wor")) == ["world\n"]
    assert [a.app_handle for a in runner.list("kubernetes_mcad")] == [handle]
    runner.cancel(handle)
    assert not fake.of("appwrapper", NS) and not fake.of("pod", NS)
    st = runner.status(handle)
    assert st is not None and st.state == AppState.CANCELLED
    assert [a.state for a in runner.list("kubernetes_mcad")] == [AppState.CANCELLED]
    runner.cancel(handle)
    runner.delete(handle)
    assert runner.status(handle) is None and not fake.of("configmap", NS)


def test_pods_decide_success_and_failure(runner: Runner, fake: FakeKubeApiServer) -> None:
    app = specs.AppDef("job", roles=[Role("w", image="img:1", entrypoint="true", num_replicas=2)])
    for phases, want in ((["Succeeded", "Succeeded"], AppState.SUCCEEDED),
                         (["Succeeded", "Failed"], AppState.FAILED)):
        handle = runner.run(app, "kubernetes_mcad", {})
        name = handle.rsplit(":", 1)[1]
        fake.set_status("appwrapper", NS, name, {"state": "Running"})
        for pod, phase in zip(fake.appwrapper_pods(NS, name), phases, strict=True):
            fake.set_pod(NS, pod["metadata"]["name"], phase)
        st = runner.status(handle)
        assert st is not None and st.state == want


def test_mcad_not_installed(runner: Runner, fake: FakeKubeApiServer) -> None:
    fake.missing.add("appwrapper")
    app = specs.AppDef("job", roles=[Role("w", image="img:1", entrypoint="true")])
    with pytest.raises(TorchXError, match="MCAD is not installed"):
        runner.run(app, "kubernetes_mcad", {})
    assert runner.list("kubernetes_mcad") == []


class TestKubernetesMcadContract(SchedulerContract):
    """The contract against the fake API server; it runs no containers (see the module doc)."""

    backend = "kubernetes_mcad"
    unknown_app_id = f"{NS}:contract-no-such-app-0"
    image = "busybox:1.36"
    cannot = {
        "execute": "the fake API server runs no containers (no Kubernetes API server, MCAD or"
                   " kubelet can run on these machines)",
        "log_streams": "Kubernetes keeps one interleaved log per container",
    }

    @pytest.fixture(autouse=True)
    def _fake_server(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        with FakeKubeApiServer() as server:
            monkeypatch.setenv("KUBECONFIG", write_kubeconfig(str(tmp_path / "kc"), server.url, NS))
            monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
            yield

    def run_cfg(self) -> dict[str, CfgVal]:
        return {}

    def normalize_dryrun(self, text: str, tmp_path: Path) -> str:
        return re.sub(r"contract-golden-[a-z0-9]{8}", "contract-golden-<id>",
                      super().normalize_dryrun(text, tmp_path))
