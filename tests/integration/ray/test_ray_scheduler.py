"""The ray scheduler against a real single-node Ray cluster (``scripts/backends/ray.sh``): the
scheduler contract, then what is specific to Ray.

Ray jobs start slowly on a loaded 2-core machine (runtime env, driver, one worker per replica),
so every wait is a generous deadline, never a timed assert.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.backends import require
from tests.contract import SchedulerContract
from tests.integration.ray.conftest import SESSION, TrackingScheduler, app, ray_address
from torchx import specs
from torchx.schedulers.api import Stream
from torchx.specs import AppState, CfgVal

pytestmark = pytest.mark.timeout(400)


class TestRayContract(SchedulerContract):
    backend = "ray"
    image = "contract-image:latest"  # not a local directory: nothing of the disk is shipped
    timeout = 240.0  # a Ray job sets up its runtime env and starts a worker per replica
    poll = 0.5
    cannot: dict[str, str] = {}  # ray does everything the contract asks

    @property
    def address(self) -> str:
        url, _ = ray_address()
        return url or "http://127.0.0.1:8265"

    @property
    def unknown_app_id(self) -> str:  # type: ignore[override]
        return self.address.split("://", 1)[1] + "-contract-no-such-app-0"

    def require_backend(self) -> None:
        url, why = ray_address()
        require("ray", url is not None, why)

    def prepare(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("RAY_ADDRESS", raising=False)

    def run_cfg(self) -> dict[str, CfgVal]:
        return {"dashboard_address": self.address}

    def normalize_dryrun(self, text: str, tmp_path: Path) -> str:
        host = self.address.split("://", 1)[1]
        text = re.sub(r"contract-golden-[0-9a-f]{8}", "contract-golden-<id>", text)
        return super().normalize_dryrun(text.replace(host, "<dashboard>"), tmp_path)


def procs_with(mark: str) -> list[int]:
    """Live processes whose environment holds ``TORCHX_TEST_MARK=<mark>`` (on this node)."""
    key = f"TORCHX_TEST_MARK={mark}".encode()
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as f:
                zombie = f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
        except OSError:
            continue
        if key in env and not zombie:
            out.append(int(pid))
    return out


def wait_no_procs(mark: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while procs_with(mark):
        assert time.monotonic() < deadline, f"processes of the app survive: {procs_with(mark)}"
        time.sleep(0.2)


def lines(sched: TrackingScheduler, app_id: str, role: str = "r", k: int = 0,
          **kw: Any) -> list[str]:
    return [ln.rstrip("\n") for ln in sched.log_iter(app_id, role, k, **kw)]


def test_echo_with_logs_streams_regex_since_until(sched: TrackingScheduler,
                                                  tmp_path: Path) -> None:
    app_id = sched.run_app(app("echo early; echo oops >&2; sleep 6; echo late", tmp_path))
    sched.wait_log(app_id, "r", 0, "early")
    middle = datetime.now()
    d = sched.wait(app_id)
    assert d.state == AppState.SUCCEEDED, d.msg
    assert [r.state for r in d.roles_statuses[0].replicas] == [AppState.SUCCEEDED]
    assert sorted(lines(sched, app_id)) == ["early", "late", "oops"]
    assert lines(sched, app_id, streams=Stream.STDOUT) == ["early", "late"]
    assert lines(sched, app_id, streams=Stream.STDERR) == ["oops"]
    assert lines(sched, app_id, regex="^l") == ["late"]
    assert lines(sched, app_id, since=middle, streams=Stream.STDOUT) == ["late"]
    assert lines(sched, app_id, until=middle, streams=Stream.STDOUT) == ["early"]
    assert lines(sched, app_id, should_tail=True, streams=Stream.STDOUT) == ["early", "late"]


def test_follow_returns_lines_as_they_come_and_ends_with_the_replica(
        sched: TrackingScheduler, tmp_path: Path) -> None:
    app_id = sched.run_app(app("for i in 1 2 3; do echo line$i; sleep 2; done", tmp_path))
    got = []
    for line in sched.log_iter(app_id, "r", 0, should_tail=True):
        got.append(line)
        if len(got) == 1:  # the first line arrives while the app still runs
            d = sched.describe(app_id)
            assert d is not None and d.state == AppState.RUNNING
    assert got == ["line1\n", "line2\n", "line3\n"]


def test_failure_reports_exit_code_and_stops_the_others(sched: TrackingScheduler,
                                                        tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    script = 'if [ "$ID" = 1 ]; then echo failing; sleep 3; exit 3; fi; echo waiting; sleep 300'
    app_id = sched.run_app(app(script, tmp_path, num_replicas=2,
                               env={"ID": "${replica_id}", "TORCHX_TEST_MARK": mark}))
    d = sched.wait(app_id)
    assert d.state == AppState.FAILED
    assert "r[1]" in d.msg and "exit code 3" in d.msg, d.msg
    states = {r.id: r.state for r in d.roles_statuses[0].replicas}
    assert states == {0: AppState.CANCELLED, 1: AppState.FAILED}
    wait_no_procs(mark)  # fail-fast: replica 0's sleep 300 is gone
    assert lines(sched, app_id, k=1) == ["failing"]


def test_cancel_leaves_no_process_of_the_app(sched: TrackingScheduler, tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    # a background child, a double-forked one and one in its own session
    script = "(sleep 600 &); setsid sleep 601 & sleep 602 & echo started; wait"
    app_id = sched.run_app(app(script, tmp_path, env={"TORCHX_TEST_MARK": mark}))
    sched.wait_log(app_id, "r", 0, "started")
    assert len(procs_with(mark)) >= 4
    sched.cancel(app_id)
    d = sched.wait(app_id)
    assert d.state == AppState.CANCELLED
    assert [r.state for r in d.roles_statuses[0].replicas] == [AppState.CANCELLED]
    wait_no_procs(mark)
    sched.cancel(app_id)  # idempotent on a finished app


def test_delete_right_after_submit_runs_nothing(sched: TrackingScheduler, tmp_path: Path) -> None:
    """Ray can lose a stop that arrives while the job is PENDING and start the entrypoint
    anyway: the driver then finds its job stopped or deleted and runs no replica."""
    mark = uuid.uuid4().hex
    for _ in range(2):
        app_id = sched.run_app(app("sleep 300", tmp_path, env={"TORCHX_TEST_MARK": mark}))
        sched.delete(app_id)
        assert sched.describe(app_id) is None
    deadline = time.monotonic() + 40  # long enough for a lost stop to start the replica
    while time.monotonic() < deadline:
        assert procs_with(mark) == [], "a deleted app runs"
        time.sleep(0.5)


def test_two_replicas_each_run_with_their_own_id_and_logs(sched: TrackingScheduler,
                                                         tmp_path: Path) -> None:
    # replica 0 ends at once; replica 1 must still run to the end (no replica is skipped)
    script = ('echo "id=$ID rank0=$TORCHX_RANK0_HOST:$TORCHX_RANK0_PORT"; '
              'if [ "$ID" = 1 ]; then sleep 4; echo "second done"; fi')
    app_id = sched.run_app(app(script, tmp_path, num_replicas=2, env={"ID": "${replica_id}"}))
    d = sched.wait(app_id)
    assert d.state == AppState.SUCCEEDED, d.msg
    reps = d.roles_statuses[0].replicas
    assert [(r.id, r.state) for r in reps] == [(0, AppState.SUCCEEDED), (1, AppState.SUCCEEDED)]
    assert all(r.hostname for r in reps)
    zero, one = lines(sched, app_id, k=0), lines(sched, app_id, k=1)
    assert len(zero) == 1 and zero[0].startswith("id=0 rank0=localhost:"), zero
    port = zero[0].rsplit(":", 1)[1]
    assert int(port) > 0
    assert one == [f"id=1 rank0={reps[0].hostname}:{port}", "second done"]


AWKWARD = ["plain", "", " spaced  out ", "it's", 'say "hi"', "$(touch /tmp/pwned-ray)",
           "`id`", "${HOME}", "$HOME", "a\nb\n", "tab\there", "ünïcødé ✓", "-c", "--x=1",
           "${TORCHX_RANK0_HOST:=localhost}:29500", "back\\slash", "*", "semi;colon && rm -rf x"]


def test_awkward_arguments_arrive_unchanged(sched: TrackingScheduler, tmp_path: Path) -> None:
    role = specs.Role("r", image=str(tmp_path), entrypoint="python",
                      args=["-c", "import json, sys; print(json.dumps(sys.argv[1:]))", *AWKWARD],
                      resource=specs.Resource(cpu=1, gpu=0, memMB=64))
    app_id = sched.run_app(specs.AppDef("awk", roles=[role]))
    d = sched.wait(app_id)
    assert d.state == AppState.SUCCEEDED, d.msg
    assert json.loads(lines(sched, app_id)[0]) == AWKWARD
    assert not os.path.exists("/tmp/pwned-ray")


def test_status_and_logs_from_another_process(sched: TrackingScheduler, tmp_path: Path) -> None:
    app_id = sched.run_app(app("echo from-the-job", tmp_path, name="other"))
    sched.wait(app_id)
    handle = f"ray://{SESSION}/{app_id}"
    probe = (
        "import json, sys\n"
        "from torchx.runner import get_runner\n"
        "with get_runner() as r:\n"
        "    st = r.status(sys.argv[1])\n"
        "    print(json.dumps([st.state.name, st.roles[0].replicas[0].state.name,"
        " list(r.log_lines(sys.argv[1], 'r', 0))]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, handle], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["SUCCEEDED", "SUCCEEDED", ["from-the-job\n"]]


def _snapshot(root: Path) -> dict[str, tuple[int, float, bytes | str]]:
    out: dict[str, tuple[int, float, bytes | str]] = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        body: bytes | str = os.readlink(p) if p.is_symlink() else (
            b"" if p.is_dir() else p.read_bytes())
        out[str(p.relative_to(root))] = (st.st_mode, st.st_mtime, body)
    return out


def test_working_dir_is_copied_and_left_intact(sched: TrackingScheduler, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from torchx.runner import get_runner

    ws = tmp_path / "project"
    (ws / "data").mkdir(parents=True)
    (ws / "data" / "x.txt").write_text("payload\n")
    (ws / "train.py").write_text("print('train')\n")
    (ws / "secret.txt").write_text("do not ship\n")
    (ws / ".torchxignore").write_text("secret.txt\n")
    (ws / "link").symlink_to("data/x.txt")
    before = _snapshot(ws)
    stage = tmp_path / "tmp"
    stage.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(stage))  # where the copy is staged
    script = ("find . -type f -o -type l | sort; cat data/x.txt; "
              "echo changed > data/x.txt; rm -f train.py; rm -rf data")
    role = specs.Role("r", image="unused:latest", entrypoint="bash", args=["-c", script],
                      resource=specs.Resource(cpu=1, gpu=0, memMB=64))
    with get_runner() as runner:
        handle = runner.run(specs.AppDef("ws", roles=[role]), "ray",
                            {"dashboard_address": sched.address}, workspace=str(ws))
        app_id = handle.rsplit("/", 1)[1]
        sched.submitted.append(app_id)
        assert list(stage.iterdir()) == []  # the staged copy is gone once Ray has it
        d = sched.wait(app_id)
    assert d.state == AppState.SUCCEEDED, d.msg
    assert lines(sched, app_id) == ["./.torchxignore", "./data/x.txt", "./link", "./train.py",
                                    "payload"]
    sched.delete(app_id)
    assert _snapshot(ws) == before


def test_ddp_2x1_rendezvouses_across_two_ray_workers(sched: TrackingScheduler,
                                                     tmp_path: Path) -> None:
    from torchx.runner import get_runner

    (tmp_path / "train.py").write_text(
        "import torch, torch.distributed as dist\n"
        "dist.init_process_group('gloo')\n"
        "t = torch.tensor([dist.get_rank() + 1.0])\n"
        "dist.all_reduce(t)\n"
        "print(f'rank {dist.get_rank()} of {dist.get_world_size()} sum {t.item()}', flush=True)\n"
        "dist.destroy_process_group()\n")
    with get_runner() as runner:
        handle = runner.run_component(
            "dist.ddp", ["-j", "2x1", "--cpu", "1", "--script", "train.py"], "ray",
            {"dashboard_address": sched.address}, workspace=str(tmp_path))
        sched.submitted.append(handle.rsplit("/", 1)[1])
        st = runner.wait(handle, wait_interval=2)
        assert st is not None and st.state == AppState.SUCCEEDED, st
        logs = {k: "".join(runner.log_lines(handle, "train", k)) for k in (0, 1)}
    # torchrun numbers the nodes as they join: either replica may be rank 0
    both = logs[0] + logs[1]
    assert "rank 0 of 2 sum 3.0" in both and "rank 1 of 2 sum 3.0" in both, both


def test_replica_retry_restarts_only_the_failed_replica(sched: TrackingScheduler,
                                                       tmp_path: Path) -> None:
    flag = tmp_path / "failed-once"
    script = (f'echo "start $ID"; if [ "$ID" = 1 ] && [ ! -e {flag} ]; then touch {flag}; '
              'exit 5; fi; sleep 2')
    app_id = sched.run_app(app(script, tmp_path, num_replicas=2, env={"ID": "${replica_id}"},
                               max_retries=1, retry_policy=specs.RetryPolicy.REPLICA))
    d = sched.wait(app_id)
    assert d.state == AppState.SUCCEEDED, d.msg
    assert d.num_restarts == 1
    assert lines(sched, app_id, k=1) == ["start 1", "start 1"]
    assert lines(sched, app_id, k=0) == ["start 0"]


def test_application_retry_restarts_every_replica(sched: TrackingScheduler,
                                                  tmp_path: Path) -> None:
    flag = tmp_path / "failed-once"
    script = (f'echo "start $ID"; if [ "$ID" = 1 ] && [ ! -e {flag} ]; then sleep 1; '
              f'touch {flag}; exit 5; fi; sleep 4')
    app_id = sched.run_app(app(script, tmp_path, num_replicas=2, env={"ID": "${replica_id}"},
                               max_retries=1))  # the default policy: APPLICATION
    d = sched.wait(app_id)
    assert d.state == AppState.SUCCEEDED, d.msg
    assert d.num_restarts == 1
    assert lines(sched, app_id, k=0) == ["start 0", "start 0"]


def test_pending_reason_while_the_cluster_has_no_room(sched: TrackingScheduler,
                                                      tmp_path: Path) -> None:
    role = specs.Role("big", image=str(tmp_path), entrypoint="true",
                      resource=specs.Resource(cpu=64, gpu=0, memMB=64))
    app_id = sched.run_app(specs.AppDef("big", roles=[role]))
    deadline = time.monotonic() + 180
    while True:
        d = sched.describe(app_id)
        assert d is not None and d.state == AppState.PENDING, d
        if "waiting for resources" in d.msg:
            break
        assert time.monotonic() < deadline, d.msg
        time.sleep(0.5)
    assert "CPU 64" in d.msg and "CPU 2" in d.msg, d.msg
    sched.cancel(app_id)
    assert sched.wait(app_id).state == AppState.CANCELLED


def test_list_delete_and_unknown_apps(sched: TrackingScheduler, tmp_path: Path) -> None:
    from torchx.specs import UnknownAppException

    app_id = sched.run_app(app("true", tmp_path, name="listed"))
    listed = {a.app_id: a for a in sched.list({"dashboard_address": sched.address})}
    assert app_id in listed
    assert listed[app_id].name == "listed"
    assert listed[app_id].app_handle == f"ray://{SESSION}/{app_id}"
    sched.wait(app_id)
    sched.delete(app_id)
    assert sched.describe(app_id) is None
    with pytest.raises(UnknownAppException):
        list(sched.log_iter(app_id, "r", 0))
    address = app_id.rsplit("-", 2)[0]
    assert sched.describe(f"{address}-no-such-job") is None
    assert sched.describe("not an app id") is None
    sched.cancel(f"{address}-no-such-job")  # a no-op


def test_cli_run_status_log_and_bad_dashboard(sched: TrackingScheduler, tmp_path: Path) -> None:
    env = {**os.environ, "TORCHX_HOME": str(tmp_path / "home")}
    cli = [sys.executable, "-m", "torchx"]
    run = subprocess.run(
        [*cli, "run", "-s", "ray", "-cfg", f"dashboard_address={sched.address}",
         "utils.echo", "--msg", "via the CLI"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    handle = run.stdout.strip().splitlines()[-1]
    sched.submitted.append(handle.rsplit("/", 1)[1])
    sched.wait(handle.rsplit("/", 1)[1])
    log = subprocess.run([*cli, "log", handle], capture_output=True, text=True, timeout=120,
                         env=env)
    assert log.stdout == "echo/0 via the CLI\n", log.stderr
    # the run option wins over $RAY_ADDRESS (Ray's own client would prefer the variable)
    bad = subprocess.run(
        [*cli, "run", "-s", "ray", "-cfg", "dashboard_address=127.0.0.1:1", "utils.echo"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**env, "RAY_ADDRESS": sched.address})
    assert bad.returncode != 0
    assert "cannot reach the Ray dashboard at http://127.0.0.1:1" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_requirements_are_pip_installed_for_the_job(sched: TrackingScheduler,
                                                     tmp_path: Path) -> None:
    """``requirements`` becomes the job's pip runtime env, and replicas run its Python."""
    probe = subprocess.run([sys.executable, "-c", "import tabulate"], capture_output=True)
    assert probe.returncode != 0, "tabulate is installed here: pick a package the venv lacks"
    (tmp_path / "requirements.txt").write_text("tabulate\n")
    role = specs.Role("r", image=str(tmp_path), entrypoint="python",
                      args=["-c", "import tabulate; print('tabulate', tabulate.__name__)"],
                      resource=specs.Resource(cpu=1, gpu=0, memMB=64))
    app_id = sched.run_app(specs.AppDef("pip", roles=[role]),
                           requirements=str(tmp_path / "requirements.txt"))
    d = sched.wait(app_id, timeout=300)
    assert d.state == AppState.SUCCEEDED, d.msg
    assert lines(sched, app_id) == ["tabulate tabulate"]
