"""local_cwd with real processes: durability, fail-fast, retries, cancel, logs, scale, bad input.

Every test checks through /proc that the processes it started are gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from torchx.runner import Runner
from torchx.specs import (
    AppDef,
    AppState,
    AppStatus,
    MalformedAppHandleException,
    RetryPolicy,
    Role,
    TorchXError,
    UnknownAppException,
    UnknownSchedulerException,
    parse_app_handle,
)
from torchx.specs.api import InvalidRunConfigException

from .conftest import marked_pids, wait_gone

PY = sys.executable
ROOT = str(Path(__file__).resolve().parents[3])


def sh(name: str, script: str, n: int = 1, **kw: object) -> Role:
    return Role(name, image="", entrypoint="sh", args=["-c", script], num_replicas=n, **kw)  # type: ignore[arg-type]


def app_id(handle: str) -> str:
    return parse_app_handle(handle).app_id


def assert_no_processes(handle: str) -> None:
    assert wait_gone(lambda: marked_pids(app_id(handle) + "/")) == []


def second_process(code: str, home: str) -> str:
    """Run ``code`` in a fresh interpreter (``h`` is argv[1]); return its stdout."""
    out = subprocess.run(
        [PY, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "TORCHX_HOME": home, "PYTHONPATH": ROOT}, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


# --------------------------------------------------------------------------- durability


def test_status_log_list_cancel_delete_from_a_second_process(runner: Runner, home: str) -> None:
    h = runner.run(AppDef("durable", [sh("w", "echo started; exec sleep 60", n=2)]))
    for line in runner.log_lines(h, "w", 1, should_tail=True):
        assert line == "started\n"
        break
    out = second_process(f"""
        import json
        from torchx.runner import get_runner
        h = {h!r}
        with get_runner() as r:
            st = r.status(h)
            desc = r.describe(h)
            roles = [(ro.name, ro.num_replicas, ro.entrypoint) for ro in desc.roles]
            lines = list(r.log_lines(h, "w", 0))
            listed = [a.app_handle for a in r.list("local_cwd")]
            r.cancel(h)
            final = r.wait(h, wait_interval=30)
            print(json.dumps([st.state.name, roles, lines, listed, final.state.name]))
    """, home)
    state, roles, lines, listed, final = json.loads(out)
    assert state == "RUNNING"
    assert roles == [["w", 2, "sh"]]
    assert lines == ["started\n"]
    assert h in listed
    assert final == "CANCELLED"
    assert_no_processes(h)
    status = runner.status(h)
    assert status is not None and status.state == AppState.CANCELLED
    second_process(f"""
        from torchx.runner import get_runner
        with get_runner() as r:
            r.delete({h!r})
            assert r.status({h!r}) is None
    """, home)
    assert runner.status(h) is None
    assert runner.describe(h) is None


def test_launcher_killed_with_sigkill_job_still_manageable(home: str, runner: Runner) -> None:
    launcher = subprocess.Popen(
        [PY, "-c", textwrap.dedent("""
            import sys, time
            from torchx.runner import get_runner
            from torchx.specs import AppDef, Role
            r = get_runner()
            app = AppDef("orphan", [Role("w", image="", entrypoint="sh",
                         args=["-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done"])])
            print(r.run(app), flush=True)
            time.sleep(600)
        """)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True,
        env={**os.environ, "TORCHX_HOME": home, "PYTHONPATH": ROOT},
    )
    try:
        assert launcher.stdout is not None
        h = launcher.stdout.readline().strip()
        os.killpg(launcher.pid, signal.SIGKILL)  # the launcher's whole process group
        launcher.wait(timeout=10)
    finally:
        launcher.kill()
        launcher.wait()
    assert launcher.returncode == -signal.SIGKILL
    lines = []
    for line in runner.log_lines(h, "w", 0, should_tail=True):
        lines.append(line)
        if len(lines) == 5:
            break
    assert lines == [f"tick {i}\n" for i in range(5)]
    status = runner.status(h)
    assert status is not None and status.state == AppState.RUNNING
    assert h in [a.app_handle for a in runner.list("local_cwd")]
    runner.cancel(h)
    final = runner.wait(h, wait_interval=30)
    assert final is not None and final.state == AppState.CANCELLED
    assert_no_processes(h)


def test_cancel_kills_setsid_grandchild_that_ignores_sigterm(runner: Runner, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    stubborn = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(600)\n"
    )
    script = f"setsid {PY} -c \"$STUBBORN\" & exec sleep 600"
    h = runner.run(AppDef("stubborn", [Role("w", image="", entrypoint="sh", args=["-c", script],
                                            env={"STUBBORN": stubborn})]))
    deadline = time.monotonic() + 30
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline, "grandchild never started"
        time.sleep(0.02)
    gpid = int(pidfile.read_text())
    with open(f"/proc/{gpid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    assert int(fields[3]) == gpid, "the grandchild should lead its own session"
    runner.cancel(h)
    final = runner.wait(h, wait_interval=30)
    assert final is not None and final.state == AppState.CANCELLED
    assert not os.path.exists(f"/proc/{gpid}/stat") or open(f"/proc/{gpid}/stat").read().split(") ")[1][0] == "Z"
    assert_no_processes(h)


def test_leftover_daemon_is_stopped_when_app_succeeds(runner: Runner) -> None:
    h = runner.run(AppDef("daemon", [sh("w", "setsid sleep 600 & echo done")]))
    final = runner.wait(h)
    assert final is not None and final.state == AppState.SUCCEEDED
    assert_no_processes(h)


# --------------------------------------------------------------------------- failures


def test_fail_fast_names_role_replica_exit_code_and_error_file(runner: Runner) -> None:
    err = json.dumps({"message": {"message": "loss is NaN", "extraInfo": {}}})
    app = AppDef("ff", [
        sh("steady", "exec sleep 600", n=2),
        sh("flaky", f"sleep 0.3; echo '{err}' > \"$TORCHELASTIC_ERROR_FILE\"; exit 7"),
    ])
    h = runner.run(app)
    final = runner.wait(h)
    assert final is not None and final.state == AppState.FAILED
    assert "flaky[0]" in final.msg and "exit code 7" in final.msg and "loss is NaN" in final.msg
    assert "loss is NaN" in final.structured_error_msg
    states = {(r.role, rep.id): rep.state for r in final.roles for rep in r.replicas}
    assert states == {("steady", 0): AppState.CANCELLED, ("steady", 1): AppState.CANCELLED,
                      ("flaky", 0): AppState.FAILED}
    assert_no_processes(h)


def test_replica_killed_by_signal_is_reported(runner: Runner) -> None:
    prog = "import os; os.kill(os.getpid(), 9)"
    h = runner.run(AppDef("sig", [Role("w", image="", entrypoint=PY, args=["-c", prog])]))
    final = runner.wait(h)
    assert final is not None and final.state == AppState.FAILED
    assert "killed by SIGKILL" in final.msg


def test_missing_entrypoint_fails_with_a_clear_message(runner: Runner) -> None:
    role = Role("w", image="", entrypoint="no-such-binary-xyz", args=[])
    final = runner.wait(runner.run(AppDef("missing", [role])))
    assert final is not None and final.state == AppState.FAILED
    assert "no-such-binary-xyz" in final.msg and "not found" in final.msg


def _starts(log: Path) -> list[str]:
    return log.read_text().split()


def _flaky(name: str, log: Path, marker: Path, n: int = 1, **kw: object) -> Role:
    """Appends ``<role><id>`` to ``log`` on each start; replica 0 fails on its first start."""
    script = (
        f"echo {name}$REPLICA >> {log}; "
        f"if [ $REPLICA = 0 ] && [ ! -e {marker} ]; then touch {marker}; exit 1; fi; sleep 0.3"
    )
    return Role(name, image="", entrypoint="sh", args=["-c", script], num_replicas=n,
                env={"REPLICA": "${replica_id}"}, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (RetryPolicy.REPLICA, {"a0": 2, "a1": 1, "b0": 1}),
        (RetryPolicy.ROLE, {"a0": 2, "a1": 2, "b0": 1}),
        (RetryPolicy.APPLICATION, {"a0": 2, "a1": 2, "b0": 2}),
    ],
)
def test_retry_policy_restarts_the_right_replicas(
    runner: Runner, tmp_path: Path, policy: RetryPolicy, expected: dict[str, int]
) -> None:
    log, marker = tmp_path / "starts", tmp_path / "failed-once"
    app = AppDef("retry", [
        _flaky("a", log, marker, n=2, max_retries=1, retry_policy=policy),
        Role("b", image="", entrypoint="sh", args=["-c", f"echo b0 >> {log}; sleep 0.5"]),
    ])
    final = runner.wait(runner.run(app))
    assert final is not None and final.state == AppState.SUCCEEDED, final
    assert final.num_restarts == 1
    starts = _starts(log)
    assert {k: starts.count(k) for k in expected} == expected


@pytest.mark.parametrize("policy", list(RetryPolicy))
def test_restart_stops_the_failed_attempts_leftovers(
        runner: Runner, tmp_path: Path, policy: RetryPolicy) -> None:
    """The first attempt leaves a setsid daemon and fails; the second checks it is gone."""
    pidfile = tmp_path / "daemon.pid"
    script = (
        f"if [ ! -e {pidfile} ]; then setsid sleep 600 & echo $! > {pidfile}; exit 1; fi; "
        f"p=$(cat {pidfile}); "
        "if [ -e /proc/$p ] && ! grep -q ') Z' /proc/$p/stat; then echo alive; exit 2; fi"
    )
    role = sh("w", script, max_retries=1, retry_policy=policy)
    final = runner.wait(runner.run(AppDef("leftover", [role])))
    assert final is not None and final.state == AppState.SUCCEEDED, final.msg if final else None
    assert final.num_restarts == 1


@pytest.mark.parametrize("policy", list(RetryPolicy))
def test_retries_exhausted_fails(runner: Runner, tmp_path: Path, policy: RetryPolicy) -> None:
    log = tmp_path / "starts"
    role = sh("w", f"echo w >> {log}; exit 3", max_retries=2, retry_policy=policy)
    final = runner.wait(runner.run(AppDef("exhaust", [role])))
    assert final is not None and final.state == AppState.FAILED
    assert final.num_restarts == 2
    assert _starts(log) == ["w", "w", "w"]
    assert "w[0]" in final.msg and "exit code 3" in final.msg


# --------------------------------------------------------------------------- logs


def test_million_lines_read_back_whole_in_order(runner: Runner) -> None:
    n = 1_000_000
    prog = (
        "import sys\n"
        "w = sys.stdout.write\n"
        f"for i in range({n}):\n"
        "    w('line %d %s\\n' % (i, 'x' * (i % 37)))\n"
    )
    h = runner.run(AppDef("million", [Role("w", image="", entrypoint=PY, args=["-c", prog])]))
    final = runner.wait(h)
    assert final is not None and final.state == AppState.SUCCEEDED
    for stream in (None, "stdout"):
        count = 0
        for i, line in enumerate(runner.log_lines(h, "w", 0, streams=stream)):
            if line != f"line {i} {'x' * (i % 37)}\n":
                pytest.fail(f"line {i} is {line!r}")
            count += 1
        assert count == n
    assert list(runner.log_lines(h, "w", 0, streams="stderr")) == []


def test_log_filters_streams_and_time_window(runner: Runner, tmp_path: Path) -> None:
    go = tmp_path / "go"
    script = (f"echo out1; echo err1 >&2; while [ ! -e {go} ]; do sleep 0.01; done;"
              " echo out2; printf 'no newline'")
    h = runner.run(AppDef("logs", [sh("w", script)]))
    idx = Path(home_of(h, runner)) / "w" / "0" / "stdout.idx"
    deadline = time.monotonic() + 60
    while not idx.exists() or not idx.read_text():
        assert time.monotonic() < deadline, "out1 was never logged"
        time.sleep(0.01)
    first_ms = int(idx.read_text().split()[0])
    while time.time() * 1000 < first_ms + 50:  # out2 is logged at least 50 ms after out1
        time.sleep(0.01)
    go.touch()
    tailed = list(runner.log_lines(h, "w", 0, should_tail=True))
    assert sorted(tailed) == sorted(["out1\n", "err1\n", "out2\n", "no newline\n"])
    assert list(runner.log_lines(h, "w", 0, streams="stdout")) == ["out1\n", "out2\n", "no newline\n"]
    assert list(runner.log_lines(h, "w", 0, streams="stderr")) == ["err1\n"]
    assert list(runner.log_lines(h, "w", 0, regex=r"^out\d")) == ["out1\n", "out2\n"]
    between = datetime.fromtimestamp((first_ms + 25) / 1000)
    assert list(runner.log_lines(h, "w", 0, since=between, streams="stdout")) == [
        "out2\n", "no newline\n"]
    assert list(runner.log_lines(h, "w", 0, until=between, streams="stdout")) == ["out1\n"]
    later = datetime.now() + timedelta(hours=1)
    assert list(runner.log_lines(h, "w", 0, since=later)) == []


def test_tail_with_until_stops_at_until(runner: Runner) -> None:
    prog = "import time\nfor _ in range(400):\n    print(int(time.time() * 1000))\n    time.sleep(0.05)\n"
    h = runner.run(AppDef("until", [Role("w", image="", entrypoint=PY, args=["-c", prog])]))
    next(iter(runner.log_lines(h, "w", 0, should_tail=True)))  # it is running
    until = datetime.now() + timedelta(seconds=1)
    until_ms = int(until.timestamp() * 1000)
    lines = list(runner.log_lines(h, "w", 0, until=until, should_tail=True))
    status = runner.status(h)
    assert status is not None and status.state == AppState.RUNNING  # returned before the end
    assert len(lines) >= 2 and all(int(line) <= until_ms for line in lines), (until_ms, lines)
    assert list(runner.log_lines(h, "w", 0, until=until)) == lines
    runner.cancel(h)
    assert runner.wait(h).state == AppState.CANCELLED  # type: ignore[union-attr]


def home_of(handle: str, runner: Runner) -> str:
    return os.path.join(os.environ["TORCHX_HOME"], "apps", app_id(handle), "logs")


def test_tail_follows_a_running_app_to_its_end(runner: Runner) -> None:
    h = runner.run(AppDef("tail", [sh("w", "for i in 1 2 3 4 5; do echo $i; sleep 0.1; done")]))
    assert list(runner.log_lines(h, "w", 0, should_tail=True)) == [f"{i}\n" for i in range(1, 6)]


# --------------------------------------------------------------------------- environment, options


def test_replica_environment_macros_and_cwd(runner: Runner, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FROM_LAUNCHER", "inherited")
    script = ('echo "$TORCHX_JOB_ID|$TORCHX_RANK0_HOST|$PYTHONUNBUFFERED|$MINE|$1|$(pwd)'
              '|$FROM_LAUNCHER"; test -n "$TORCHELASTIC_ERROR_FILE"')
    role = Role("w", image="", entrypoint="sh", args=["-c", script, "sh", "${replica_id}"],
                num_replicas=2, env={"MINE": "${app_id}"})
    h = runner.run(AppDef("env", [role]))
    assert runner.wait(h).state == AppState.SUCCEEDED  # type: ignore[union-attr]
    for k in (0, 1):
        (line,) = runner.log_lines(h, "w", k)
        assert line == f"{h}|localhost|1|{app_id(h)}|{k}|{tmp_path}|inherited\n"
    assert app_id(h).startswith("env-")


def test_log_dir_prepend_cwd_and_cuda_devices(runner: Runner, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\nfor i in 0 1 2 3; do echo \"GPU $i: Fake (UUID: GPU-$i)\"; done\n")
    smi.chmod(0o755)
    tool = tmp_path / "mytool"
    tool.write_text("#!/bin/sh\necho tool $CUDA_VISIBLE_DEVICES\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    logs = tmp_path / "logs"
    cfg = {"log_dir": str(logs), "prepend_cwd": True, "auto_set_cuda_visible_devices": True}
    h = runner.run(AppDef("opts", [Role("w", image="", entrypoint="mytool", num_replicas=2)]),
                   cfg=cfg)
    assert runner.wait(h).state == AppState.SUCCEEDED  # type: ignore[union-attr]
    assert list(runner.log_lines(h, "w", 0)) == ["tool 0,1\n"]
    assert list(runner.log_lines(h, "w", 1)) == ["tool 2,3\n"]
    assert (logs / app_id(h) / "w" / "1" / "stdout.log").read_text() == "tool 2,3\n"


def test_journal_is_private(runner: Runner, home: str) -> None:
    h = runner.run(AppDef("private", [sh("w", "echo secret")]))
    runner.wait(h)
    assert os.stat(home).st_mode & 0o777 == 0o700
    app_dir = os.path.join(home, "apps", app_id(h))
    assert os.stat(app_dir).st_mode & 0o777 == 0o700
    for name in ("state.json", "request.json", "logs/w/0/combined.log", "logs/w/0/stdout.idx"):
        assert os.stat(os.path.join(app_dir, name)).st_mode & 0o777 == 0o600, name
    assert os.stat(os.path.join(app_dir, "logs")).st_mode & 0o777 == 0o700


def test_state_file_is_never_torn(runner: Runner, home: str) -> None:
    """Readers racing the supervisor's many rewrites always see a whole JSON document."""
    role = sh("w", "i=0; while [ $i -lt 20 ]; do echo $i; i=$((i+1)); done", n=32)
    h = runner.run(AppDef("torn", [role]))
    path = Path(home, "apps", app_id(h), "state.json")
    seen: set[str] = set()
    reads = 0
    while True:
        doc = json.loads(path.read_bytes())  # raises on a torn or empty file
        reads += 1
        seen.add(doc["state"])
        if doc["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
    assert doc["state"] == "SUCCEEDED" and len(doc["replicas"]) == 32
    assert reads > 1 and seen & {"SUBMITTED", "RUNNING"}


# --------------------------------------------------------------------------- scale


def test_two_hundred_apps_at_once(runner: Runner) -> None:
    handles = [runner.run(AppDef(f"many{i}", [sh("w", f"echo {i}; exec sleep 600")]))
               for i in range(200)]
    assert len(set(handles)) == 200
    deadline = time.monotonic() + 120
    while True:  # every app running at the same time
        listed = {a.app_handle: a.state for a in runner.list("local_cwd")}
        if all(listed.get(h) == AppState.RUNNING for h in handles):
            break
        assert time.monotonic() < deadline, f"not all running: {listed}"
        time.sleep(0.2)
    assert len(marked_pids()) >= 200
    for i, h in enumerate(handles):
        assert next(iter(runner.log_lines(h, "w", 0, should_tail=True))) == f"{i}\n"
        runner.cancel(h)
    for h in handles:
        final = runner.wait(h)
        assert final is not None and final.state == AppState.CANCELLED
        assert_no_processes(h)


# --------------------------------------------------------------------------- bad input


def test_bad_input(runner: Runner) -> None:
    unknown = "local_cwd://torchx/nope-12345678"
    assert runner.status(unknown) is None
    assert runner.describe(unknown) is None
    assert runner.wait(unknown) is None
    runner.cancel(unknown)  # documented no-op
    with pytest.raises(UnknownAppException, match="nope-12345678"):
        list(runner.log_lines(unknown, "w"))
    with pytest.raises(MalformedAppHandleException, match="expected"):
        runner.status("not a handle")
    assert runner.status("local_cwd://torchx/../../etc") is None
    with pytest.raises(UnknownSchedulerException, match="Did you mean `local_cwd`"):
        runner.status("local_cdw://torchx/x-1")
    with pytest.raises(UnknownSchedulerException, match="local_cwd"):
        runner.run(AppDef("x", [sh("w", "true")]), scheduler="local_cdw")
    with pytest.raises(TorchXError, match="role name `../x` cannot name a log directory"):
        runner.dryrun(AppDef("x", [sh("../x", "true")]))
    with pytest.raises(TorchXError, match="two roles are named `w`"):
        runner.dryrun(AppDef("x", [sh("w", "true"), sh("w", "true")]))
    with pytest.raises(InvalidRunConfigException, match="Did you mean `log_dir`"):
        runner.run(AppDef("x", [sh("w", "true")]), cfg={"log_dri": "/tmp"})
    h = runner.run(AppDef("done", [sh("w", "true")]))
    assert runner.wait(h).state == AppState.SUCCEEDED  # type: ignore[union-attr]
    runner.cancel(h)  # cancel of a finished app: no-op
    assert runner.status(h).state == AppState.SUCCEEDED  # type: ignore[union-attr]
    with pytest.raises(TorchXError, match="no replica 3 of role `w`"):
        list(runner.log_lines(h, "w", 3))
    with pytest.raises(TorchXError, match="unknown log stream `stdrr`. Did you mean `stderr`"):
        list(runner.log_lines(h, "w", 0, streams="stdrr"))  # type: ignore[arg-type]


def test_closing_the_runner_does_not_stop_the_job(home: str) -> None:
    from torchx.runner import get_runner

    with get_runner() as first:
        h = first.run(AppDef("keep", [sh("w", "echo up; exec sleep 600")]))
    with get_runner(kill_grace=0.5) as second:
        assert next(iter(second.log_lines(h, "w", 0, should_tail=True))) == "up\n"
        status = second.status(h)
        assert status is not None and status.state == AppState.RUNNING
        assert len(marked_pids(app_id(h) + "/")) == 1
        second.cancel(h)
        assert second.wait(h).state == AppState.CANCELLED  # type: ignore[union-attr]
    assert_no_processes(h)


def test_supervisor_killed_is_reported_and_cancel_cleans_up(runner: Runner, home: str) -> None:
    h = runner.run(AppDef("nosup", [sh("w", "setsid sleep 600 & echo up; exec sleep 600")]))
    for _ in runner.log_lines(h, "w", 0, should_tail=True):
        break
    state = json.loads(Path(home, "apps", app_id(h), "state.json").read_text())
    waited = _start_wait(runner, h)  # no state change will ever come: the hook must notice
    time.sleep(0.2)  # let the wait reach the hook (the test holds either way)
    os.kill(state["supervisor"]["pid"], signal.SIGKILL)
    assert wait_gone(lambda: [p for p in [state["supervisor"]["pid"]]
                              if os.path.exists(f"/proc/{p}/stat")
                              and open(f"/proc/{p}/stat").read().split(") ")[1][0] != "Z"]) == []
    status = waited()
    assert status is not None and status.state == AppState.FAILED
    assert "supervisor" in status.msg
    assert len(marked_pids(app_id(h) + "/")) == 2  # its processes are still there...
    runner.cancel(h)  # ...until cancelled
    assert runner.status(h).state == AppState.CANCELLED  # type: ignore[union-attr]
    assert_no_processes(h)


def _start_wait(runner: Runner, h: str) -> Callable[[], AppStatus | None]:
    """Start ``runner.wait(h, wait_interval=3600)`` in a thread; the result fails the test if
    the wait has not returned 30 s later (it would otherwise sleep the whole interval)."""
    import threading

    result: list[AppStatus | None] = []
    t = threading.Thread(target=lambda: result.append(runner.wait(h, wait_interval=3600)),
                         daemon=True)
    t.start()

    def join() -> AppStatus | None:
        t.join(30)
        assert not t.is_alive(), "wait() did not notice the end"
        return result[0]

    return join


def test_wait_hook_returns_at_once_for_a_finished_app(runner: Runner) -> None:
    """The state may turn terminal between the Runner's status read and the hook's first look."""
    import threading

    h = runner.run(AppDef("hook", [sh("w", "true")]))
    assert runner.wait(h).state == AppState.SUCCEEDED  # type: ignore[union-attr]
    sched = runner._scheduler("local_cwd")
    t = threading.Thread(target=sched.wait_for_change, args=(app_id(h), 3600), daemon=True)
    t.start()
    t.join(60)  # a hook that only watched for the next change would sleep for the hour
    assert not t.is_alive()
