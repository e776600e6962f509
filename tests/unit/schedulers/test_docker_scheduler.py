"""local_docker's pure parts: app -> containers, create kwargs, state table, dryrun goldens."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

import torchx.specs as specs
from torchx.schedulers import docker_scheduler as ds
from torchx.specs import AppState, BindMount, DeviceMount, Resource, Role, VolumeMount, Workspace

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "docker"


class NoImages:
    class images:
        @staticmethod
        def get(name: str) -> Any:
            import docker.errors

            raise docker.errors.ImageNotFound(name)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"dryrun touched docker: {name}")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("TORCHX_UPDATE_GOLDEN") == "1":  # only 1, as for Slurm's (not `0`)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}: run with TORCHX_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"dryrun differs from {path} (TORCHX_UPDATE_GOLDEN=1 updates)"


@pytest.mark.parametrize(("flag", "rewritten"), [("1", True), ("0", False), ("", False),
                                                 ("yes", False), (None, False)])
def test_golden_files_are_rewritten_only_with_update_golden_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str | None, rewritten: bool) -> None:
    monkeypatch.setattr(sys.modules[__name__], "GOLDEN", tmp_path)
    if flag is None:
        monkeypatch.delenv("TORCHX_UPDATE_GOLDEN", raising=False)
    else:
        monkeypatch.setenv("TORCHX_UPDATE_GOLDEN", flag)
    (tmp_path / "x.txt").write_text("old")
    if rewritten:
        check_golden("x.txt", "new")
    else:
        with pytest.raises(AssertionError, match="differs"):
            check_golden("x.txt", "new")
    assert (tmp_path / "x.txt").read_text() == ("new" if rewritten else "old")


def full_app() -> specs.AppDef:
    return specs.AppDef("My Job!", roles=[
        Role(
            "trainer", image="local/python-torch:2.13.0", entrypoint="python",
            args=["-m", "train", "--id", specs.macros.app_id, "--rep", specs.macros.replica_id,
                  "it's quoted; $(not run)"],
            env={"ROLE_VAR": "r", "SHARED": "role wins", "RANK0": f"${{{specs.macros.rank0_env}}}"},
            num_replicas=2, max_retries=3,
            resource=Resource(cpu=2, gpu=1, memMB=2048),
            mounts=[BindMount("/data", "/mnt/data", read_only=True), VolumeMount("cache", "/cache"),
                    DeviceMount("/dev/fuse", "/dev/fuse", "rw")],
        ),
        Role("ps", image="local/busybox:1", entrypoint="sleep", args=["60"]),
    ])


@pytest.fixture
def fixed_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ds, "make_app_id", lambda name: "my-job-0000abcd")


def test_dryrun_golden_full(fixed_id: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHX_TEST_SECRET", "never printed")
    sched = ds.create_scheduler("golden", docker_client=NoImages())
    cfg = {"copy_env": ["TORCHX_TEST_S*"], "env": {"SHARED": "cfg", "CFG_VAR": "c"},
           "privileged": True}
    info = sched.submit_dryrun(full_app(), cfg)
    text = repr(info)
    assert "never printed" not in text
    check_golden("full.txt", text)


def test_dryrun_golden_ddp_workspace(fixed_id: None, tmp_path: Path) -> None:
    from torchx.components.dist import ddp

    (tmp_path / "train.py").write_text("print('hi')\n")
    os.chmod(tmp_path / "train.py", 0o644)  # the mode is part of the content key
    app = ddp("--epochs", "1", script="train.py", image="local/python-torch:2.13.0", j="2x1",
              cpu=1, memMB=1024)
    for role in app.roles:
        role.workspace = Workspace({str(tmp_path): ""})
    sched = ds.create_scheduler("golden", docker_client=NoImages())
    sched.build_workspaces(app.roles, {}, dryrun=True)
    text = repr(sched.submit_dryrun(app, {})).replace(str(tmp_path), "<WORKSPACE>")
    check_golden("ddp_workspace.txt", text)


def test_app_to_job_env_macros_and_rank0(monkeypatch: pytest.MonkeyPatch) -> None:
    opts = ds.DockerOpts(copy_env=["HOST_*"], env={"SHARED": "cfg", "CFG": "c"})
    environ = {"HOST_A": "1", "HOST_B": "2", "OTHER": "x", "SHARED": "host"}
    job = ds.app_to_job(full_app(), "app-1", opts, environ, "sess")
    t0, t1, ps = job.containers
    assert [c.name for c in job.containers] == ["app-1-trainer-0", "app-1-trainer-1", "app-1-ps-0"]
    assert t1.env[ds.RANK0_ENV] == "app-1-trainer-0" and ps.env[ds.RANK0_ENV] == "app-1-ps-0"
    assert t1.env["SHARED"] == "role wins" and t1.env["CFG"] == "c"
    assert t1.env["RANK0"] == "${TORCHX_RANK0_HOST}"  # expanded by the shell in the container
    assert t1.copied_env == {"HOST_A": "1", "HOST_B": "2"}
    assert t1.args[:6] == ["-m", "train", "--id", "app-1", "--rep", "1"]
    assert t1.labels[ds.LABEL_REPLICA] == "1" and t1.labels[ds.LABEL_ROLE_INDEX] == "0"
    assert ps.labels[ds.LABEL_ROLE_INDEX] == "1" and ps.cpus is None and ps.mem_mb is None


def test_create_kwargs_resources_mounts_retries() -> None:
    job = ds.app_to_job(full_app(), "app-1", ds.DockerOpts(privileged=True), {}, "s")
    kw = ds.create_kwargs(job.containers[0], "torchx", max_cpus=1.0)
    assert kw["nano_cpus"] == 1_000_000_000  # capped at the engine's CPUs
    assert kw["mem_limit"] == kw["shm_size"] == "2048m"
    assert kw["device_requests"] == [{"count": 1, "capabilities": [["gpu"]]}]
    assert kw["restart_policy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert kw["mounts"] == [
        {"Type": "bind", "Source": "/data", "Target": "/mnt/data", "ReadOnly": True},
        {"Type": "volume", "Source": "cache", "Target": "/cache", "ReadOnly": False},
    ]
    assert kw["devices"] == ["/dev/fuse:/dev/fuse:rw"] and kw["privileged"] and kw["init"]
    assert kw["entrypoint"] == ["python"] and kw["hostname"] == kw["name"] == "app-1-trainer-0"
    ps = ds.create_kwargs(job.containers[2], "torchx")
    assert "nano_cpus" not in ps and "restart_policy" not in ps and "device_requests" not in ps


@pytest.mark.parametrize(
    "policy,retries,whole",
    [
        (specs.RetryPolicy.APPLICATION, 2, "app"),
        (specs.RetryPolicy.ROLE, 1, "role"),
        (specs.RetryPolicy.REPLICA, 2, None),
        (specs.RetryPolicy.APPLICATION, 0, None),  # nothing is retried: nothing to say
    ],
)
def test_retry_policy_other_than_replica_is_noted_in_the_dryrun(
        fixed_id: None, policy: specs.RetryPolicy, retries: int, whole: str | None) -> None:
    app = specs.AppDef("a", roles=[Role("t", image="img", entrypoint="true", max_retries=retries,
                                        retry_policy=policy)])
    job = ds.create_scheduler("s", docker_client=NoImages()).submit_dryrun(app, {}).request
    kw = ds.create_kwargs(job.containers[0], "torchx")
    assert kw.get("restart_policy") == (
        {"Name": "on-failure", "MaximumRetryCount": retries} if retries else None)
    if whole is None:
        assert job.notes == [] and "# note:" not in repr(job)
    else:
        assert job.notes == [ds.retry_note(app.roles[0])]
        note = job.notes[0]
        assert f"role `t` asks for retry_policy {policy.value}" in note
        assert f"up to {retries} times per replica" in note and "retry_policy=REPLICA" in note
        assert f"restart the whole {whole}" in note and "\n" not in note
        assert f"# note: {note}\n" in repr(job)


def test_container_names_are_dns_labels() -> None:
    app_id = ds.make_app_id("A Very Long Application Name With Spaces And CAPS" * 2)
    name = ds.container_name(app_id, "Trainer_Role" * 10, 12)
    assert len(name) <= 63 and name.endswith("-12")
    assert all(c.isalnum() and c.islower() or c.isdigit() or c == "-" for c in name)
    assert ds.make_app_id("x") != ds.make_app_id("x")


@pytest.mark.parametrize(
    "status,code,restarts,retries,cancelled,want",
    [
        ("created", 0, 0, 0, False, AppState.PENDING),
        ("running", 0, 0, 0, False, AppState.RUNNING),
        ("restarting", 1, 1, 3, False, AppState.RUNNING),
        ("exited", 0, 0, 0, False, AppState.SUCCEEDED),
        ("exited", 3, 0, 0, False, AppState.FAILED),
        ("exited", 3, 1, 2, False, AppState.RUNNING),  # a retry is coming
        ("exited", 3, 2, 2, False, AppState.FAILED),
        ("exited", 143, 0, 0, True, AppState.CANCELLED),
        ("dead", 0, 0, 0, False, AppState.FAILED),
        ("paused", 0, 0, 0, False, AppState.PENDING),
    ],
)
def test_replica_state(status: str, code: int, restarts: int, retries: int, cancelled: bool,
                       want: AppState) -> None:
    assert ds.replica_state(status, code, restarts, retries, cancelled) == want


def test_app_state() -> None:
    S = AppState
    assert ds.app_state([S.SUCCEEDED, S.SUCCEEDED]) == S.SUCCEEDED
    assert ds.app_state([S.SUCCEEDED, S.RUNNING]) == S.RUNNING
    assert ds.app_state([S.RUNNING, S.FAILED]) == S.FAILED
    assert ds.app_state([S.FAILED, S.CANCELLED]) == S.CANCELLED
    assert ds.app_state([S.PENDING, S.PENDING]) == S.PENDING
    assert ds.app_state([S.PENDING, S.RUNNING]) == S.RUNNING


def test_lines_joins_chunks_into_whole_lines() -> None:
    assert list(ds._lines([b"a\nb", b"c\n", b"\xffd"])) == ["a\n", "bc\n", "\ufffdd\n"]


def test_run_opts_include_workspace_options() -> None:
    opts = ds.create_scheduler("s", docker_client=NoImages()).run_opts()
    assert {"copy_env", "env", "privileged", "image_repo", "quiet"} <= {k for k, _ in opts}
    with pytest.raises(specs.InvalidRunConfigException, match="Did you mean `privileged`"):
        opts.resolve({"privileges": True})


def test_registered_as_local_docker() -> None:
    from torchx.schedulers import BUILTIN_SCHEDULER_MODULES

    assert BUILTIN_SCHEDULER_MODULES["local_docker"] == ds.__name__


def test_docker_errors_become_one_actionable_line() -> None:
    import docker.errors

    job = ds.app_to_job(full_app(), "app-1", ds.DockerOpts(), {}, "s")
    gpu = docker.errors.APIError("500", explanation='could not select device driver "" with'
                                 " capabilities: [[gpu]]")
    assert "install nvidia-container-toolkit, or run with `--gpu 0`" in str(ds._translate(gpu, job))
    cpu = docker.errors.APIError("400", explanation="Range of CPUs is from 0.01 to 2.00")
    assert "ask for less (`--cpu`, `--memMB`)" in str(ds._translate(cpu, job))
    bind = docker.errors.APIError("400", explanation='invalid mount config for type "bind": bind'
                                  " source path does not exist: /no/such dir")
    assert str(ds._translate(bind, job)) == (
        "bind mount source `/no/such dir` does not exist on this machine: create it, or fix the"
        " role's mounts (`--mounts type=bind,src=...,dst=...`)")


def test_container_overlay_is_merged_last_and_guarded() -> None:
    from torchx.specs.overlays import PUT, set_overlay

    app = full_app()
    set_overlay(app.roles[0], "docker", "container",
                {"shm_size": "2g", "cap_add": ["SYS_PTRACE"], PUT("labels"): {"x": "${replica_id}"}})
    job = ds.app_to_job(app, "app-1", ds.DockerOpts(), {}, "s")
    kw = ds.create_kwargs(job.containers[1], "torchx")
    assert kw["shm_size"] == "2g" and kw["cap_add"] == ["SYS_PTRACE"]
    assert kw["labels"]["x"] == "1" and kw["labels"]["torchx.pytorch.org/app-id"] == "app-1"
    assert "# overlay (containers.create kwargs)" in repr(job)
    set_overlay(app.roles[0], "docker", "container", {"name": "mine"})
    with pytest.raises(ValueError, match="may not set `name`"):
        ds.app_to_job(app, "app-1", ds.DockerOpts(), {}, "s")
