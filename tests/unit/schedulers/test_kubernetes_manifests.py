"""kubernetes: the manifests it builds (pure; no server). Every Pod template, Service and
batch/v1 Job is strict-validated against the bundled Kubernetes schemas (``kube_fake``'s
validators, built on kubernetes-validate); Volcano Jobs are pinned by golden files."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import torchx.specs as specs
from tests import goldens
from tests.unit.schedulers.kube_fake import check_template, validate_core, validate_custom
from torchx.schedulers import kubernetes_common as kc
from torchx.schedulers import kubernetes_scheduler as k8s
from torchx.specs import BindMount, DeviceMount, Resource, RetryPolicy, Role, VolumeMount
from torchx.specs.api import TorchXError

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "kubernetes"


def check_golden(name: str, text: str) -> None:
    goldens.check_golden(GOLDEN / name, text)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Pure tests: any connection attempt fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"manifest building opened a connection: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


@pytest.fixture
def fixed_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(k8s, "make_name", lambda name: f"{kc.normalize(name)[:20]}-abcd1234")


def dryrun(app: specs.AppDef, **cfg: Any) -> k8s.KubernetesJob:
    sched = k8s.create_scheduler("test")
    cfg.setdefault("validate_spec", False)
    return sched.submit_dryrun(app, cfg).request


def full_app() -> specs.AppDef:
    return specs.AppDef("My Trainer!", roles=[
        Role(
            "trainer", image="registry.example.com/train:1", entrypoint="python",
            args=["-m", "train", "--id", specs.macros.app_id, "--rep", specs.macros.replica_id,
                  "it's $(HOME) and $$ and ${x}"],
            env={"RANK0": f"${{{specs.macros.rank0_env}}}", "POD_IP": "[FIELD_PATH]status.podIP"},
            num_replicas=2, max_retries=3, retry_policy=RetryPolicy.REPLICA,
            resource=specs.resource(h="aws_p3.2xlarge"),
            port_map={"c10d": 29500, "TensorBoard_UI!": 6006},
            mounts=[BindMount("/data", "/mnt/data", read_only=True), VolumeMount("ckpt", "/ckpt"),
                    DeviceMount("/dev/fuse", "/dev/fuse", "rw")],
        ),
        Role("ps", image="registry.example.com/ps:1", entrypoint="sleep", args=["60"],
             resource=Resource(cpu=1, gpu=0, memMB=512, devices={kc.EFA_DEVICE: 2})),
    ])


ALL_OPTS = {
    "namespace": "ml", "queue": "research", "service_account": "trainer-sa",
    "priority_class": "high", "tolerations": ["nvidia.com/gpu:NoSchedule", "dedicated=ml"],
    "node_selector": ["pool=train"], "reserved_millicpu": 200, "reserved_memmb": 2048,
}


def templates(req: k8s.KubernetesJob) -> list[dict[str, Any]]:
    return list(k8s._templates(req.resources))


def check_all(req: k8s.KubernetesJob) -> None:
    """Every object valid: core ones strictly, Volcano Jobs by shape + strict templates."""
    for obj in req.resources:
        if obj["apiVersion"] == "batch.volcano.sh/v1alpha1":
            validate_custom("volcano", obj)
        else:
            validate_core(obj)
    for t in templates(req):
        check_template(t, "test")


# --------------------------------------------------------------------------- goldens


def test_volcano_golden_all_options(fixed_name: None) -> None:
    req = dryrun(full_app(), **ALL_OPTS)
    check_all(req)
    check_golden("volcano_all_options.yaml", repr(req))


def test_volcano_golden_ddp(fixed_name: None) -> None:
    from torchx.components.dist import ddp

    req = dryrun(ddp(script="train.py", j="2x2", image="ghcr.io/pytorch/torchx:0.1"),
                 namespace="default", queue="default")
    check_all(req)
    check_golden("volcano_ddp_2x2.yaml", repr(req))


def test_batch_golden_all_options(fixed_name: None) -> None:
    req = dryrun(full_app(), **{**ALL_OPTS, "scheduler_name": "default-scheduler"})
    check_all(req)
    check_golden("batch_all_options.yaml", repr(req))


def test_batch_golden_ddp(fixed_name: None) -> None:
    from torchx.components.dist import ddp

    req = dryrun(ddp(script="train.py", j="2x2", image="ghcr.io/pytorch/torchx:0.1"),
                 namespace="default", scheduler_name="default-scheduler")
    check_all(req)
    check_golden("batch_ddp_2x2.yaml", repr(req))


# --------------------------------------------------------------------------- pods


def test_pod_resources_mounts_and_selectors() -> None:
    req = dryrun(full_app(), **ALL_OPTS)
    t0 = templates(req)[0]
    c = t0["spec"]["containers"][0]
    p3 = specs.resource(h="aws_p3.2xlarge")
    assert c["resources"]["limits"] == {"cpu": f"{p3.cpu * 1000}m", "memory": f"{p3.memMB}M",
                                        "nvidia.com/gpu": "1"}
    assert c["resources"]["requests"] == {"cpu": f"{p3.cpu * 1000 - 200}m",
                                          "memory": f"{p3.memMB - 2048}M", "nvidia.com/gpu": "1"}
    assert t0["spec"]["nodeSelector"] == {"pool": "train",
                                          "node.kubernetes.io/instance-type": "p3.2xlarge"}
    assert t0["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "ml"}]
    assert t0["spec"]["restartPolicy"] == "Never"
    assert t0["spec"]["serviceAccountName"] == "trainer-sa"
    vols = {v["name"]: v for v in t0["spec"]["volumes"]}
    assert vols["dshm"] == {"name": "dshm", "emptyDir": {"medium": "Memory"}}
    assert vols["mount-0"]["hostPath"] == {"path": "/data"}
    assert vols["mount-1"]["persistentVolumeClaim"] == {"claimName": "ckpt"}
    assert vols["mount-2"]["hostPath"] == {"path": "/dev/fuse"}
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["mount-0"]["readOnly"] is True and mounts["mount-1"]["readOnly"] is False
    assert mounts["dshm"]["mountPath"] == "/dev/shm"
    assert c["securityContext"] == {"privileged": True}
    assert {p["containerPort"]: p.get("name") for p in c["ports"]} == {29500: "c10d",
                                                                       6006: "tensorboard-ui"}
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_IP"] == {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
    # the second role: EFA devices as limits only, and efa_device_count overrides them
    ps = templates(req)[-1]["spec"]["containers"][0]["resources"]
    assert ps["limits"][kc.EFA_DEVICE] == "2" and kc.EFA_DEVICE not in ps["requests"]
    for count, want in ((0, None), (4, "4")):
        ps = templates(dryrun(full_app(), **{**ALL_OPTS, "efa_device_count": count}))[-1]
        assert ps["spec"]["containers"][0]["resources"]["limits"].get(kc.EFA_DEVICE) == want


def test_labels_and_names_within_limits() -> None:
    long_role = "A_Very_Long_Role_Name_That_Goes_On_And_On_And_On_For_Ever"
    app = specs.AppDef("An App Name That Is Far Too Long For Kubernetes Objects!!", roles=[
        Role(long_role, image="i", entrypoint="e", num_replicas=12),
    ])
    for mode in ("volcano", "default-scheduler"):
        req = dryrun(app, queue="q", scheduler_name=mode)
        check_all(req)
        for t in templates(req):
            labels = t["metadata"]["labels"]
            assert labels[kc.LABEL_ROLE_NAME] == kc.clean_label(long_role)
            assert labels[kc.LABEL_MANAGED_BY] == "torchx.pytorch.org"
            assert t["metadata"]["annotations"][kc.ANNOTATION_ROLE] == long_role
        if mode == "volcano":
            job = req.resources[0]
            pods = [f"{job['metadata']['name']}-{t['name']}-0" for t in job["spec"]["tasks"]]
            assert len(pods) == 12 and all(len(p) <= 63 for p in pods)
        else:
            job = req.resources[1]
            assert len(f"{job['metadata']['name']}-11") <= 63


def test_colliding_role_names_are_one_clear_error() -> None:
    app = specs.AppDef("a", roles=[Role("Train", image="i", entrypoint="e"),
                                   Role("train", image="i", entrypoint="e")])
    with pytest.raises(TorchXError, match="roles `Train` and `train` both become `train`"):
        dryrun(app, queue="q")


def test_volcano_queue_defaults_to_volcanos_default_queue() -> None:
    """Upstream requires `queue`; the spec's examples omit it, so it defaults to `default`."""
    app = specs.AppDef("a", roles=[Role("r", image="i", entrypoint="e")])
    assert dryrun(app).resources[0]["spec"]["queue"] == "default"
    assert dryrun(app, queue="research").resources[0]["spec"]["queue"] == "research"


@pytest.mark.parametrize("text,err", [
    ("gpu:NoSchedul", "Did you mean NoSchedule"), (":NoSchedule", "has no key"),
])
def test_bad_tolerations(text: str, err: str) -> None:
    with pytest.raises(TorchXError, match=err):
        kc.parse_tolerations([text])


def test_node_selector_needs_key_value() -> None:
    assert kc.parse_node_selector(["a=b", "c:d"]) == {"a": "b", "c": "d"}
    with pytest.raises(TorchXError, match="not key=value"):
        kc.parse_node_selector(["pool"])


def test_cli_string_forms_of_the_new_options() -> None:
    opts = k8s.create_scheduler("t").run_opts()
    cfg = opts.cfg_from_str("node_selector=pool=train,tolerations=nvidia.com/gpu:NoSchedule,queue=q")
    assert cfg == {"node_selector": ["pool=train"], "tolerations": ["nvidia.com/gpu:NoSchedule"],
                   "queue": "q"}
    help_text = repr(opts)
    assert "no gang scheduling" in help_text


# --------------------------------------------------------------------------- retries


def test_volcano_retry_policies() -> None:
    def tasks(policy: RetryPolicy, retries: int, roles: int = 1) -> tuple[dict[str, Any], list[str]]:
        app = specs.AppDef("a", roles=[
            Role(f"r{i}", image="i", entrypoint="e", max_retries=retries, retry_policy=policy)
            for i in range(roles)])
        req = dryrun(app, queue="q")
        return req.resources[0], req.notes

    job, notes = tasks(RetryPolicy.APPLICATION, 2)
    assert job["spec"]["maxRetry"] == 2 and not notes
    assert {p["action"] for p in job["spec"]["tasks"][0]["policies"]} == {"RestartJob"}
    job, _ = tasks(RetryPolicy.REPLICA, 2)
    assert {p["action"] for p in job["spec"]["tasks"][0]["policies"]} == {"RestartTask"}
    job, notes = tasks(RetryPolicy.ROLE, 2, roles=2)  # upstream raised KeyError here
    assert {p["action"] for p in job["spec"]["tasks"][0]["policies"]} == {"RestartJob"}
    assert any("restarting the whole job" in n for n in notes)
    job, _ = tasks(RetryPolicy.APPLICATION, 0)
    assert job["spec"]["maxRetry"] == 0
    assert {p["action"] for p in job["spec"]["tasks"][0]["policies"]} == {"TerminateJob"}


def test_batch_retries_are_per_replica() -> None:
    app = specs.AppDef("a", roles=[
        Role("r", image="i", entrypoint="e", num_replicas=3, max_retries=2),
        Role("s", image="i", entrypoint="e")])
    req = dryrun(app, scheduler_name="default-scheduler")
    r, s = req.resources[1]["spec"], req.resources[2]["spec"]
    assert (r["backoffLimitPerIndex"], r["maxFailedIndexes"]) == (2, 0)
    assert s["backoffLimit"] == 0 and "backoffLimitPerIndex" not in s
    assert any("each failed replica alone" in n for n in req.notes)
    assert r["completionMode"] == "Indexed" and r["completions"] == r["parallelism"] == 3


def test_batch_replica_id_and_rank0_come_from_the_index() -> None:
    app = specs.AppDef("a", roles=[Role("w", image="i", entrypoint="echo",
                                        args=[specs.macros.replica_id, f"${{{specs.macros.rank0_env}}}"],
                                        env={"R": specs.macros.replica_id}, num_replicas=2)])
    req = dryrun(app, scheduler_name="default-scheduler")
    svc, job = req.resources
    tmpl = job["spec"]["template"]
    c = tmpl["spec"]["containers"][0]
    assert c["command"] == ["echo", "$(TORCHX_REPLICA_ID)", "$${TORCHX_RANK0_HOST}"]
    env = [e["name"] for e in c["env"]]
    assert env[0] == "TORCHX_REPLICA_ID"  # defined before the values that refer to it
    assert {e["name"]: e.get("value") for e in c["env"]}["R"] == "$(TORCHX_REPLICA_ID)"
    assert tmpl["spec"]["subdomain"] == svc["metadata"]["name"]
    assert tmpl["spec"]["schedulerName"] == "default-scheduler"
    rank0 = {e["name"]: e.get("value") for e in c["env"]}["TORCHX_RANK0_HOST"]
    assert rank0 == f"{job['metadata']['name']}-0.{svc['metadata']['name']}"
    assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"]


# --------------------------------------------------------------------------- quoting


def kubelet_expand(text: str, env: dict[str, str]) -> str:
    """The kubelet's ``$(VAR)`` expansion of command/args/env (Kubernetes' documented rules:
    ``$$`` -> ``$``; ``$(NAME)`` -> its value when NAME is defined, else kept verbatim)."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch != "$" or i + 1 == len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            name = text[i + 2:end] if end != -1 else None
            if name is not None and name in env:
                out.append(env[name])
                i = end + 1
            else:
                out.append("$(")
                i += 2
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")),
                max_size=4),
       st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")))
def test_user_strings_reach_the_container_unchanged(args: list[str], value: str) -> None:
    app = specs.AppDef("q", roles=[Role("r", image="i", entrypoint="prog", args=args,
                                        env={"V": value})])
    for mode in ("volcano", "default-scheduler"):
        req = k8s.create_scheduler("t").submit_dryrun(
            app, {"queue": "q", "scheduler_name": mode, "validate_spec": False}).request
        c = next(iter(k8s._templates(req.resources)))["spec"]["containers"][0]
        env = {"HOME": "/root", "V": "x", "TORCHX_REPLICA_ID": "0"}
        assert [kubelet_expand(a, env) for a in c["command"]] == ["prog", *args]
        got = {e["name"]: kubelet_expand(e["value"], env) for e in c["env"] if "value" in e}
        assert got["V"] == value


def test_escape_keeps_field_path_and_macros() -> None:
    assert kc.escape("a$(B)$$c") == "a$$(B)$$$$c"
    assert kubelet_expand(kc.escape("$(HOME)"), {"HOME": "/x"}) == "$(HOME)"


# --------------------------------------------------------------------------- dryrun is offline


def test_dryrun_without_validation_opens_no_connection(tmp_path: Path) -> None:
    """The autouse fixture makes every socket connect fail the test; KUBECONFIG names a file
    that does not exist: the dryrun must still succeed, in both modes."""
    app = full_app()
    for mode in ("volcano", "default-scheduler"):
        req = dryrun(app, queue="q", scheduler_name=mode)
        assert req.resources and re.match(r"^default:my-trainer-", req.app_id)


def test_dryrun_with_validation_needs_the_server(tmp_path: Path) -> None:
    with pytest.raises(TorchXError, match="Kubernetes configuration.*validate_spec=False"):
        k8s.create_scheduler("t").submit_dryrun(full_app(), {"queue": "q"})


def test_scheduler_modules_import_no_optional_package() -> None:
    """The kubernetes client and PyYAML load only when a call needs them."""
    import subprocess
    import sys

    code = ("import sys\n"
            "import torchx.schedulers.kubernetes_scheduler, torchx.schedulers.kubernetes_mcad_scheduler\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in"
            " ('kubernetes', 'yaml', 'docker', 'urllib3')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


_NAMES = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
                 min_size=1, max_size=80)


@settings(max_examples=60, deadline=None)
@given(_NAMES, st.lists(_NAMES, min_size=1, max_size=3), st.integers(1, 12))
def test_any_app_and_role_names_give_valid_objects(app_name: str, roles: list[str], n: int) -> None:
    """Names, labels and annotations built from arbitrary app/role names are ones an API server
    accepts (schemas + name rules), or the one clear error about colliding role names."""
    app = specs.AppDef(app_name, roles=[Role(r, image="i", entrypoint="e", num_replicas=n)
                                        for r in roles])
    for mode in ("volcano", "default-scheduler"):
        try:
            req = dryrun(app, scheduler_name=mode)
        except TorchXError as e:
            assert "both become" in str(e) and len(roles) > 1, e
            continue
        check_all(req)
        annotations = [t["metadata"]["annotations"][kc.ANNOTATION_ROLE] for t in templates(req)]
        assert set(annotations) == set(roles)
