"""The ray scheduler's pure parts: addresses and app ids, the request, the rank-0 port rewrite,
and reading state from Ray's job status plus the driver's state.json. The scheduler against a
real cluster (and the contract suite) is in ``tests/integration/ray``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torchx import specs
from torchx.components.dist import ddp
from torchx.schedulers import ray_driver
from torchx.schedulers import ray_scheduler as rs
from torchx.schedulers.ray_status import describe_job
from torchx.specs import AppState


@pytest.mark.parametrize(("given_addr", "want"), [
    ("127.0.0.1:8265", "127.0.0.1:8265"),
    ("http://127.0.0.1:8265", "127.0.0.1:8265"),
    ("http://head.example.com:8265/", "head.example.com:8265"),
    ("ray-head", "ray-head:8265"),
    ("https://ray.example.com:443", "https:ray.example.com:443"),
])
def test_normalize_address(given_addr: str, want: str) -> None:
    assert rs.normalize_address(given_addr) == want
    assert rs.dashboard_url(want).split("://")[1] == want.removeprefix("https:")


@pytest.mark.parametrize("bad", ["ray://head:10001", "grpc://x:1", "", "host:1/path", "a b:1"])
def test_not_a_dashboard_address_is_one_line(bad: str) -> None:
    with pytest.raises(rs.RaySchedulerError) as e:
        rs.normalize_address(bad)
    assert "\n" not in str(e.value) and "dashboard" in str(e.value)


_HOSTS = st.sampled_from(["127.0.0.1:8265", "ray-head.svc:8265", "https:ray.example.com:443",
                          "10.0.0.7:1", "[::1]:8265"])


@given(host=_HOSTS, name=st.text(max_size=30))
def test_app_id_round_trip(host: str, name: str) -> None:
    sid = rs.make_submission_id(name)
    app_id = rs.make_app_id(host, sid)
    assert rs.parse_app_id(app_id) == (host, sid)
    handle = specs.make_app_handle("ray", "torchx", app_id)
    assert specs.parse_app_handle(handle).app_id == app_id


def test_parse_app_id_rejects_what_is_not_one() -> None:
    for bad in ["raysubmit_x", "127.0.0.1-x", "a/b:1-x", ""]:
        assert rs.parse_app_id(bad) is None


def test_bind_rank0_port_rewrites_only_declared_rendezvous_ports() -> None:
    host = "${TORCHX_RANK0_HOST:=localhost}"
    assert rs.bind_rank0_port(f"x {host}:29500 y", [29500]) == (
        f"x {host}:${{TORCHX_RANK0_PORT:-29500}} y")
    assert rs.bind_rank0_port("$TORCHX_RANK0_HOST:29500", [29500]) == (
        "$TORCHX_RANK0_HOST:${TORCHX_RANK0_PORT:-29500}")
    assert rs.bind_rank0_port(f"{host}:1234", [29500]) == f"{host}:1234"
    assert rs.bind_rank0_port(f"{host}:29500", []) == f"{host}:29500"
    assert rs.bind_rank0_port("$TORCHX_RANK0_HOSTX:29500", [29500]) == "$TORCHX_RANK0_HOSTX:29500"


@given(st.text())
def test_bind_rank0_port_leaves_other_text_alone(text: str) -> None:
    if "TORCHX_RANK0_HOST" not in text:
        assert rs.bind_rank0_port(text, [29500, 1]) == text


def test_ddp_job_uses_the_free_rank0_port_and_one_bundle_per_replica(tmp_path: Path) -> None:
    app = ddp(script="train.py", j="2x1", cpu=1, memMB=256)
    app.roles[0].workspace = specs.Workspace({str(tmp_path): ""})
    job = rs.app_to_job(app, "127.0.0.1:8265", "train-0000abcd", "s")
    (role,) = job.roles
    assert role.bundle == {"CPU": 1.0, "memory": 256 * 2**20}
    assert role.cwd == "ws/0" and job.dirs == [(str(tmp_path), "", "ws/0")]
    cmd = role.replicas[1].argv[2]
    # dist.* rendezvous on $TORCHX_RDZV_PORT, which the driver sets to the free port it picks
    assert "--rdzv_endpoint ${TORCHX_RANK0_HOST:=localhost}:${TORCHX_RDZV_PORT:-29500}" in cmd
    assert "127.0.0.1:8265-train-0000abcd" in cmd  # ${app_id} is the app id
    assert [r.id for r in role.replicas] == [0, 1]
    spec = job.job_json()["roles"][0]
    assert spec["bundle"] == role.bundle and len(spec["replicas"]) == 2
    assert ray_driver.bundle_of(spec) == role.bundle


@given(args=st.lists(st.text().filter(lambda a: "$" not in a), max_size=5))
def test_arguments_reach_the_job_unchanged(args: list[str]) -> None:
    app = specs.AppDef("a", [specs.Role("r", image="img", entrypoint="prog", args=args)])
    job = rs.app_to_job(app, "h:1", "a-1", "s")
    shipped = json.loads(json.dumps(job.job_json()))
    assert shipped["roles"][0]["replicas"][0]["argv"] == ["prog", *args]


def test_request_errors_are_one_line(tmp_path: Path) -> None:
    r = specs.Role("r", image="img", entrypoint="true")
    two = specs.AppDef("a", [r, r])
    with pytest.raises(rs.RaySchedulerError, match="two roles are named `r`"):
        rs.app_to_job(two, "h:1", "a-1", "s")
    with pytest.raises(rs.RaySchedulerError, match="cannot read requirements file"):
        rs.read_requirements(str(tmp_path / "missing.txt"))
    (tmp_path / "req.txt").write_text("# pinned\nnumpy==2.0\n\nrequests\n")
    assert rs.read_requirements(str(tmp_path / "req.txt")) == ["numpy==2.0", "requests"]


def test_dryrun_shows_the_copy_and_the_pip_packages(tmp_path: Path) -> None:
    (tmp_path / "req.txt").write_text("requests\n")
    role = specs.Role("r", image=str(tmp_path), entrypoint="true")
    sched = rs.create_scheduler("t")
    info = sched.submit_dryrun(specs.AppDef("a", [role]), {
        "dashboard_address": "10.1.2.3:8265", "requirements": str(tmp_path / "req.txt")})
    text = repr(info.request)
    assert f"working_dir ws/0: copy of {tmp_path}" in text
    assert "pip: 1 package(s)" in text and "http://10.1.2.3:8265" in text
    assert info.request.runtime_env("/stage") == {"working_dir": "/stage", "pip": ["requests"]}


def test_dashboard_address_defaults_to_ray_address(monkeypatch: pytest.MonkeyPatch) -> None:
    app = specs.AppDef("a", [specs.Role("r", image="img", entrypoint="true")])
    monkeypatch.setenv("RAY_ADDRESS", "http://10.9.9.9:8265")
    assert rs.create_scheduler("t").submit_dryrun(app, {}).request.address == "10.9.9.9:8265"
    monkeypatch.delenv("RAY_ADDRESS")
    assert rs.create_scheduler("t").submit_dryrun(app, {}).request.address == "127.0.0.1:8265"


def _job(status: str, message: str = "") -> dict[str, object]:
    roles = [rs.role_to_json(specs.Role("r", image="img", entrypoint="true", num_replicas=2))]
    return {"status": status, "message": message, "submission_id": "a-1",
            "metadata": {"torchx_roles": json.dumps(roles)}}


def _state(state: str, *replicas: str) -> dict[str, object]:
    return {"state": state, "msg": f"driver says {state}", "num_restarts": 1,
            "replicas": [{"role": "r", "id": i, "state": s, "node_ip": "10.0.0.1"}
                         for i, s in enumerate(replicas)]}


def _states(d: object) -> list[AppState]:
    return [r.state for r in d.roles_statuses[0].replicas]  # type: ignore[attr-defined]


def test_describe_before_the_driver_reports() -> None:
    d = describe_job("h:1-a-1", _job("PENDING"), None, "http://h:1")
    assert (d.state, _states(d)) == (AppState.PENDING, [AppState.PENDING] * 2)
    d = describe_job("h:1-a-1", _job("RUNNING"), None, "http://h:1")
    assert d.state == AppState.PENDING  # the driver is starting
    assert d.ui_url == "http://h:1/#/jobs/a-1" and d.roles[0].num_replicas == 2


def test_describe_trusts_the_driver_while_it_reports() -> None:
    d = describe_job("h:1-a-1", _job("RUNNING"), _state("RUNNING", "RUNNING", "SUCCEEDED"), "u")
    assert (d.state, _states(d), d.num_restarts) == (
        AppState.RUNNING, [AppState.RUNNING, AppState.SUCCEEDED], 1)
    assert d.roles_statuses[0].replicas[0].hostname == "10.0.0.1"
    failed = _state("FAILED", "FAILED", "CANCELLED")
    failed["replicas"][0]["exit_code"] = 3  # type: ignore[index]
    failed["replicas"][1]["exit_code"] = -15  # type: ignore[index]
    d = describe_job("h:1-a-1", _job("RUNNING"), failed, "u")
    assert (d.state, d.msg) == (AppState.FAILED, "driver says FAILED (exit codes: r[0] 3, r[1] -15)")


def test_a_job_that_ended_without_its_driver_saying_so() -> None:
    stopped = describe_job("h:1-a-1", _job("STOPPED"), _state("RUNNING", "RUNNING", "SUCCEEDED"),
                           "u")
    assert (stopped.state, _states(stopped)) == (
        AppState.CANCELLED, [AppState.CANCELLED, AppState.SUCCEEDED])
    crashed = describe_job(
        "h:1-a-1", _job("FAILED", "Job entrypoint command failed with exit code 137, last "
                        "available logs (truncated to 20,000 chars):\nKilled\n"),
        _state("RUNNING", "RUNNING", "RUNNING"), "u")
    assert crashed.state == AppState.FAILED and _states(crashed) == [AppState.FAILED] * 2
    assert crashed.msg == ("the Ray job failed: Job entrypoint command failed with exit code 137"
                           " (its driver's output: `ray job logs a-1`)")


def test_driver_helpers() -> None:
    assert ray_driver.bundle_of({}) == {"CPU": 1.0}
    assert ray_driver.bundle_of({"bundle": {"CPU": 0.5, "GPU": 0}}) == {"CPU": 0.5}
    assert ray_driver.describe_exit(3) == "exit code 3"
    assert ray_driver.describe_exit(-9) == "killed by SIGKILL"


def test_importing_the_scheduler_does_not_import_ray() -> None:
    code = ("import sys, torchx.schedulers.ray_scheduler, torchx.schedulers.ray_driver; "
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
