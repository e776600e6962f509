"""aws_sagemaker's pure parts: app -> CreateTrainingJob request (golden), limits, state table.

No AWS and no moto: the dryrun creates no client (and the endpoint is a closed port). The API
itself is exercised against moto in tests/integration/aws/test_aws_sagemaker.py.
"""

from __future__ import annotations

from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator

import torchx.specs as specs
from tests import goldens
from torchx.schedulers import aws_sagemaker_scheduler as sm
from torchx.specs import AppState, Role
from torchx.specs.overlays import set_overlay

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "aws"
ROLE_ARN = "arn:aws:iam::123456789012:role/sm"
CFG = {"role": ROLE_ARN, "output_path": "s3://bucket/out"}


@pytest.fixture(autouse=True)
def _no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setattr(sm.secrets, "token_hex", lambda n: "0000abcd")  # stable goldens


def check_golden(name: str, text: str) -> None:
    goldens.check_golden(GOLDEN / name, text)


def validate(request: dict[str, object]) -> None:
    """Check the request against botocore's CreateTrainingJob schema (types, required, limits)."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("CreateTrainingJob").input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()


def trainer(**kw: object) -> Role:
    return Role("trainer", image="123.dkr.ecr.us-east-1.amazonaws.com/train:1",
                entrypoint="python", args=["-m", "train", "--lr", "0.1", "--job", specs.macros.app_id,
                                           "it's; $(quoted)"],
                env={"WANDB_MODE": "offline", "MASTER": f"${{{specs.macros.rank0_env}}}"},
                num_replicas=2, resource=specs.named_resources["aws_p3.2xlarge"], **kw)  # type: ignore[arg-type]


def test_dryrun_golden_all_options() -> None:
    role = trainer()
    set_overlay(role, "aws_sagemaker", "CreateTrainingJob",
                {"CheckpointConfig": {"S3Uri": "s3://bucket/ckpt"}})
    app = specs.AppDef("My Training!", roles=[role], metadata={"team": "ml"})
    cfg = {**CFG, "max_run": 3600, "volume_size": 100, "use_spot_instances": True,
           "subnets": ["subnet-1"], "security_group_ids": ["sg-1"], "tags": {"cost": "42"},
           "hyperparameters": {"epochs": "3"}}
    info = sm.create_scheduler("golden").submit_dryrun(app, cfg)
    validate(info.request.request)
    check_golden("sagemaker_full.txt", repr(info))
    req = info.request.request
    assert req["ResourceConfig"] == {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 2,
                                     "VolumeSizeInGB": 100}
    assert req["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 3600}
    assert req["AlgorithmSpecification"]["ContainerArguments"][-2:] == [
        "My-Training-0000abcd", "it's; $(quoted)"]
    assert req["Environment"]["MASTER"] == "${SM_MASTER_ADDR}"


def test_defaults_minimal_request_is_valid() -> None:
    app = specs.AppDef("a", roles=[Role("r", "img:1", entrypoint="train")])
    req = sm.create_scheduler("s").submit_dryrun(app, {**CFG, "instance_type": "ml.m5.large"}
                                                 ).request.request
    validate(req)
    assert "ContainerArguments" not in req["AlgorithmSpecification"]
    assert req["ResourceConfig"]["InstanceCount"] == 1 and "VpcConfig" not in req
    req3 = sm.create_scheduler("s").submit_dryrun(
        app, {**CFG, "instance_type": "ml.m5.large", "instance_count": 3}).request.request
    assert req3["ResourceConfig"]["InstanceCount"] == 3


@pytest.mark.parametrize("app,cfg,match", [
    (specs.AppDef("a", [Role("r", "i", entrypoint="x"), Role("s", "i", entrypoint="x")]), {},
     "exactly one role"),
    (specs.AppDef("a", [Role("r", "i", entrypoint="x")]), {}, "instance_type=ml.m5.xlarge"),
    (specs.AppDef("a", [Role("r", "i", entrypoint="x", args=["y" * 300])]),
     {"instance_type": "ml.m5.large"}, "at most 100 arguments of 256"),
    (specs.AppDef("a", [Role("r", "i", entrypoint="x", env={"BAD-NAME": "1"})]),
     {"instance_type": "ml.m5.large"}, "Environment rejects"),
    (specs.AppDef("a", [Role("r", "i", entrypoint="x", args=[specs.macros.replica_id],
                             num_replicas=2)]),
     {"instance_type": "ml.m5.large"}, "same command on all 2 instances"),
    (specs.AppDef("a", [Role("r", "i", entrypoint="x")]),
     {"instance_type": "ml.m5.large", "subnets": ["s"]}, "both"),
    (specs.AppDef("a", [Role("r", "i", entrypoint="x")]),
     {"instance_type": "ml.m5.large", "role": "my-role"}, "not an IAM role ARN"),
    (specs.AppDef("a", [Role("r", "i", entrypoint="x")]),
     {"instance_type": "ml.m5.large", "output_path": "/tmp/out"}, "not an S3 URI"),
])
def test_bad_input_is_one_line(app: specs.AppDef, cfg: dict[str, object], match: str) -> None:
    with pytest.raises(specs.TorchXError, match=match) as e:
        sm.create_scheduler("s").submit_dryrun(app, {**CFG, **cfg})
    assert "\n" not in str(e.value)


def test_required_options_named() -> None:
    app = specs.AppDef("a", [Role("r", "i", entrypoint="x")])
    with pytest.raises(specs.InvalidRunConfigException, match="role"):
        sm.create_scheduler("s").submit_dryrun(app, {"output_path": "s3://b"})
    with pytest.raises(specs.InvalidRunConfigException, match="Did you mean `max_run`"):
        sm.create_scheduler("s").submit_dryrun(app, {**CFG, "max_runs": 1})


@pytest.mark.parametrize("status,secondary,want", [
    ("InProgress", "Starting", AppState.PENDING),
    ("InProgress", "Downloading", AppState.PENDING),
    ("InProgress", "Training", AppState.RUNNING),
    ("Completed", "Completed", AppState.SUCCEEDED),
    ("Failed", "Failed", AppState.FAILED),
    ("Stopping", "Stopping", AppState.CANCELLED),
    ("Stopped", "Stopped", AppState.CANCELLED),
    ("Deleting", "", AppState.UNKNOWN),
])
def test_job_state(status: str, secondary: str, want: AppState) -> None:
    assert sm.job_state({"TrainingJobStatus": status, "SecondaryStatus": secondary}) == want


def test_job_names_fit_sagemaker() -> None:
    import re

    for name in ["x", "My Training!", "a" * 200, "__weird__name__", "ünï"]:
        job = sm.make_job_name(name)
        assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", job), job
