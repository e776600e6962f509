"""aws_batch's pure parts: app -> job definition (golden), macros, state table, role rebuild.

No AWS and no moto here: the dryrun never creates a client (the endpoint below is a closed port,
so an accidental call would fail instead of reaching AWS). The real API is exercised in
tests/integration/aws/.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import torchx.specs as specs
from tests import goldens
from torchx.schedulers import aws_batch_scheduler as ab
from torchx.specs import AppState, BindMount, DeviceMount, Resource, Role, VolumeMount
from torchx.specs.overlays import set_overlay

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "aws"


@pytest.fixture(autouse=True)
def _no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(ab.secrets, "token_hex", lambda n: "0000abcd")  # stable goldens


def check_golden(name: str, text: str) -> None:
    goldens.check_golden(GOLDEN / name, text)


def full_app() -> specs.AppDef:
    trainer = Role(
        "trainer", image="123.dkr.ecr.us-east-1.amazonaws.com/train:1", entrypoint="python",
        args=["-m", "train", "--id", specs.macros.app_id, "--rep", specs.macros.replica_id,
              "it's quoted; $(not run)"],
        env={"RANK0": f"${{{specs.macros.rank0_env}}}", "LR": "0.1"},
        num_replicas=2, max_retries=3,
        resource=specs.named_resources["aws_p4d.24xlarge"],
        mounts=[BindMount("/data", "/mnt/data", read_only=True), VolumeMount("fs-1234", "/efs"),
                DeviceMount("/dev/fuse", "/dev/fuse", "rw")],
    )
    set_overlay(trainer, "aws_batch", "container", {"ulimits": [
        {"name": "nofile", "softLimit": 65536, "hardLimit": 65536}]})
    set_overlay(trainer, "aws_batch", "JobDefinition", {"timeout": {"attemptDurationSeconds": 3600}})
    ps = Role("ps", image="local/busybox:1", entrypoint="sleep", args=["60"], max_retries=5,
              resource=Resource(cpu=2, gpu=0, memMB=2048))
    return specs.AppDef("My Job!", roles=[trainer, ps], metadata={"team": "ml"})


def validate(op: str, request: dict[str, object]) -> None:
    """Check a request against botocore's Batch schema (types, required members, enums)."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("batch")
    report = ParamValidator().validate(request, model.operation_model(op).input_shape)
    assert not report.has_errors(), report.generate_report()


def test_dryrun_golden_full() -> None:
    sched = ab.create_scheduler("golden")
    cfg = {"queue": "gpu-queue", "user": "alice", "privileged": True, "share_id": "teamA",
           "priority": 7, "job_role_arn": "arn:aws:iam::1:role/job",
           "execution_role_arn": "arn:aws:iam::1:role/exec"}
    info = sched.submit_dryrun(full_app(), cfg)
    validate("RegisterJobDefinition", info.request.job_def)
    validate("SubmitJob", info.request.submit_kwargs("arn:aws:batch:us-east-1:1:job-definition/x"))
    check_golden("batch_full.txt", repr(info))


def test_dryrun_golden_ddp() -> None:
    from torchx.components.dist import ddp

    app = ddp("--epochs", "1", script="train.py", image="local/python-torch:2.13.0", j="2x1",
              cpu=1, memMB=1024)
    sched = ab.create_scheduler("golden")
    text = repr(sched.submit_dryrun(app, {"queue": "q", "user": "bob"}))
    assert "${AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS:=localhost}:${TORCHX_RDZV_PORT:-29500}" in text
    check_golden("batch_ddp_2x1.txt", text)


def test_node_ranges_resources_and_defaults() -> None:
    job = ab.app_to_job(full_app(), "n", ab.AWSBatchOpts(queue="q", user="u"), "s")
    props = job.job_def["nodeProperties"]
    assert props["numNodes"] == 3 and props["mainNode"] == 0
    t, ps = props["nodeRangeProperties"]
    assert (t["targetNodes"], ps["targetNodes"]) == ("0:1", "2:2")
    c = t["container"]
    assert c["instanceType"] == "p4d.24xlarge"
    reqs = {r["type"]: r["value"] for r in c["resourceRequirements"]}
    assert reqs == {"VCPU": "96", "MEMORY": str(1152 * 983), "GPU": "8"}
    efa = [d for d in c["linuxParameters"]["devices"] if "uverbs" in d["hostPath"]]
    assert len(efa) == 4 and efa[3]["containerPath"] == "/dev/infiniband/uverbs3"
    assert {"hostPath": "/dev/fuse", "containerPath": "/dev/fuse",
            "permissions": ["READ", "WRITE"]} in c["linuxParameters"]["devices"]
    assert c["volumes"][1] == {"name": "mount_1", "efsVolumeConfiguration": {"fileSystemId": "fs-1234"}}
    assert job.job_def["retryStrategy"]["attempts"] == 4  # min over roles (3) + 1
    no_res = ab.app_to_job(specs.AppDef("a", [Role("r", "img", entrypoint="true")]), "n",
                           ab.AWSBatchOpts(queue="q", user="u"), "s")
    c0 = no_res.job_def["nodeProperties"]["nodeRangeProperties"][0]["container"]
    assert c0["resourceRequirements"] == [{"type": "VCPU", "value": "1"},
                                          {"type": "MEMORY", "value": "1024"}]
    assert no_res.submit_kwargs("arn") == {"jobName": "n", "jobQueue": "q", "jobDefinition": "arn",
                                           "tags": no_res.tags}


def test_replica_id_macro_is_node_index_minus_first_node_in_a_real_shell() -> None:
    """moto does not set AWS_BATCH_JOB_NODE_INDEX: run the generated command in bash with it set."""
    app = specs.AppDef("a", roles=[
        Role("a", "img", entrypoint="bash", args=["-c", f"echo {specs.macros.replica_id}"],
             num_replicas=2),
        Role("b", "img", entrypoint="bash", args=["-c", f"echo {specs.macros.replica_id}"],
             num_replicas=3),
    ])
    job = ab.app_to_job(app, "n", ab.AWSBatchOpts(queue="q", user="u"), "s")
    ranges = job.job_def["nodeProperties"]["nodeRangeProperties"]
    got = []
    for nr in ranges:
        nodes = ab._node_range(nr["targetNodes"], 5)
        for n in nodes:
            out = subprocess.run(nr["container"]["command"], capture_output=True, text=True,
                                 env={"AWS_BATCH_JOB_NODE_INDEX": str(n), "PATH": os.defpath})
            got.append(out.stdout.strip())
    assert got == ["0", "1", "0", "1", "2"]


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=200))
def test_job_names_are_valid_batch_names(name: str) -> None:
    import re

    job_name = ab.make_job_name(name)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{1,127}", job_name)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(), max_size=6))
def test_arguments_are_sent_unchanged(args: list[str]) -> None:
    """No shell is added: the command is the entrypoint and the args, byte for byte."""
    args = [a for a in args if "$" not in a]  # macros ($-templates) are the one substitution
    app = specs.AppDef("a", roles=[Role("r", "img", entrypoint="prog", args=args)])
    job = ab.app_to_job(app, "n", ab.AWSBatchOpts(queue="q", user="u"), "s")
    assert job.job_def["nodeProperties"]["nodeRangeProperties"][0]["container"]["command"] == [
        "prog", *args]


def test_roles_rebuilt_from_the_job() -> None:
    job = ab.app_to_job(full_app(), "n", ab.AWSBatchOpts(queue="q", user="u"), "s")
    described = {**job.job_def, "jobId": "j"}
    roles = ab.job_roles(described)
    assert [(r.name, r.num_replicas, list(nodes)) for r, nodes in roles] == [
        ("trainer", 2, [0, 1]), ("ps", 1, [2])]
    ps = roles[1][0]
    assert (ps.image, ps.entrypoint, ps.args, ps.max_retries) == ("local/busybox:1", "sleep",
                                                                  ["60"], 3)
    assert ps.resource.cpu == 2 and ps.resource.memMB == 2048 and "TORCHX_ROLE_NAME" not in ps.env


@pytest.mark.parametrize("status,reason,want", [
    ("SUBMITTED", "", AppState.PENDING), ("PENDING", "", AppState.PENDING),
    ("RUNNABLE", "", AppState.PENDING), ("STARTING", "", AppState.PENDING),
    ("RUNNING", "", AppState.RUNNING), ("SUCCEEDED", "", AppState.SUCCEEDED),
    ("FAILED", "Essential container in task exited", AppState.FAILED),
    ("FAILED", ab.CANCEL_REASON, AppState.CANCELLED), ("WEIRD", "", AppState.UNKNOWN),
])
def test_job_state(status: str, reason: str, want: AppState) -> None:
    assert ab.job_state({"status": status, "statusReason": reason}) == want


def test_parse_app_id() -> None:
    assert ab.parse_app_id("q:name-1") == ("q", "name-1")
    arn = "arn:aws:batch:us-east-1:1:job-queue/q"
    assert ab.parse_app_id(f"{arn}:n") == (arn, "n")
    assert ab.parse_app_id("nocolon") is None and ab.parse_app_id(":x") is None


def test_bad_input_is_one_line() -> None:
    sched = ab.create_scheduler("s")
    six = specs.AppDef("six", roles=[Role(f"r{i}", "img", entrypoint="true") for i in range(6)])
    with pytest.raises(specs.TorchXError, match="at most 5 roles"):
        sched.submit_dryrun(six, {"queue": "q"})
    reserved = specs.AppDef("a", roles=[Role("r", "img", entrypoint="true",
                                             env={"AWS_BATCH_JOB_ID": "x"})])
    with pytest.raises(specs.TorchXError, match="reserved"):
        sched.submit_dryrun(reserved, {"queue": "q"})
    with pytest.raises(specs.InvalidRunConfigException, match="queue"):
        sched.submit_dryrun(specs.AppDef("a", [Role("r", "img", entrypoint="true")]), {})
    with pytest.raises(specs.InvalidRunConfigException, match="Did you mean `priority`"):
        sched.submit_dryrun(specs.AppDef("a", [Role("r", "img", entrypoint="true")]),
                            {"queue": "q", "priorty": 1})


def test_registered_and_lazy() -> None:
    from torchx.schedulers import BUILTIN_SCHEDULER_MODULES

    assert BUILTIN_SCHEDULER_MODULES["aws_batch"] == ab.__name__
    out = subprocess.run(
        [sys.executable, "-c", "import sys, torchx.schedulers.aws_batch_scheduler;"
         " print('boto3' in sys.modules)"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_overlays_reach_the_request_and_torchx_fields_are_guarded() -> None:
    role = Role("r", "img", entrypoint="true")
    set_overlay(role, "aws_batch", "container", {"readonlyRootFilesystem": True})
    set_overlay(role, "aws_batch", "JobDefinition", {"platformCapabilities": ["EC2"]})
    job = ab.app_to_job(specs.AppDef("a", [role]), "n", ab.AWSBatchOpts(queue="q", user="u"), "s")
    assert job.job_def["platformCapabilities"] == ["EC2"]
    assert job.job_def["nodeProperties"]["nodeRangeProperties"][0]["container"][
        "readonlyRootFilesystem"] is True
    set_overlay(role, "aws_batch", "JobDefinition", {"jobDefinitionName": "mine"})
    with pytest.raises(ValueError, match="jobDefinitionName"):
        ab.app_to_job(specs.AppDef("a", [role]), "n", ab.AWSBatchOpts(queue="q", user="u"), "s")
