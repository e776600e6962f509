"""``aws_sagemaker``: an app is one SageMaker training job, created with boto3's CreateTrainingJob.

Requirements: boto3 (``pip install 'torchx[aws]'``), credentials and a region as boto3 finds them,
an execution role ARN (``-cfg role=arn:aws:iam::...:role/...``) and an S3 ``output_path``. No
SageMaker Python SDK: the request is built here and shown whole by ``--dryrun``, and
``AWS_ENDPOINT_URL`` points it (and everything else) at another endpoint such as moto.

A training job is one group of identical instances, so the app has exactly one role. Its image is
the training image; ``ContainerEntrypoint`` = ``[entrypoint]`` and ``ContainerArguments`` = the
args, exactly as given (no shell, no parsing into hyperparameters; ``-cfg hyperparameters=k:v``
passes SageMaker hyperparameters explicitly); the role's env is ``Environment``. Instances: the
``instance_type`` option, else the role's named resource (``aws_p3.2xlarge`` -> ``ml.p3.2xlarge``);
``instance_count`` defaults to the role's ``num_replicas``. SageMaker's own limits are checked at
dryrun (100 arguments of 256 characters, 100 env entries of 512) with a line naming the fix.

App id = the training job name (``<name>-<8 hex>``, at most 63 characters). Macros: ``app_id`` =
that name, ``img_root`` = "", ``rank0_env`` = ``SM_MASTER_ADDR`` (set by SageMaker's training
toolkit; write ``${SM_MASTER_ADDR:=localhost}``), ``replica_id`` = ``0`` (SageMaker gives every
instance the same command, so a multi-instance job cannot use it: dryrun says so). State: the
table below (InProgress is PENDING until the instances run). Logs: CloudWatch
``/aws/sagemaker/TrainingJobs``, stream ``<job>/algo-<k+1>-*``. ``cancel`` is StopTrainingJob;
``list`` shows the training jobs tagged ``torchx.pytorch.org/version``.

Overlay: ``set_overlay(role, "aws_sagemaker", "CreateTrainingJob", d)`` is merged into the
CreateTrainingJob request (``TrainingJobName`` is torchx's), e.g. ``{"CheckpointConfig": ...}``.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import torchx
from torchx.schedulers.api import DescribeAppResponse, ListAppResponse, Scheduler, Stream
from torchx.schedulers.api import filter_regex as _filter_regex
from torchx.schedulers.aws_common import (
    TAG_APP_NAME,
    TAG_PREFIX,
    TAG_SESSION,
    TAG_VERSION,
    aws_call,
    boto3_client,
    clean_name,
    is_client_error,
    log_lines,
    one_line,
)
from torchx.specs.api import (
    AppDef,
    AppDryRunInfo,
    AppState,
    CfgVal,
    ReplicaStatus,
    Role,
    RoleStatus,
    StructuredOpts,
    TorchXError,
    UnknownAppException,
    macros,
    make_app_handle,
    runopts,
)
from torchx.specs.named_resources_aws import K8S_ITYPE
from torchx.specs.overlays import OverlaySpec, apply_overlay

TAG_ROLE = TAG_PREFIX + "role-name"
RANK0_ENV = "SM_MASTER_ADDR"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
MAX_ARGS, MAX_ARG_LEN, MAX_ENV, MAX_ENV_LEN = 100, 256, 100, 512
REQUEST_OVERLAY = OverlaySpec("aws_sagemaker", "CreateTrainingJob", blocklist=("TrainingJobName",))
_ENV_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

# --------------------------------------------------------------------------- states

JOB_STATES: dict[str, AppState] = {
    "InProgress": AppState.RUNNING,
    "Completed": AppState.SUCCEEDED,
    "Failed": AppState.FAILED,
    "Stopping": AppState.CANCELLED,
    "Stopped": AppState.CANCELLED,
}
STARTING = {"Starting", "Pending", "LaunchingMLInstances", "PreparingTrainingStack",
            "Downloading", "DownloadingTrainingImage"}
"""Secondary statuses of an InProgress job whose instances do not run the container yet."""

# --------------------------------------------------------------------------- options


@dataclass
class SageMakerOpts(StructuredOpts):
    role: str
    """ARN of the IAM execution role the training job runs as"""
    output_path: str
    """S3 URI where SageMaker writes the job's output (e.g. `s3://bucket/prefix`)"""
    instance_type: str | None = None
    """instance type (e.g. `ml.m5.xlarge`); default: from the role's named resource"""
    instance_count: int | None = None
    """number of instances; default: the role's num_replicas"""
    max_run: int = 86400
    """maximum run time in seconds"""
    volume_size: int = 30
    """size of each instance's storage volume in GB"""
    use_spot_instances: bool = False
    """train on managed spot instances"""
    max_wait: int | None = None
    """with spot instances: seconds to wait for them, including max_run (default: max_run)"""
    subnets: list[str] | None = None
    """VPC subnet ids (with security_group_ids)"""
    security_group_ids: list[str] | None = None
    """VPC security group ids (with subnets)"""
    tags: dict[str, str] | None = None
    """extra tags for the training job (`k1:v1;k2:v2`)"""
    hyperparameters: dict[str, str] | None = None
    """SageMaker hyperparameters (`k1:v1;k2:v2`), written to the container's config"""


def _opts() -> runopts:
    return SageMakerOpts.as_runopts()


# --------------------------------------------------------------------------- request


@dataclass
class TrainingJob:
    """The CreateTrainingJob request ``schedule`` sends (its JSON is the dryrun)."""

    request: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.request["TrainingJobName"])

    def __repr__(self) -> str:
        return f"# aws_sagemaker training job `{self.name}`\nCreateTrainingJob:\n" + json.dumps(
            self.request, indent=2) + "\n"

    def __str__(self) -> str:
        return repr(self)


# --------------------------------------------------------------------------- app -> request


def make_job_name(app_name: str) -> str:
    """A unique training job name: ``<cleaned name>-<8 hex>`` (alphanumerics and ``-``, <= 63)."""
    return f"{clean_name(app_name, 54, allowed='A-Za-z0-9-')}-{secrets.token_hex(4)}"


def instance_type(role: Role, opts: SageMakerOpts) -> str:
    itype = opts.instance_type or role.resource.capabilities.get(K8S_ITYPE)
    if not itype:
        raise TorchXError(
            "aws_sagemaker needs an instance type: pass `-cfg instance_type=ml.m5.xlarge` or give"
            " the role a named AWS resource (e.g. `-h aws_m5.xlarge`)")
    itype = str(itype)
    return itype if itype.startswith("ml.") else f"ml.{itype}"


def _check(role: Role, command: list[str], env: Mapping[str, str]) -> None:
    if len(command) > MAX_ARGS or any(len(a) > MAX_ARG_LEN for a in command):
        raise TorchXError(
            f"role `{role.name}`: SageMaker takes at most {MAX_ARGS} arguments of {MAX_ARG_LEN}"
            " characters each: put the long command in a script in the image and run that")
    bad = [k for k in env if not _ENV_NAME.fullmatch(k)]
    long = [k for k, v in env.items() if len(v) > MAX_ENV_LEN]
    if bad or long or len(env) > MAX_ENV:
        what = (f"names {bad} are not [a-zA-Z_][a-zA-Z0-9_]*" if bad else
                f"values of {long} exceed {MAX_ENV_LEN} characters" if long else
                f"{len(env)} entries exceed {MAX_ENV}")
        raise TorchXError(f"role `{role.name}`: SageMaker's Environment rejects this env ({what}):"
                          " fix the role's env")


def app_to_job(app: AppDef, name: str, opts: SageMakerOpts, session: str) -> TrainingJob:
    """The CreateTrainingJob request for ``app``: pure, so ``--dryrun`` shows what is sent."""
    if len(app.roles) != 1:
        raise TorchXError(
            f"aws_sagemaker runs apps of exactly one role (a training job is one group of"
            f" identical instances); `{app.name}` has {len(app.roles)}: use one role, or aws_batch")
    if not opts.role.startswith("arn:"):
        raise TorchXError(f"-cfg role=`{opts.role}` is not an IAM role ARN: pass"
                          " `role=arn:aws:iam::<account>:role/<name>`")
    if not opts.output_path.startswith("s3://"):
        raise TorchXError(f"-cfg output_path=`{opts.output_path}` is not an S3 URI: pass"
                          " `output_path=s3://<bucket>/<prefix>`")
    role = app.roles[0]
    count = opts.instance_count if opts.instance_count is not None else role.num_replicas
    if count < 1:
        raise TorchXError(f"instance_count must be >= 1, not {count}")
    uses_replica_id = any(macros.replica_id in a for a in [*role.args, *role.env.values()])
    if count > 1 and uses_replica_id:
        raise TorchXError(
            f"role `{role.name}` uses ${{replica_id}}, but SageMaker runs the same command on all"
            f" {count} instances: read the host from SM_CURRENT_HOST (SageMaker's training"
            " toolkit) or /opt/ml/input/config/resourceconfig.json instead")
    r = macros.Values(img_root="", app_id=name, replica_id="0", rank0_env=RANK0_ENV).apply(role)
    command = [r.entrypoint, *r.args]
    _check(role, command, r.env)
    tags = {TAG_VERSION: torchx.__version__, TAG_APP_NAME: app.name, TAG_SESSION: session,
            TAG_ROLE: role.name, **{str(k): str(v) for k, v in app.metadata.items()},
            **(opts.tags or {})}
    algo: dict[str, Any] = {"TrainingImage": role.image, "TrainingInputMode": "File",
                            "ContainerEntrypoint": command[:1]}
    if command[1:]:
        algo["ContainerArguments"] = command[1:]
    stopping: dict[str, Any] = {"MaxRuntimeInSeconds": opts.max_run}
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": opts.role,
        "AlgorithmSpecification": algo,
        "OutputDataConfig": {"S3OutputPath": opts.output_path},
        "ResourceConfig": {"InstanceType": instance_type(role, opts), "InstanceCount": count,
                           "VolumeSizeInGB": opts.volume_size},
        "StoppingCondition": stopping,
        "Environment": dict(r.env),
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    if opts.hyperparameters:
        request["HyperParameters"] = dict(opts.hyperparameters)
    if opts.use_spot_instances:
        request["EnableManagedSpotTraining"] = True
        stopping["MaxWaitTimeInSeconds"] = opts.max_wait or opts.max_run
    if opts.subnets or opts.security_group_ids:
        if not (opts.subnets and opts.security_group_ids):
            raise TorchXError("a VPC needs both -cfg subnets=... and security_group_ids=...")
        request["VpcConfig"] = {"Subnets": list(opts.subnets),
                                "SecurityGroupIds": list(opts.security_group_ids)}
    apply_overlay(request, REQUEST_OVERLAY.get(role))
    return TrainingJob(request)


# --------------------------------------------------------------------------- job -> state


def job_state(job: Mapping[str, Any]) -> AppState:
    state = JOB_STATES.get(str(job.get("TrainingJobStatus")), AppState.UNKNOWN)
    if state == AppState.RUNNING and job.get("SecondaryStatus") in STARTING:
        return AppState.PENDING
    return state


def job_role(job: Mapping[str, Any], role_name: str) -> Role:
    """The role rebuilt from a DescribeTrainingJob answer."""
    algo = job.get("AlgorithmSpecification") or {}
    entry = list(algo.get("ContainerEntrypoint") or [""])
    res = job.get("ResourceConfig") or {}
    return Role(name=role_name, image=str(algo.get("TrainingImage", "")), entrypoint=entry[0],
                args=[*entry[1:], *(algo.get("ContainerArguments") or [])],
                env=dict(job.get("Environment") or {}),
                num_replicas=int(res.get("InstanceCount", 1)))


# --------------------------------------------------------------------------- scheduler


class SageMakerScheduler(Scheduler[Mapping[str, CfgVal]]):
    """Runs apps as SageMaker training jobs (see the module doc)."""

    def __init__(self, session_name: str, client: Any | None = None,
                 log_client: Any | None = None) -> None:
        super().__init__("aws_sagemaker", session_name)
        self.__sm = client
        self.__logs = log_client

    @property
    def _client(self) -> Any:
        if self.__sm is None:
            self.__sm = boto3_client("sagemaker")
        return self.__sm

    @property
    def _log_client(self) -> Any:
        if self.__logs is None:
            self.__logs = boto3_client("logs")
        return self.__logs

    def _call(self, op: str, **kwargs: Any) -> Any:
        """The one seam: a SageMaker API call, errors translated to one line."""
        return aws_call(f"aws_sagemaker {op}", getattr(self._client, op), **kwargs)

    def _run_opts(self) -> runopts:
        return _opts()

    def _submit_dryrun(self, app: AppDef, cfg: Mapping[str, CfgVal]) -> AppDryRunInfo[TrainingJob]:
        opts = SageMakerOpts.from_cfg(cfg)  # resolved by submit_dryrun (workspace keys ignored)
        return AppDryRunInfo(app_to_job(app, make_job_name(app.name), opts, self.session_name), repr)

    def schedule(self, dryrun_info: AppDryRunInfo[TrainingJob]) -> str:
        job: TrainingJob = dryrun_info.request
        self._call("create_training_job", **job.request)
        return job.name

    def _describe_job(self, app_id: str) -> dict[str, Any] | None:
        try:
            return dict(self._client.describe_training_job(TrainingJobName=app_id))
        except Exception as e:
            if is_client_error(e, "ValidationException", "ResourceNotFound"):
                return None  # SageMaker answers an unknown name with a ValidationException
            return dict(self._call("describe_training_job", TrainingJobName=app_id))

    def _tags(self, arn: str) -> dict[str, str]:
        tags = self._call("list_tags", ResourceArn=arn).get("Tags") or []
        return {t["Key"]: t["Value"] for t in tags}

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        job = self._describe_job(app_id)
        if job is None:
            return None
        tags = self._tags(str(job["TrainingJobArn"]))
        role = job_role(job, tags.get(TAG_ROLE, "trainer"))
        state = job_state(job)
        region = str(job["TrainingJobArn"]).split(":")[3] or "us-east-1"
        return DescribeAppResponse(
            app_id=app_id, state=state, num_restarts=0,
            msg=str(job.get("FailureReason") or job.get("SecondaryStatus") or ""),
            ui_url=f"https://console.aws.amazon.com/sagemaker/home?region={region}"
                   f"#/jobs/{app_id}",
            roles_statuses=[RoleStatus(role.name, [
                ReplicaStatus(k, state, role.name, f"algo-{k + 1}")
                for k in range(role.num_replicas)])],
            roles=[role])

    def list(self, cfg: Mapping[str, CfgVal] | None = None) -> list[ListAppResponse]:
        out = []
        kwargs: dict[str, Any] = {"MaxResults": 100}
        while True:
            page = self._call("list_training_jobs", **kwargs)
            for s in page.get("TrainingJobSummaries") or []:
                tags = self._tags(str(s["TrainingJobArn"]))
                if TAG_VERSION not in tags:
                    continue  # not torchx's
                created = s.get("CreationTime")
                out.append(ListAppResponse(
                    app_id=str(s["TrainingJobName"]), state=job_state(s),
                    app_handle=make_app_handle(self.backend, tags.get(TAG_SESSION,
                                                                      self.session_name),
                                               str(s["TrainingJobName"])),
                    name=tags.get(TAG_APP_NAME, ""),
                    created=created.timestamp() if isinstance(created, datetime) else None))
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        return sorted(out, key=lambda a: (a.created or 0, a.app_id))

    def _cancel_existing(self, app_id: str) -> None:
        try:
            self._call("stop_training_job", TrainingJobName=app_id)
        except TorchXError as e:
            raise TorchXError(f"the endpoint refused to stop training job `{app_id}`; it is"
                              f" unchanged ({one_line(e)})") from None

    def _delete_existing(self, app_id: str) -> None:
        """SageMaker keeps training job records: delete stops the job if it still runs."""
        self.cancel(app_id)

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
        if streams not in (None, Stream.COMBINED):
            raise TorchXError("aws_sagemaker keeps one combined log stream per instance"
                              " (CloudWatch): drop --streams or use --streams combined")
        if self._describe_job(app_id) is None:
            raise UnknownAppException(make_app_handle(self.backend, self.session_name, app_id))
        prefix = f"{app_id}/algo-{k + 1}-"

        def stream() -> str | None:
            try:
                found = self._log_client.describe_log_streams(
                    logGroupName=LOG_GROUP, logStreamNamePrefix=prefix).get("logStreams") or []
            except Exception as e:
                if is_client_error(e, "ResourceNotFoundException"):
                    return None
                raise
            return str(found[0]["logStreamName"]) if found else None

        def running() -> bool:
            job = self._describe_job(app_id)
            return job is not None and not job_state(job).is_terminal()

        lines = log_lines(self._log_client, LOG_GROUP, stream, since=since, until=until,
                          should_tail=should_tail, running=running)
        return _filter_regex(regex, lines) if regex else lines


def create_scheduler(session_name: str, client: Any | None = None, log_client: Any | None = None,
                     **kwargs: Any) -> SageMakerScheduler:
    """The ``aws_sagemaker`` scheduler (``client``/``log_client``: boto3 SageMaker and CloudWatch
    Logs clients to use instead of creating them from the environment on first use)."""
    return SageMakerScheduler(session_name, client=client, log_client=log_client)
