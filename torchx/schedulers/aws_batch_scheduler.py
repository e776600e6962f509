"""``aws_batch``: an app is one AWS Batch multinode job (one node range per role).

Requirements: boto3 (``pip install 'torchx[aws]'``), credentials and a region as boto3 finds them,
and a job queue (``-cfg queue=...``). ``AWS_ENDPOINT_URL`` points every client elsewhere (moto).

``schedule`` registers a ``multinode`` job definition named like the job (``numNodes`` = all
replicas, node 0 is the main node, role ``i`` gets the node range of its replicas) and submits it.
App id ``<queue>:<job name>``, handle ``aws_batch://torchx/<queue>:<job name>``. Each node's
container runs ``[entrypoint, *args]`` as given (no shell is added), with the role's env plus
``TORCHX_ROLE_IDX``/``TORCHX_ROLE_NAME``; resources become VCPU/MEMORY/GPU requirements (1 vCPU
and 1024 MiB when the role names none), memory also sizes ``/dev/shm``; EFA and Neuron devices
and device mounts become ``linuxParameters.devices``; bind mounts are host volumes, volume mounts
EFS file systems; ``max_retries`` is the retry strategy (``max_retries + 1`` attempts, at most 10,
the smallest over the roles). Jobs and definitions are tagged ``torchx.pytorch.org/*``: ``list``
shows only those.

Macros: ``app_id`` = ``<queue>:<job name>`` (so ``TORCHX_JOB_ID`` is the real handle); ``rank0_env`` = ``AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS``
(set on every node but the main one, so write ``${VAR:=localhost}``); ``replica_id`` =
``$((AWS_BATCH_JOB_NODE_INDEX - <role's first node>))``, which a shell in the container expands
(``bash -c``, as ``dist.ddp`` does); Batch itself expands nothing.

State: the job's status (table below); a job that ``cancel`` stopped (Batch reports it FAILED)
is CANCELLED. Per-node states come from the node jobs ``<jobId>#<node>``; where the endpoint does
not resolve those (moto), every node shows the job's state. Logs: CloudWatch ``/aws/batch/job``,
the node's own stream, else the job's (one combined stream; moto writes every node there).

Overlays (:py:mod:`torchx.specs.overlays`): ``set_overlay(role, "aws_batch", "JobDefinition", d)``
is merged into the ``RegisterJobDefinition`` request (``jobDefinitionName``/``type`` are
torchx's); ``set_overlay(role, "aws_batch", "container", d)`` into that role's node-range
``container`` properties.
"""

from __future__ import annotations

import getpass
import json
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import torchx
from torchx.schedulers.api import DescribeAppResponse, ListAppResponse, Scheduler, Stream
from torchx.schedulers.api import filter_regex as _filter_regex
from torchx.schedulers.aws_common import (
    TAG_APP_NAME,
    TAG_SESSION,
    TAG_USER,
    TAG_VERSION,
    aws_call,
    boto3_client,
    clean_name,
    log_lines,
)
from torchx.specs.api import (
    AppDef,
    AppDryRunInfo,
    AppState,
    BindMount,
    CfgVal,
    DeviceMount,
    ReplicaStatus,
    Resource,
    Role,
    RoleStatus,
    StructuredOpts,
    TorchXError,
    VolumeMount,
    macros,
    make_app_handle,
    runopts,
)
from torchx.specs.named_resources_aws import K8S_ITYPE
from torchx.specs.overlays import OverlaySpec, apply_overlay
from torchx.workspace.api import WorkspaceBuild
from torchx.workspace.docker_workspace import DockerWorkspaceMixin

log = logging.getLogger(__name__)

RANK0_ENV = "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS"
NODE_INDEX_ENV = "AWS_BATCH_JOB_NODE_INDEX"
ENV_ROLE_IDX, ENV_ROLE_NAME = "TORCHX_ROLE_IDX", "TORCHX_ROLE_NAME"
LOG_GROUP = "/aws/batch/job"
CANCEL_REASON = "torchx: cancelled by the user"
MAX_NODE_GROUPS = 5
"""Batch accepts at most five node ranges (so five roles) per multinode job."""
DESCRIBE_BATCH = 100
"""DescribeJobs takes at most 100 job ids per call."""
DEFAULT_CPU, DEFAULT_MEM_MB = 1, 1024
JOB_DEF_OVERLAY = OverlaySpec("aws_batch", "JobDefinition", blocklist=("jobDefinitionName", "type"))
CONTAINER_OVERLAY = OverlaySpec("aws_batch", "container")
DEVICE_PATHS = {"vpc.amazonaws.com/efa": "/dev/infiniband/uverbs{}",
                "aws.amazon.com/neurondevice": "/dev/neuron{}"}

# --------------------------------------------------------------------------- states

JOB_STATES: dict[str, AppState] = {
    "SUBMITTED": AppState.PENDING,
    "PENDING": AppState.PENDING,
    "RUNNABLE": AppState.PENDING,
    "STARTING": AppState.PENDING,
    "RUNNING": AppState.RUNNING,
    "SUCCEEDED": AppState.SUCCEEDED,
    "FAILED": AppState.FAILED,
}
PENDING_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE")
"""Statuses in which ``CancelJob`` still cancels (later ones need ``TerminateJob``)."""

# --------------------------------------------------------------------------- options


@dataclass
class AWSBatchOpts(StructuredOpts):
    queue: str
    """job queue to submit to (name or ARN)"""
    user: str | None = None
    """user recorded in the job's tags (default: the current user)"""
    privileged: bool = False
    """run the containers privileged"""
    share_id: str | None = None
    """share identifier, for queues with a fair-share scheduling policy"""
    priority: int = 0
    """scheduling priority within the share (used with share_id; higher runs first)"""
    job_role_arn: str | None = None
    """IAM role the containers assume (their AWS credentials)"""
    execution_role_arn: str | None = None
    """IAM role ECS uses to pull images and write logs"""


def _opts() -> runopts:
    return AWSBatchOpts.as_runopts()


# --------------------------------------------------------------------------- request


@dataclass
class BatchJob:
    """What ``schedule`` sends: ``RegisterJobDefinition`` then ``SubmitJob``."""

    name: str
    queue: str
    job_def: dict[str, Any]
    tags: dict[str, str]
    share_id: str | None = None
    priority: int = 0
    builds: list[WorkspaceBuild] = field(default_factory=list)

    def submit_kwargs(self, job_def_arn: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"jobName": self.name, "jobQueue": self.queue,
                                  "jobDefinition": job_def_arn, "tags": self.tags}
        if self.share_id:
            kwargs["shareIdentifier"] = self.share_id
            kwargs["schedulingPriorityOverride"] = self.priority
        return kwargs

    def __repr__(self) -> str:
        lines = [f"# aws_batch job `{self.name}` on queue `{self.queue}`"]
        lines += [f"# workspace: {b.describe()}" for b in self.builds]
        lines += ["RegisterJobDefinition:", json.dumps(self.job_def, indent=2)]
        lines += ["SubmitJob:", json.dumps(self.submit_kwargs("<registered job definition ARN>"),
                                           indent=2)]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return repr(self)


# --------------------------------------------------------------------------- role -> request


def make_job_name(app_name: str) -> str:
    """A unique Batch job name: ``<cleaned name>-<8 hex>`` (letters, digits, ``-``, ``_``)."""
    return f"{clean_name(app_name, 110)}-{secrets.token_hex(4)}"


def parse_app_id(app_id: str) -> tuple[str, str] | None:
    """``<queue>:<job name>`` -> (queue, name); None when it is not of that form."""
    queue, sep, name = app_id.rpartition(":")
    return (queue, name) if sep and queue and name else None


def _devices(res: Resource, role: Role) -> list[dict[str, Any]]:
    devices: list[dict[str, Any]] = []
    for dev, count in sorted(res.devices.items()):
        path = DEVICE_PATHS.get(dev)
        if path is None:
            log.warning("aws_batch: device `%s` of role `%s` is not known; ignored", dev, role.name)
            continue
        devices += [{"hostPath": path.format(i), "containerPath": path.format(i),
                     "permissions": ["READ", "WRITE", "MKNOD"]} for i in range(count)]
    perms = {"r": "READ", "w": "WRITE", "m": "MKNOD"}
    for m in role.mounts:
        if isinstance(m, DeviceMount):
            devices.append({"hostPath": m.src_path, "containerPath": m.dst_path,
                            "permissions": [perms[c] for c in m.permissions if c in perms]})
    return devices


def _volumes(role: Role) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = []
    points: list[dict[str, Any]] = []
    for i, m in enumerate(role.mounts):
        name = f"mount_{i}"
        if isinstance(m, BindMount):
            volumes.append({"name": name, "host": {"sourcePath": m.src_path}})
        elif isinstance(m, VolumeMount):
            volumes.append({"name": name, "efsVolumeConfiguration": {"fileSystemId": m.src}})
        else:
            continue
        points.append({"containerPath": m.dst_path, "readOnly": m.read_only, "sourceVolume": name})
    return volumes, points


def role_to_container(role: Role, index: int, first_node: int, app_id: str,
                      opts: AWSBatchOpts) -> dict[str, Any]:
    """The node-range ``container`` of ``role`` (macros filled in)."""
    values = macros.Values(img_root="", app_id=app_id, rank0_env=RANK0_ENV,
                           replica_id=f"$(({NODE_INDEX_ENV} - {first_node}))")
    r = values.apply(role)
    bad = [k for k in r.env if k.startswith("AWS_BATCH")]
    if bad:
        raise TorchXError(f"role `{role.name}`: env names starting with AWS_BATCH are reserved"
                          f" by Batch ({', '.join(bad)}): rename them")
    env = {**r.env, ENV_ROLE_IDX: str(index), ENV_ROLE_NAME: role.name}
    res = role.resource
    mem = res.memMB if res.memMB > 0 else DEFAULT_MEM_MB
    reqs = [{"type": "VCPU", "value": str(res.cpu if res.cpu > 0 else DEFAULT_CPU)},
            {"type": "MEMORY", "value": str(mem)}]
    if res.gpu > 0:
        reqs.append({"type": "GPU", "value": str(res.gpu)})
    linux: dict[str, Any] = {"sharedMemorySize": mem}
    devices = _devices(res, role)
    if devices:
        linux["devices"] = devices
    volumes, points = _volumes(role)
    container: dict[str, Any] = {
        "image": role.image,
        "command": [r.entrypoint, *r.args],
        "environment": [{"name": k, "value": v} for k, v in env.items()],
        "privileged": opts.privileged,
        "resourceRequirements": reqs,
        "linuxParameters": linux,
        "logConfiguration": {"logDriver": "awslogs"},
        "mountPoints": points,
        "volumes": volumes,
    }
    if opts.job_role_arn:
        container["jobRoleArn"] = opts.job_role_arn
    if opts.execution_role_arn:
        container["executionRoleArn"] = opts.execution_role_arn
    itype = res.capabilities.get(K8S_ITYPE)
    if itype:
        container["instanceType"] = str(itype)
    apply_overlay(container, CONTAINER_OVERLAY.get(r))
    return container


def app_to_job(app: AppDef, name: str, opts: AWSBatchOpts, session: str,
               builds: Mapping[str, WorkspaceBuild] | None = None) -> BatchJob:
    """The Batch request for ``app``: pure, so ``--dryrun`` shows exactly what is sent."""
    if not app.roles:
        raise TorchXError(f"app `{app.name}` has no roles: add at least one")
    if len(app.roles) > MAX_NODE_GROUPS:
        raise TorchXError(f"aws_batch runs at most {MAX_NODE_GROUPS} roles per job (Batch's node"
                          f" group limit); app `{app.name}` has {len(app.roles)}: merge roles")
    ranges, first = [], 0
    for index, role in enumerate(app.roles):
        if role.num_replicas < 1:
            raise TorchXError(f"role `{role.name}` has num_replicas={role.num_replicas}: use >= 1")
        last = first + role.num_replicas - 1
        ranges.append({"targetNodes": f"{first}:{last}",
                       "container": role_to_container(role, index, first, f"{opts.queue}:{name}",
                                                     opts)})
        first = last + 1
    tags = {TAG_VERSION: torchx.__version__, TAG_APP_NAME: app.name,
            TAG_USER: opts.user or getpass.getuser(), TAG_SESSION: session}
    tags.update({str(k): str(v) for k, v in app.metadata.items()})
    attempts = min(min(r.max_retries for r in app.roles) + 1, 10)
    job_def: dict[str, Any] = {
        "jobDefinitionName": name,
        "type": "multinode",
        "nodeProperties": {"numNodes": first, "mainNode": 0, "nodeRangeProperties": ranges},
        "retryStrategy": {"attempts": attempts,
                          "evaluateOnExit": [{"onExitCode": "0", "action": "EXIT"}]},
        "propagateTags": True,
        "tags": tags,
    }
    if opts.share_id:
        job_def["schedulingPriority"] = opts.priority
    for role in app.roles:
        apply_overlay(job_def, JOB_DEF_OVERLAY.get(role))
    builds = builds or {}
    plans = [builds[r.image] for r in app.roles if r.workspace and r.image in builds]
    return BatchJob(name, opts.queue, job_def, tags, opts.share_id, opts.priority, plans)


# --------------------------------------------------------------------------- job -> state


def job_state(job: Mapping[str, Any]) -> AppState:
    """The AppState of a DescribeJobs entry (a cancelled job is FAILED to Batch)."""
    state = JOB_STATES.get(str(job.get("status")), AppState.UNKNOWN)
    if state == AppState.FAILED and str(job.get("statusReason", "")).startswith(CANCEL_REASON):
        return AppState.CANCELLED
    return state


def _env(container: Mapping[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("environment") or []}


def _node_range(target: str, num_nodes: int) -> range:
    start, sep, end = target.partition(":")
    lo = int(start or 0)
    hi = (int(end) if end else num_nodes - 1) if sep else lo
    return range(lo, hi + 1)


def job_roles(job: Mapping[str, Any]) -> list[tuple[Role, range]]:
    """The roles (and their node ranges) rebuilt from a job's node properties."""
    props = job.get("nodeProperties") or {}
    num_nodes = int(props.get("numNodes", 1))
    attempts = int((job.get("retryStrategy") or {}).get("attempts", 1))
    out = []
    for i, nr in enumerate(props.get("nodeRangeProperties") or []):
        c = nr.get("container") or {}
        env = _env(c)
        name = env.pop(ENV_ROLE_NAME, f"role{i}")
        env.pop(ENV_ROLE_IDX, None)
        reqs = {r["type"]: r["value"] for r in c.get("resourceRequirements") or []}
        nodes = _node_range(str(nr.get("targetNodes", "0")), num_nodes)
        command = list(c.get("command") or [""])
        out.append((Role(
            name=name, image=str(c.get("image", "")), entrypoint=command[0], args=command[1:],
            env=env, num_replicas=len(nodes), max_retries=max(attempts - 1, 0),
            resource=Resource(cpu=int(reqs.get("VCPU", -1)), gpu=int(reqs.get("GPU", 0)),
                              memMB=int(reqs.get("MEMORY", -1))),
        ), nodes))
    return out


def _stream_of(job: Mapping[str, Any] | None) -> str | None:
    if not job:
        return None
    name = (job.get("container") or {}).get("logStreamName")
    for attempt in reversed(job.get("attempts") or []):
        name = name or (attempt.get("container") or {}).get("logStreamName")
    return str(name) if name else None


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


# --------------------------------------------------------------------------- scheduler


class AWSBatchScheduler(DockerWorkspaceMixin, Scheduler[Mapping[str, CfgVal]]):
    """Runs apps as AWS Batch multinode jobs (see the module doc)."""

    def __init__(self, session_name: str, client: Any | None = None,
                 log_client: Any | None = None, docker_client: Any | None = None) -> None:
        super().__init__("aws_batch", session_name, docker_client=docker_client)
        self.__batch = client
        self.__logs = log_client
        self._job_ids: dict[str, str] = {}
        """app id -> Batch job id, for the jobs this instance submitted or found."""
        self.api_calls = 0
        """Batch API calls made (for benchmarks)."""

    @property
    def _client(self) -> Any:
        if self.__batch is None:
            self.__batch = boto3_client("batch")
        return self.__batch

    @property
    def _log_client(self) -> Any:
        if self.__logs is None:
            self.__logs = boto3_client("logs")
        return self.__logs

    def _call(self, op: str, **kwargs: Any) -> Any:
        """The one seam: a Batch API call, errors translated to one line."""
        self.api_calls += 1
        return aws_call(f"aws_batch {op}", getattr(self._client, op), **kwargs)

    def _run_opts(self) -> runopts:
        return _opts()

    def _submit_dryrun(self, app: AppDef, cfg: Mapping[str, CfgVal]) -> AppDryRunInfo[BatchJob]:
        opts = AWSBatchOpts.from_cfg(cfg)  # resolved by submit_dryrun (workspace keys ignored)
        job = app_to_job(app, make_job_name(app.name), opts, self.session_name,
                         self.workspace_builds())
        return AppDryRunInfo(job, repr)

    def schedule(self, dryrun_info: AppDryRunInfo[BatchJob]) -> str:
        job: BatchJob = dryrun_info.request
        app = dryrun_info.app
        if app is not None:  # images rebuilt after the dryrun (workspace changed)
            ranges = job.job_def["nodeProperties"]["nodeRangeProperties"]
            for role, nr in zip(app.roles, ranges, strict=False):
                nr["container"]["image"] = role.image
        arn = self._call("register_job_definition", **job.job_def)["jobDefinitionArn"]
        try:
            resp = self._call("submit_job", **job.submit_kwargs(arn))
        except TorchXError as e:
            self._deregister(arn)
            if "does not exist" in str(e) and "queue" in str(e).lower():
                raise TorchXError(f"job queue `{job.queue}` does not exist: pass an existing one"
                                  f" with `-cfg queue=...` ({self._queue_names()})") from None
            raise
        app_id = f"{job.queue}:{job.name}"
        self._job_ids[app_id] = str(resp["jobId"])
        return app_id

    def _queue_names(self) -> str:
        try:
            queues = self._call("describe_job_queues").get("jobQueues") or []
        except TorchXError:
            return "could not list the queues"
        names = sorted(str(q["jobQueueName"]) for q in queues)
        return f"queues: {', '.join(names)}" if names else "this account has no job queues"

    def _deregister(self, arn: str) -> None:
        try:
            self._call("deregister_job_definition", jobDefinition=arn)
        except TorchXError as e:
            log.warning("could not deregister %s: %s", arn, e)

    # ---- finding jobs

    def _resolve(self, app_ids: Iterable[str]) -> dict[str, str]:
        """app id -> job id for those that exist (cached; names looked up per queue)."""
        todo: dict[str, list[tuple[str, str]]] = {}
        for app_id in app_ids:
            parsed = parse_app_id(app_id)
            if app_id not in self._job_ids and parsed:
                todo.setdefault(parsed[0], []).append((app_id, parsed[1]))
        for queue, wanted in todo.items():
            if len(wanted) > len(JOB_STATES):  # cheaper to list the queue than each name
                found = self._list_queue(queue)
                for app_id, name in wanted:
                    hits = [j for j in found if j["jobName"] == name]
                    if hits:
                        self._job_ids[app_id] = max(hits, key=lambda j: j.get("createdAt", 0))["jobId"]
                continue
            for app_id, name in wanted:
                hits = self._list_jobs(jobQueue=queue,
                                       filters=[{"name": "JOB_NAME", "values": [name]}])
                hits = [j for j in hits if j.get("jobName") == name]
                if hits:
                    self._job_ids[app_id] = max(hits, key=lambda j: j.get("createdAt", 0))["jobId"]
        return {a: self._job_ids[a] for a in app_ids if a in self._job_ids}

    def _list_jobs(self, **kwargs: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            try:
                page = self._call("list_jobs", **kwargs)
            except TorchXError as e:
                if "does not exist" in str(e):  # an unknown queue has no jobs
                    return out
                raise
            out += page.get("jobSummaryList") or []
            if not page.get("nextToken"):
                return out
            kwargs["nextToken"] = page["nextToken"]

    def _list_queue(self, queue: str) -> list[dict[str, Any]]:
        return [j for status in JOB_STATES for j in self._list_jobs(jobQueue=queue, jobStatus=status)]

    def _describe_ids(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """DescribeJobs in batches of 100: job id -> description (unknown ids left out)."""
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(ids)), DESCRIBE_BATCH):
            for job in self._call("describe_jobs", jobs=chunk).get("jobs") or []:
                out[str(job["jobId"])] = job
        return out

    # ---- managing

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        return self.describe_many([app_id])[app_id]

    def describe_many(self, app_ids: list[str]) -> dict[str, DescribeAppResponse | None]:
        ids = self._resolve(app_ids)
        jobs = self._describe_ids(list(ids.values()))
        node_ids = [f"{jid}#{n}" for jid in ids.values() if jid in jobs
                    for n in range(int((jobs[jid].get("nodeProperties") or {}).get("numNodes", 0)))]
        nodes = self._describe_ids(node_ids) if node_ids else {}
        out: dict[str, DescribeAppResponse | None] = {}
        for app_id in app_ids:
            job = jobs.get(ids.get(app_id, ""))
            out[app_id] = None if job is None else self._response(app_id, job, nodes)
        return out

    def _job_exit_code(self, app_id: str, job_id: str) -> int | None:
        """The job's exit code from its ListJobs summary (DescribeJobs of a multinode job may
        not carry it; moto never does)."""
        parsed = parse_app_id(app_id)
        if parsed is None:
            return None
        hits = self._list_jobs(jobQueue=parsed[0],
                               filters=[{"name": "JOB_NAME", "values": [parsed[1]]}])
        codes = [(j.get("container") or {}).get("exitCode") for j in hits if j["jobId"] == job_id]
        return int(codes[0]) if codes and codes[0] is not None else None

    def _response(self, app_id: str, job: dict[str, Any],
                  nodes: Mapping[str, dict[str, Any]]) -> DescribeAppResponse:
        state = job_state(job)
        statuses = []
        roles = job_roles(job)
        failures = []
        for role, node_range in roles:
            rs = RoleStatus(role.name)
            for k, n in enumerate(node_range):
                node = nodes.get(f"{job['jobId']}#{n}")
                container = (node or {}).get("container") or {}
                iface = container.get("networkInterfaces") or [{}]
                rs.replicas.append(ReplicaStatus(
                    k, job_state(node) if node else state, role.name,
                    str(iface[0].get("privateIpv4Address", ""))))
                if container.get("exitCode"):
                    failures.append(f"{role.name}[{k}] exited with code {container['exitCode']}")
            statuses.append(rs)
        msg = [str(job["statusReason"])] if job.get("statusReason") else []
        if state == AppState.FAILED:
            if not failures:
                code = (job.get("container") or {}).get("exitCode")
                code = code if code is not None else self._job_exit_code(app_id, job["jobId"])
                failures = [f"exited with code {code}"] if code is not None else []
            msg = failures + msg
        region = str(job.get("jobArn", "::::")).split(":")[3] or "us-east-1"
        return DescribeAppResponse(
            app_id=app_id, state=state, num_restarts=max(len(job.get("attempts") or []) - 1, 0),
            msg="; ".join(msg),
            ui_url=f"https://console.aws.amazon.com/batch/home?region={region}"
                   f"#jobs/detail/{job['jobId']}",
            roles_statuses=statuses, roles=[r for r, _ in roles])

    def list(self, cfg: Mapping[str, CfgVal] | None = None) -> list[ListAppResponse]:
        queue = (cfg or {}).get("queue")
        if queue:
            queues = [str(queue)]
        else:
            queues = [str(q["jobQueueName"]) for q in
                      self._call("describe_job_queues").get("jobQueues") or []]
        out = []
        for q in queues:
            summaries = self._list_queue(q)
            described = self._describe_ids([str(s["jobId"]) for s in summaries])
            for job in described.values():
                tags = job.get("tags") or {}
                if TAG_VERSION not in tags:
                    continue  # not torchx's
                app_id = f"{q}:{job['jobName']}"
                self._job_ids.setdefault(app_id, str(job["jobId"]))
                out.append(ListAppResponse(
                    app_id=app_id, state=job_state(job),
                    app_handle=make_app_handle(self.backend, tags.get(TAG_SESSION, self.session_name),
                                               app_id),
                    name=tags.get(TAG_APP_NAME, ""), created=float(job.get("createdAt", 0)) / 1000))
        return sorted(out, key=lambda a: (a.created or 0, a.app_id))

    def _cancel_existing(self, app_id: str) -> None:
        """Cancel (still queued) or terminate (started) the job, by its bare job id."""
        jid = self._resolve([app_id]).get(app_id)
        if jid is None:
            return
        job = self._describe_ids([jid]).get(jid, {})
        if job.get("status") in PENDING_STATUSES:
            self._call("cancel_job", jobId=jid, reason=CANCEL_REASON)
        # also when cancelled: it may have started meanwhile, and terminate covers both
        self._call("terminate_job", jobId=jid, reason=CANCEL_REASON)

    def _delete_existing(self, app_id: str) -> None:
        """Cancel the job and deregister its job definition (Batch keeps the job's record)."""
        self._cancel_existing(app_id)
        jid = self._resolve([app_id]).get(app_id)
        job = self._describe_ids([jid]).get(jid or "", {}) if jid else {}
        if job.get("jobDefinition"):
            self._deregister(str(job["jobDefinition"]))

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
            raise TorchXError("aws_batch keeps one combined log stream per node (CloudWatch):"
                              " drop --streams or use --streams combined")
        jid = self._resolve([app_id]).get(app_id)
        job = self._describe_ids([jid]).get(jid, {}) if jid else {}
        if not job:
            from torchx.specs.api import UnknownAppException

            raise UnknownAppException(make_app_handle(self.backend, self.session_name, app_id))
        roles = {r.name: nodes for r, nodes in job_roles(job)}
        if role_name not in roles or not 0 <= k < len(roles[role_name]):
            have = ", ".join(f"{n}/0..{len(r) - 1}" for n, r in roles.items())
            raise TorchXError(f"app `{app_id}` has no replica `{role_name}/{k}`; it has: {have}")
        node_id = f"{jid}#{roles[role_name][k]}"

        def stream() -> str | None:
            found = self._describe_ids([node_id, str(jid)])
            return _stream_of(found.get(node_id)) or _stream_of(found.get(str(jid)))

        def running() -> bool:
            d = self._describe_ids([str(jid)]).get(str(jid))
            return d is not None and not job_state(d).is_terminal()

        lines = log_lines(self._log_client, LOG_GROUP, stream, since=since, until=until,
                          should_tail=should_tail, running=running)
        return _filter_regex(regex, lines) if regex else lines


def create_scheduler(session_name: str, client: Any | None = None, log_client: Any | None = None,
                     docker_client: Any | None = None, **kwargs: Any) -> AWSBatchScheduler:
    """The ``aws_batch`` scheduler (``client``/``log_client``: boto3 Batch and CloudWatch Logs
    clients to use instead of creating them from the environment on first use)."""
    return AWSBatchScheduler(session_name, client=client, log_client=log_client,
                             docker_client=docker_client)
