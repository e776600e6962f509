"""The dashboard's JSON API over a real local_cwd (and stand-ins for a scheduler that is down)."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest

from tests.unit.dashboard.conftest import sh, wait_state
from torchx.cli.cmd_dashboard import choose_schedulers
from torchx.dashboard.api import ApiError, Dashboard, LogTail
from torchx.runner import Runner
from torchx.specs import UnknownSchedulerException


def test_jobs_lists_every_local_job_with_state_age_and_replicas(dash: Dashboard, runner: Runner) -> None:
    done = runner.run(sh("done", "echo hi", n=2))
    wait_state(runner, done, {"SUCCEEDED"})
    running = runner.run(sh("busy", "sleep 60"))
    wait_state(runner, running, {"RUNNING"})
    data = dash.jobs()
    rows = {j["handle"]: j for j in data["jobs"]}
    assert rows[done]["state"] == "SUCCEEDED" and rows[done]["name"] == "done"
    assert rows[done]["replicas"] == 2 and rows[done]["roles"] == [["done", 2]]
    assert rows[running]["state"] == "RUNNING" and rows[running]["scheduler"] == "local_cwd"
    assert 0 <= data["now"] - rows[running]["created"] < 120


def test_a_scheduler_that_is_down_is_an_error_for_it_alone(dash: Dashboard, runner: Runner) -> None:
    h = runner.run(sh("ok", "true"))
    data = dash.jobs()
    by_name = {s["name"]: s for s in data["schedulers"]}
    assert by_name["local_cwd"]["error"] is None and by_name["local_cwd"]["count"] == 1
    assert "slurmctld is not running" in by_name["down"]["error"]
    assert [j["handle"] for j in data["jobs"]] == [h]


def test_a_scheduler_that_hangs_never_holds_the_page(runner: Runner) -> None:
    d = Dashboard(runner, ["local_cwd", "hanging"], answer_wait=0.3, list_timeout=1.0,
                  cache_ttl=0.0)
    try:
        t0 = time.monotonic()
        data = d.jobs()
        assert time.monotonic() - t0 < 20
        by_name = {s["name"]: s for s in data["schedulers"]}
        assert by_name["hanging"]["loading"] and by_name["hanging"]["error"] is None
        assert by_name["local_cwd"]["error"] is None and not by_name["local_cwd"]["loading"]
        time.sleep(1.2)
        by_name = {s["name"]: s for s in d.jobs()["schedulers"]}
        assert "hanging has not answered for" in by_name["hanging"]["error"]
        # refreshes wait on the same call instead of piling up new ones
        assert list(d._inflight) == ["hanging"]
    finally:
        d.close()


def test_job_shows_replicas_exit_codes_and_the_appdef(dash: Dashboard, runner: Runner) -> None:
    h = runner.run(sh("bad", "echo out; exit 3"))
    wait_state(runner, h, {"FAILED"})
    job = dash.job(h)
    assert job["status"]["state"] == "FAILED" and job["status"]["terminal"]
    rep = job["status"]["roles"][0]["replicas"][0]
    assert rep["exit_code"] == 3 and rep["state"] == "FAILED" and rep["hostname"] == "localhost"
    assert rep["num_restarts"] == 0
    assert "exit code 3" in job["status"]["msg"]
    assert job["app"]["roles"][0]["entrypoint"] == "sh"
    assert job["app"]["roles"][0]["args"] == ["-c", "echo out; exit 3"]
    assert job["log_targets"] == [{"role": "bad", "replicas": [0]}]


@pytest.mark.parametrize("handle,fragment", [
    ("", "no job handle"),
    ("not a handle", "malformed app handle"),
    ("slurm://torchx/1", "restart it with `-s slurm`"),
])
def test_bad_handles_are_400(dash: Dashboard, handle: str, fragment: str) -> None:
    with pytest.raises(ApiError) as e:
        dash.job(handle)
    assert e.value.status == 400
    assert fragment.lower() in str(e.value).lower()


def test_unknown_job_is_404(dash: Dashboard, home: str) -> None:
    with pytest.raises(ApiError) as e:
        dash.job("local_cwd://torchx/nope-123")
    assert e.value.status == 404


def test_logs_follow_a_running_job_and_filter_by_regex(dash: Dashboard, runner: Runner) -> None:
    h = runner.run(sh("tick", "for i in $(seq 1 40); do echo tick $i; echo err $i >&2; sleep 0.05; done"))
    first = dash.logs(h, "tick", 0, "stdout")
    seen = list(first["lines"])
    after, tail_id = first["next"], first["tail_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = dash.logs(h, "tick", 0, "stdout", after=after, tail_id=tail_id)
        assert r["first"] == after and not r["reset"]
        seen += r["lines"]
        after = r["next"]
        if r["done"]:
            break
    assert seen == [f"tick {i}" for i in range(1, 41)]
    errs = dash.logs(h, "tick", 0, "stderr", regex=r"err (1|2)0$")
    assert errs["lines"] == ["err 10", "err 20"]
    with pytest.raises(ApiError, match="not a valid regex"):
        dash.logs(h, "tick", 0, "stdout", regex="(")
    with pytest.raises(ApiError, match="unknown stream"):
        dash.logs(h, "tick", 0, "everything")


def test_a_long_log_shows_its_tail_only(dash: Dashboard, runner: Runner) -> None:
    h = runner.run(sh("long", "seq 1 30000"))
    wait_state(runner, h, {"SUCCEEDED"})
    deadline = time.monotonic() + 60
    r = dash.logs(h, "long", 0, limit=100)
    while not r["done"] and time.monotonic() < deadline:
        r = dash.logs(h, "long", 0, limit=100)
    r = dash.logs(h, "long", 0, limit=100)
    assert r["lines"] == [str(i) for i in range(29901, 30001)]
    assert r["first"] == 29900 and r["next"] == 30000


def test_log_tail_skips_ahead_and_resets() -> None:
    gate = threading.Event()

    def lines() -> object:
        yield from (f"l{i}\n" for i in range(50))
        gate.wait(30)
        yield from (f"l{i}\n" for i in range(50, 1000))

    tail = LogTail(lines, keep=100)  # type: ignore[arg-type]
    deadline = time.monotonic() + 30
    while tail.total < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    r = tail.read(None, 10)
    assert r["lines"] == [f"l{i}" for i in range(40, 50)] and r["first"] == 40
    assert tail.read(50, 10, wait=0.05)["lines"] == []  # nothing new: a short wait, then empty
    gate.set()
    while not tail.done and time.monotonic() < deadline:
        time.sleep(0.01)
    r = tail.read(50, 10)  # 950 lines behind: only the newest 10, told how many were skipped
    assert r["lines"] == [f"l{i}" for i in range(990, 1000)]
    assert r["skipped"] == 940 and r["done"]
    assert len(tail.lines) == 100


def test_log_tail_reports_errors_and_cuts_huge_lines() -> None:
    def lines() -> object:
        yield "x" * 100_000 + "\n"
        raise RuntimeError("the log file went away")

    tail = LogTail(lines)  # type: ignore[arg-type]
    tail._thread.join(30)
    r = tail.read(None, 10)
    assert r["error"] == "the log file went away" and r["done"]
    assert len(r["lines"][0]) < 20_000 and r["lines"][0].endswith("more characters cut]")


def test_a_forgotten_follower_starts_again_at_the_tail(dash: Dashboard, runner: Runner) -> None:
    h = runner.run(sh("r", "echo one; echo two"))
    wait_state(runner, h, {"SUCCEEDED"})
    r = dash.logs(h, "r", 0)
    again = dash.logs(h, "r", 0, after=r["next"], tail_id=r["tail_id"] + 1000)
    assert again["reset"] and again["lines"] == ["one", "two"]


def test_cancel_and_delete_go_through_the_runner(dash: Dashboard, runner: Runner) -> None:
    h = runner.run(sh("long", "sleep 60"))
    wait_state(runner, h, {"RUNNING"})
    with pytest.raises(ApiError) as e:
        dash.delete(h)
    assert e.value.status == 409 and "cancel it before deleting" in str(e.value)
    assert "requested" in dash.cancel(h)["message"]
    wait_state(runner, h, {"CANCELLED"})
    assert "already ended (CANCELLED)" in dash.cancel(h)["message"]
    assert dash.delete(h)["ok"]
    assert runner.status(h) is None
    assert h not in [j["handle"] for j in dash.jobs()["jobs"]]


def test_schedulers_shown_are_local_cwd_then_named_or_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = tmp_path / ".torchxconfig"
    cfg.write_text("[cli:run]\nscheduler = slurm\n[local_docker]\n[component:dist.ddp]\nj = 1x1\n"
                   "[not_a_scheduler_name]\n")
    monkeypatch.setenv("TORCHXCONFIG", str(cfg))
    assert choose_schedulers(None) == ["local_cwd", "slurm", "local_docker"]
    assert choose_schedulers(["slurm,local_cwd"]) == ["local_cwd", "slurm"]
    with pytest.raises(UnknownSchedulerException, match="Did you mean `slurm`"):
        choose_schedulers(["slrum"])


def test_ids_of_followers_are_unique() -> None:
    ids = {LogTail(lambda: iter(()), keep=1).id for _ in itertools.repeat(None, 5)}
    assert len(ids) == 5
