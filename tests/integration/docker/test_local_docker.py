"""local_docker against a real Docker Engine: the scheduler contract, then what is Docker's own
(replicas stopped together, mounts, restart policy, networks, images, a second process)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import torchx.specs as specs
from tests.contract import SchedulerContract
from tests.integration.docker.conftest import BUSYBOX, SESSION, remove_session_containers
from torchx.schedulers.api import Scheduler
from torchx.schedulers.docker_scheduler import DockerScheduler
from torchx.specs import AppState


class TestLocalDockerContract(SchedulerContract):
    backend = "local_docker"
    session_name = SESSION
    image = BUSYBOX
    resource = specs.Resource(cpu=1, gpu=0, memMB=128)
    timeout = 120.0
    poll = 0.5  # wait_for_change returns when the containers' state changes
    cannot: dict[str, str] = {}  # local_docker does everything the contract asks

    client: Any = None

    @pytest.fixture(autouse=True)
    def _docker_client(self, client: Any) -> Iterator[None]:
        """The session's Docker client (the conftest fixture requires the backend)."""
        self.client = client
        yield

    def make_scheduler(self, session_name: str) -> Scheduler[Any]:
        from torchx.schedulers.docker_scheduler import create_scheduler

        return create_scheduler(session_name, docker_client=self.client)

    def normalize_dryrun(self, text: str, tmp_path: Path) -> str:
        text = re.sub(r"contract-golden-[0-9a-f]{8}", "contract-golden-<id>", text)
        text = text.replace(f"session={SESSION}", "session=<session>")
        return super().normalize_dryrun(text, tmp_path)

    def cleanup(self, sched: Scheduler[Any], app_ids: list[str]) -> None:
        remove_session_containers(self.client)

    def sh_app(self, script: str, name: str = "sh", **role_kw: Any) -> specs.AppDef:
        return specs.AppDef(name, roles=[specs.Role("r", image=BUSYBOX, entrypoint="sh",
                                                    args=["-c", script], **role_kw)])

    # ---- local_docker's own

    def test_failed_replica_ends_the_app(self, sched: DockerScheduler, client: Any) -> None:
        app_id = self.submit(sched, self.sh_app('[ "$R" = 1 ] && exit 7; sleep 300', num_replicas=2,
                                   env={"R": specs.macros.replica_id}))
        desc = self.wait(sched, app_id)
        assert desc.state == AppState.FAILED and desc.msg == "r[1] exited with code 7"
        states = {c["State"] for c in client.api.containers(
            all=True, filters={"label": f"torchx.pytorch.org/app-id={app_id}"})}
        assert states == {"exited"}  # the sleeping replica was stopped too


    def test_cancel_then_delete(self, sched: DockerScheduler, client: Any) -> None:
        app_id = self.submit(sched, self.sh_app("sleep 300", num_replicas=2))
        self.wait(sched, app_id, {AppState.RUNNING})
        sched.cancel(app_id)
        desc = sched.describe(app_id)
        assert desc is not None and desc.state == AppState.CANCELLED
        assert {r.state for r in desc.roles_statuses[0].replicas} == {AppState.CANCELLED}
        sched.cancel(app_id)  # a no-op once terminal
        sched.delete(app_id)
        assert sched.describe(app_id) is None
        assert not client.api.containers(all=True, filters={"label": f"torchx.pytorch.org/app-id={app_id}"})


    def test_status_logs_cancel_from_a_second_process(self, sched: DockerScheduler) -> None:
        app_id = self.submit(sched, self.sh_app("echo started; sleep 300"))
        self.wait(sched, app_id, {AppState.RUNNING})
        code = f"""
    import time
    from torchx.schedulers.docker_scheduler import create_scheduler
    s = create_scheduler("other")
    print(s.describe({app_id!r}).state.name)
    deadline = time.monotonic() + 30
    while not (lines := list(s.log_iter({app_id!r}, "r", 0))) and time.monotonic() < deadline:
        time.sleep(0.05)
    print(lines[0], end="")
    s.cancel({app_id!r})
    print(s.describe({app_id!r}).state.name)
    """
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["RUNNING", "started", "CANCELLED"]
        assert self.wait(sched, app_id).state == AppState.CANCELLED


    def test_env_macros_resources_mounts_and_options(self, sched: DockerScheduler, client: Any,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
        (tmp_path / "in.txt").write_text("from the host\n")
        monkeypatch.setenv("TORCHX_IT_COPY", "copied")
        script = ("echo id=$ID rep=$REP rank0=$TORCHX_RANK0_HOST host=$(hostname) cfg=$CFG"
                  " copy=$TORCHX_IT_COPY; cat /mnt/in/in.txt; df -m /dev/shm | tail -1")
        app = self.sh_app(script, env={"ID": specs.macros.app_id, "REP": specs.macros.replica_id},
                     num_replicas=2, resource=specs.Resource(cpu=1, gpu=0, memMB=64),
                     mounts=[specs.BindMount(str(tmp_path), "/mnt/in", read_only=True)])
        # (privileged is checked in the unit tests: this CI machine cannot grant all capabilities)
        app_id = self.submit(sched, app, {"env": {"CFG": "c"}, "copy_env": ["TORCHX_IT_*"]})
        assert self.wait(sched, app_id).state == AppState.SUCCEEDED
        out = list(sched.log_iter(app_id, "r", 1))
        rank0 = f"{app_id}-r-0"
        assert out[0] == f"id={app_id} rep=1 rank0={rank0} host={app_id}-r-1 cfg=c copy=copied\n"
        assert out[1] == "from the host\n"
        assert out[2].split()[1] == "64"  # /dev/shm sized to the memory
        info = client.api.inspect_container(f"{app_id}-r-1")
        host = info["HostConfig"]
        assert (host["NanoCpus"], host["Memory"], host["ShmSize"]) == (10**9, 64 << 20, 64 << 20)
        assert host["Mounts"][0]["ReadOnly"] is True


    def test_volume_and_device_mounts(self, sched: DockerScheduler, client: Any) -> None:
        vol = f"torchx-it-vol-{os.getpid()}"
        mounts: list[specs.Mount] = [specs.VolumeMount(vol, "/v"),
                                     specs.DeviceMount("/dev/null", "/dev/xnull", "rw")]
        app = self.sh_app("echo kept > /v/f; cat /v/f; echo x > /dev/xnull && echo dev ok", mounts=mounts)
        try:
            app_id = self.submit(sched, app)
            assert self.wait(sched, app_id).state == AppState.SUCCEEDED
            assert list(sched.log_iter(app_id, "r", 0)) == ["kept\n", "dev ok\n"]
            sched.delete(app_id)
        finally:
            for v in client.volumes.list(filters={"name": vol}):
                v.remove(force=True)


    def test_max_retries_restart_policy(self, sched: DockerScheduler, client: Any, tmp_path: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
        # replica 1 fails on its first run and succeeds on the retry (the mark is in a bind mount);
        # replica 0 outlives that failure: it is not stopped, and not restarted (REPLICA policy)
        flaky = self.sh_app('if [ "$R" = 0 ]; then sleep 2; echo first; '
                       "elif [ -e /m/ran ]; then echo second; else touch /m/ran; exit 1; fi",
                       num_replicas=2, max_retries=2, env={"R": specs.macros.replica_id},
                       mounts=[specs.BindMount(str(tmp_path), "/m")],
                       retry_policy=specs.RetryPolicy.APPLICATION)
        with caplog.at_level("WARNING", logger="torchx.schedulers.docker_scheduler"):
            app_id = self.submit(sched, flaky)
        assert [r.getMessage() for r in caplog.records] == [
            "role `r` asks for retry_policy APPLICATION but local_docker retries each failed replica"
            " alone (Docker's on-failure restart, up to 2 times per replica): set"
            " retry_policy=REPLICA to silence this, or use local_cwd to restart the whole app"]
        desc = self.wait(sched, app_id)
        assert (desc.state, desc.num_restarts) == (AppState.SUCCEEDED, 1)
        assert desc.roles[0].retry_policy == specs.RetryPolicy.REPLICA  # what actually ran
        restarts = [client.api.inspect_container(f"{app_id}-r-{k}")["RestartCount"] for k in (0, 1)]
        assert restarts == [0, 1]
        assert list(sched.log_iter(app_id, "r", 0)) == ["first\n"]
        caplog.clear()
        always = self.wait(sched, self.submit(sched, self.sh_app("exit 4", max_retries=2,
                                               retry_policy=specs.RetryPolicy.REPLICA)))
        assert (always.state, always.num_restarts) == (AppState.FAILED, 2)
        assert not caplog.records  # REPLICA is what it asked for: nothing to warn about


    def test_network_is_created_although_a_longer_name_contains_it(self, sched: DockerScheduler,
                                                                   client: Any) -> None:
        name = f"torchx-it-net{os.getpid()}"
        client.networks.create(f"{name}-other", driver="bridge")  # Docker's name filter matches it
        try:
            sched._ensure_network(name)
            sched._ensure_network(name)  # and again: already there
            assert sorted(n.name for n in client.networks.list(names=[name])) == [name,
                                                                                   f"{name}-other"]
        finally:
            for net in client.networks.list(names=[name]):
                net.remove()


    def test_image_missing_is_one_clear_error(self, sched: DockerScheduler) -> None:
        app = self.sh_app("true")
        app.roles[0].image = "torchx-no-such-image:1"
        with pytest.raises(specs.TorchXError, match=r"`torchx-no-such-image:1` is not present locally"
                                                    r" and could not be pulled.*docker build"):
            self.submit(sched, app)


    def test_docker_unreachable_says_where_and_how(self, tmp_path: Path) -> None:
        code = ("from torchx.schedulers.docker_scheduler import create_scheduler\n"
                "create_scheduler('x').describe('a')\n")
        env = {"DOCKER_HOST": f"unix://{tmp_path}/no.sock", "PATH": "/usr/bin:/bin"}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                             timeout=60)
        assert out.returncode != 0
        last = out.stderr.strip().splitlines()[-1]
        assert f"cannot reach Docker Engine at unix://{tmp_path}/no.sock" in last
        assert "dockerd" in last and "DockerUnavailableError" in last


    def test_runner_wait_wakes_on_the_change_not_after_wait_interval(self, runner: Any) -> None:
        """With wait_interval an hour, wait() must still return once the app ends: the scheduler's
        wait_for_change hook is woken by the containers' state change."""
        import threading

        handle = runner.run(self.sh_app("sleep 1; exit 0"), scheduler="local_docker")
        result: list[Any] = []
        waiter = threading.Thread(target=lambda: result.append(runner.wait(handle, wait_interval=3600)),
                                  daemon=True)
        waiter.start()
        waiter.join(timeout=60)
        assert not waiter.is_alive(), "wait() slept through the app's end"
        assert result[0] is not None and result[0].state == AppState.SUCCEEDED
