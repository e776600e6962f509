"""The gridengine scheduler against the real one-host cluster (scripts/backends/gridengine.sh)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.gridengine.conftest import TrackingScheduler, role
from torchx import specs
from torchx.schedulers.api import Stream
from torchx.schedulers.gridengine_scheduler import GridEngineCommandError
from torchx.specs import AppState, TorchXError, macros

REPO = Path(__file__).resolve().parents[3]


def test_echo_succeeds_and_logs_read_back(sched: TrackingScheduler, tmp_path: Path) -> None:
    app = specs.AppDef("ok", [role(cmd="echo out-$1; echo err >&2", n=2)])
    app.roles[0].args += ["x", macros.replica_id]
    app_id = sched.run_app(app)
    d = sched.wait(app_id)
    assert d.state == AppState.SUCCEEDED, d.msg
    reps = d.roles_statuses[0].replicas
    assert [(r.id, r.state) for r in reps] == [(0, AppState.SUCCEEDED), (1, AppState.SUCCEEDED)]
    assert all(r.hostname for r in reps)
    assert list(sched.log_iter(app_id, "main", 1, streams=Stream.STDOUT)) == ["out-1\n"]
    assert list(sched.log_iter(app_id, "main", 0, streams=Stream.STDERR)) == ["err\n"]
    assert sorted(sched.log_iter(app_id, "main", 0)) == ["err\n", "out-0\n"]
    assert list(sched.log_iter(app_id, "main", 0, regex="^out")) == ["out-0\n"]
    assert (tmp_path / f"torchx-{app_id}.2.out").exists()  # -cwd: the submit directory
    with pytest.raises(TorchXError, match="has no replica 2 of role `main`"):
        sched.log_iter(app_id, "main", 2)


def test_failure_reports_the_exit_code(sched: TrackingScheduler) -> None:
    app = specs.AppDef("bad", [role("ps", cmd="true"), role("worker", cmd="exit 3")])
    d = sched.wait(sched.run_app(app))
    assert d.state == AppState.FAILED and "worker[0] exit code 3" in d.msg, d.msg
    ps, worker = d.roles_statuses
    assert ps.replicas[0].state == AppState.SUCCEEDED and worker.replicas[0].state == AppState.FAILED


def _processes_with(token: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if token in ln and "ps -eo" not in ln]


def test_cancel_leaves_nothing_running(sched: TrackingScheduler) -> None:
    token = f"torchx-cancel-{os.getpid()}-{time.time_ns()}"
    app_id = sched.run_app(specs.AppDef("sleepy", [role(cmd=f"sleep 300; echo {token}", n=2)]))
    assert sched.wait(app_id, until={AppState.RUNNING}).state == AppState.RUNNING
    deadline = time.monotonic() + 60
    while len(_processes_with(token)) < 2:  # both tasks' shells are up
        assert time.monotonic() < deadline, _processes_with(token)
        time.sleep(0.2)
    sched.cancel(app_id)
    d = sched.wait(app_id, timeout=120)
    assert d.state == AppState.CANCELLED, d.msg
    assert all(r.state == AppState.CANCELLED for r in d.roles_statuses[0].replicas)
    deadline = time.monotonic() + 60
    while _processes_with(token):
        assert time.monotonic() < deadline, _processes_with(token)
        time.sleep(0.2)
    sched.cancel(app_id)  # no-op once finished
    assert sched.describe(app_id).state == AppState.CANCELLED  # type: ignore[union-attr]


def test_pending_says_why_and_cancel_while_pending(sched: TrackingScheduler) -> None:
    r = role(cmd="true")
    r.resource = specs.Resource(cpu=1, gpu=0, memMB=900_000_000)
    app_id = sched.run_app(specs.AppDef("huge", [r]))
    deadline = time.monotonic() + 60
    while True:  # the scheduler records its reason on its next run (1 s interval)
        d = sched.describe(app_id)
        assert d is not None and d.state == AppState.PENDING, d
        if "mem_free" in d.msg:
            break
        assert time.monotonic() < deadline, d.msg
        time.sleep(0.5)
    sched.cancel(app_id)  # Grid Engine writes no accounting for a task that never started
    d = sched.wait(app_id, timeout=60)
    assert d.state == AppState.CANCELLED, d.msg


def test_list_shows_this_users_apps(sched: TrackingScheduler) -> None:
    done = sched.run_app(specs.AppDef("listed", [role(cmd="true")]))
    live = sched.run_app(specs.AppDef("listed2", [role(cmd="sleep 60")]))
    sched.wait(done)
    apps = {a.app_id: a for a in sched.list()}
    assert apps[done].state == AppState.SUCCEEDED and apps[done].name == "listed"
    assert apps[live].state in (AppState.PENDING, AppState.RUNNING)
    assert apps[live].app_handle == f"gridengine://it/{live}"


def test_accounting_lag_is_waited_out_not_reported_lost(sched: TrackingScheduler) -> None:
    """qacct is flushed every 15 s: between leaving qstat and appearing in qacct the app must
    stay RUNNING (saying why), never vanish or end early."""
    app_id = sched.run_app(specs.AppDef("lag", [role(cmd="true")]))
    seen = []
    deadline = time.monotonic() + 180
    while True:
        d = sched.describe(app_id)
        assert d is not None, "reported as unknown while accounting caught up"
        seen.append((d.state, d.msg))
        if d.state.is_terminal():
            break
        assert time.monotonic() < deadline, seen[-1]
        time.sleep(0.2)
    assert seen[-1][0] == AppState.SUCCEEDED, seen[-1]
    assert any("waiting for Grid Engine accounting" in m for _, m in seen), seen[-5:]
    assert all(s in (AppState.PENDING, AppState.RUNNING) for s, _ in seen[:-1])


def test_max_retries_reruns_a_failed_task(sched: TrackingScheduler) -> None:
    """Exit 99 makes Grid Engine requeue the task; the rerun's result is the app's, not 99."""
    r = role(cmd='echo "try $(cat .n 2>/dev/null)"; echo x >> .n; [ "$(wc -l < .n)" -ge 2 ]',
             max_retries=2)
    app_id = sched.run_app(specs.AppDef("retry", [r]))
    d = sched.wait(app_id, timeout=400)  # Grid Engine waits ~60 s before rerunning a task
    assert d.state == AppState.SUCCEEDED, d.msg
    assert d.num_restarts == 1, d
    assert list(sched.log_iter(app_id, "main", 0, streams=Stream.STDOUT)) == ["try \n", "try x\n"]


def test_tail_follows_while_running(sched: TrackingScheduler) -> None:
    cmd = "for i in 1 2 3 4; do echo line $i; echo noise >&2; sleep 1; done"
    app_id = sched.run_app(specs.AppDef("tail", [role(cmd=cmd)]))
    sched.wait(app_id, until={AppState.RUNNING})
    seen = []
    for line in sched.log_iter(app_id, "main", 0, regex="line", should_tail=True):
        seen.append((line, sched.describe(app_id).state))  # type: ignore[union-attr]
    assert [s[0] for s in seen] == [f"line {i}\n" for i in (1, 2, 3, 4)]
    assert seen[0][1] == AppState.RUNNING


def test_job_dir_and_bad_pe_named(sched: TrackingScheduler, tmp_path: Path) -> None:
    jd = tmp_path / "my jobs"
    app_id = sched.run_app(specs.AppDef("jd", [role(cmd="pwd")]), job_dir=str(jd))
    assert sched.wait(app_id).state == AppState.SUCCEEDED
    assert list(sched.log_iter(app_id, "main", 0, streams=Stream.STDOUT)) == [f"{jd}\n"]
    with pytest.raises(GridEngineCommandError, match=r"qconf -spl"):
        sched.run_app(specs.AppDef("pe", [role(cpu=2)]), pe="nope")


_AWKWARD = ["$HOME", "`id`", "$(touch pwned)", "a;b", "it's \"q\"", "x\ny", "#$ -q evil",
            "\\", "tab\there", "ünï", "", " lead", "--", "-N", "%j", "EOF"]


@settings(max_examples=3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.lists(st.text(st.characters(blacklist_categories=("Cs",),
                                             blacklist_characters="\x00"), max_size=20),
                      max_size=4))
def test_awkward_strings_through_real_qsub(sched: TrackingScheduler, tmp_path: Path,
                                           extra: list[str]) -> None:
    out = tmp_path / f"got-{time.time_ns()}.json"
    args = _AWKWARD + extra
    dump = ("import json,os,sys; json.dump({'argv': sys.argv[2:], 'env': os.environ['V']},"
            " open(sys.argv[1], 'w'))")
    val = "v=$(id) `x` ' \" \n#$ -N evil"
    r = specs.Role("awk ward", image="/tmp", entrypoint=sys.executable,
                   args=["-c", dump, str(out), *[a.replace("$", "$$") for a in args]],
                   env={"V": val.replace("$", "$$")})
    app_id = sched.run_app(specs.AppDef("awk\nward", [r]))
    deadline = time.monotonic() + 120
    while not out.exists():
        d = sched.describe(app_id)
        assert d is not None and d.state not in (AppState.FAILED, AppState.CANCELLED), d
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(0.2)
    assert json.loads(out.read_text()) == {"argv": args, "env": val}
    assert not (tmp_path / "pwned").exists()
    qstat = subprocess.run(["qstat", "-j", app_id], capture_output=True, text=True).stdout
    assert "evil" not in qstat


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ddp_2x1_rendezvouses(sched: TrackingScheduler, tmp_path: Path) -> None:
    from torchx.runner import get_runner

    shutil.copy(REPO / "examples" / "train.py", tmp_path / "train.py")
    with get_runner() as runner:
        handle = runner.run_component(
            "dist.ddp", ["--script", "train.py", "-j", "2x1", "--rdzv_port", str(_free_port())],
            scheduler="gridengine")
        app_id = handle.rsplit("/", 1)[1]
        sched.submitted.append(app_id)
        status = runner.wait(handle, wait_interval=1)
        assert status is not None
        text = "".join(ln for k in (0, 1) for ln in runner.log_lines(handle, "train", k=k))
        assert status.state == AppState.SUCCEEDED, f"{status}\n{text[-3000:]}"
        assert "done: trained on 2 processes" in text, text
        assert all(f"rank {r}/2" in text for r in range(2)), text
