"""aws_batch against a real moto server whose Batch jobs run as Docker containers.

What moto does not model, and what is tested instead:
- node jobs ``<jobId>#<n>``: DescribeJobs does not know them, so per-node status and logs fall
  back to the job's; moto writes every node's output into the job's one log stream (checked).
- ``AWS_BATCH_JOB_NODE_INDEX`` is not set in moto's containers, so the ``replica_id`` arithmetic
  is checked by running the generated argument in a real shell with the variable set
  (tests/unit/schedulers/test_aws_batch.py); the main-node address IS set, so two nodes
  really rendezvous below.
- logs reach CloudWatch only when a container exits, so "follow" is checked on a job that ends.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

import torchx.specs as specs
from tests.backends import require
from tests.contract import SchedulerContract
from tests.integration.aws import moto_env
from torchx.schedulers.aws_batch_scheduler import AWSBatchScheduler, create_scheduler
from torchx.specs import AppState, CfgVal

BUSYBOX = "local/busybox:1"
PYTORCH = "local/python-torch:2.13.0"
SESSION = "itest"

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def sched(queue: str) -> AWSBatchScheduler:
    return create_scheduler(SESSION)


def sh_app(script: str, name: str = "sh", image: str = BUSYBOX, **kw: Any) -> specs.AppDef:
    return specs.AppDef(name, roles=[specs.Role("r", image=image, entrypoint="sh",
                                                args=["-c", script], **kw)])


def submit(sched: AWSBatchScheduler, app: specs.AppDef, queue: str, **cfg: Any) -> str:
    info = sched.submit_dryrun(app, {"queue": queue, **cfg})
    return sched.schedule(info)


def wait(sched: AWSBatchScheduler, app_id: str, until: Any = AppState.is_terminal,
         timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = sched.describe(app_id)
        assert desc is not None
        if until(desc.state):
            return desc
        time.sleep(0.5)
    raise AssertionError(f"{app_id} still {desc.state} after {timeout}s")


def test_echo_succeeds_with_logs(sched: AWSBatchScheduler, queue: str) -> None:
    app_id = submit(sched, sh_app("echo hello; echo world"), queue)
    assert app_id.startswith(f"{queue}:sh-")
    desc = wait(sched, app_id)
    assert desc.state == AppState.SUCCEEDED, desc.msg
    assert [r.replicas[0].state for r in desc.roles_statuses] == [AppState.SUCCEEDED]
    assert list(sched.log_iter(app_id, "r", 0)) == ["hello\n", "world\n"]
    assert list(sched.log_iter(app_id, "r", 0, regex="^w")) == ["world\n"]
    # a second process (a fresh scheduler) finds the job by its name
    fresh = create_scheduler(SESSION)
    desc2 = fresh.describe(app_id)
    assert desc2 is not None and desc2.state == AppState.SUCCEEDED
    role = desc2.roles[0]
    assert (role.name, role.image, role.entrypoint, role.args) == (
        "r", BUSYBOX, "sh", ["-c", "echo hello; echo world"])


def test_failing_job_is_failed(sched: AWSBatchScheduler, queue: str) -> None:
    app_id = submit(sched, sh_app("echo about to fail; exit 3", name="fail"), queue)
    desc = wait(sched, app_id)
    assert desc.state == AppState.FAILED
    assert list(sched.log_iter(app_id, "r", 0)) == ["about to fail\n"]


def test_cancel_running_job_and_cancel_again(sched: AWSBatchScheduler, queue: str) -> None:
    app_id = submit(sched, sh_app("echo started; sleep 300", name="sleeper"), queue)
    wait(sched, app_id, until=lambda s: s == AppState.RUNNING)
    sched.cancel(app_id)
    desc = wait(sched, app_id, timeout=60)
    assert desc.state == AppState.CANCELLED, (desc.state, desc.msg)
    sched.cancel(app_id)  # idempotent: already ended, nothing to do, no error
    assert sched.describe(app_id).state == AppState.CANCELLED  # type: ignore[union-attr]


def test_cancel_pending_job(sched: AWSBatchScheduler, queue: str) -> None:
    app_id = submit(sched, sh_app("sleep 300", name="early"), queue)
    sched.cancel(app_id)  # right after submit: still SUBMITTED/PENDING
    desc = wait(sched, app_id, timeout=90)
    assert desc.state in (AppState.CANCELLED, AppState.FAILED)


def test_list_shows_only_torchx_jobs(sched: AWSBatchScheduler, queue: str) -> None:
    app_id = submit(sched, sh_app("true", name="listed"), queue)
    batch = moto_env.client("batch")
    jd = batch.register_job_definition(
        jobDefinitionName="not-torchx", type="container",
        containerProperties={"image": BUSYBOX, "command": ["true"], "vcpus": 1, "memory": 64})
    foreign = batch.submit_job(jobName="not-torchx", jobQueue=queue,
                               jobDefinition=jd["jobDefinitionArn"])["jobId"]
    listed = {a.app_id: a for a in sched.list({"queue": queue})}
    assert app_id in listed and listed[app_id].name == "listed"
    assert listed[app_id].app_handle == f"aws_batch://{SESSION}/{app_id}"
    assert f"{queue}:not-torchx" not in listed
    assert foreign and all(a.startswith(f"{queue}:") for a in listed)
    assert app_id in {a.app_id for a in sched.list()}  # every queue
    wait(sched, app_id)


def test_awkward_arguments_reach_the_process_unchanged(sched: AWSBatchScheduler,
                                                       queue: str) -> None:
    awkward = ["it's", 'say "hi"', "$(echo no)", "`echo no`", "$HOME", "${app_id}x", "a b  c",
               "", "-x", "--flag=v;w", "Ref::param", "tab\there", "new\nline", "ünïcødé ☃",
               "\\back\\slash", "*", "~", "#hash", "&&", "|"]
    app = specs.AppDef("awkward", roles=[specs.Role(
        "r", image=PYTORCH, entrypoint="python",
        args=["-c", "import sys, json; print(json.dumps(sys.argv[1:]))", *awkward])])
    app_id = submit(sched, app, queue)
    desc = wait(sched, app_id)
    assert desc.state == AppState.SUCCEEDED, desc.msg
    lines = list(sched.log_iter(app_id, "r", 0))
    want = [a.replace("${app_id}", app_id) for a in awkward]
    assert [json.loads(line) for line in lines] == [want]


def test_dryrun_submits_nothing(sched: AWSBatchScheduler, queue: str) -> None:
    batch = moto_env.client("batch")

    def counts() -> tuple[int, int]:
        jobs = sum(len(batch.list_jobs(jobQueue=queue, jobStatus=s)["jobSummaryList"])
                   for s in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING",
                             "SUCCEEDED", "FAILED"))
        return jobs, len(batch.describe_job_definitions()["jobDefinitions"])

    before = counts()
    calls = sched.api_calls
    info = sched.submit_dryrun(sh_app("true", name="dry"), {"queue": queue})
    assert "RegisterJobDefinition" in repr(info)
    assert sched.api_calls == calls and counts() == before


def test_two_nodes_rendezvous_with_ddp(queue: str, tmp_path: Path) -> None:
    """dist.ddp -j 2x1: two Batch nodes (containers) meet at the main node's address."""
    from torchx.runner import get_runner

    (tmp_path / "train.py").write_text(
        "import os, torch, torch.distributed as dist\n"
        "dist.init_process_group('gloo')\n"
        "t = torch.tensor([dist.get_rank() + 1.0])\n"
        "dist.all_reduce(t)\n"
        "print(f'rank={dist.get_rank()} world={dist.get_world_size()} sum={t.item():g}',"
        " flush=True)\n"
        "dist.destroy_process_group()\n")
    with get_runner("itest") as runner:
        handle = runner.run_component(
            "dist.ddp", ["--script", "train.py", "--image", PYTORCH, "-j", "2x1", "--cpu", "1",
                         "--memMB", "1024"],
            "aws_batch", {"queue": queue}, workspace=str(tmp_path))
        status = runner.wait(handle, wait_interval=1)
        assert status is not None and status.state == AppState.SUCCEEDED, status
        lines = sorted(line.strip() for line in runner.log_lines(handle, "train", 0)
                       if "sum=" in line)
    # moto writes both nodes into the job's one stream (node jobs are not modelled)
    assert [line.split("]:")[-1].strip() for line in lines] == [
        "rank=0 world=2 sum=3", "rank=1 world=2 sum=3"], lines


def test_unknown_app_is_none(sched: AWSBatchScheduler, queue: str) -> None:
    assert sched.describe(f"{queue}:no-such-job-1234") is None
    assert sched.describe("not-an-app-id") is None
    assert sched.describe("no-such-queue:x") is None
    sched.cancel(f"{queue}:no-such-job-1234")  # a no-op


class TestAwsBatchContract(SchedulerContract):
    """The scheduler contract on moto's Batch (jobs run as containers on the local Docker)."""

    backend = "aws_batch"
    unknown_app_id = f"{moto_env.QUEUE}:contract-no-such-app-0"
    image = BUSYBOX
    timeout = 180.0
    poll = 0.5
    cannot = {
        "log_streams": "Batch sends a node's stdout and stderr to one CloudWatch stream",
        "delete_forgets": "Batch keeps a job's record after it ends; delete cancels the job and"
                          " deregisters its job definition",
    }

    def require_backend(self) -> None:
        require("moto", moto_env.server_up(),
                f"no moto server on {moto_env.ENDPOINT}: run `scripts/backends/moto.sh start`")
        moto_env.use_moto()
        moto_env.ensure_queue()

    def run_cfg(self) -> dict[str, CfgVal]:
        return {"queue": moto_env.QUEUE, "user": "contract"}

    def normalize_dryrun(self, text: str, tmp_path: Path) -> str:
        return re.sub(r"contract-golden-[0-9a-f]{8}", "contract-golden-<id>",
                      super().normalize_dryrun(text, tmp_path))
