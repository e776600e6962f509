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


def test_tail_with_until_keeps_a_line_stamped_before_until_that_lands_after_it(
        runner: Runner) -> None:
    """The supervisor stamps a line when it reads it and writes it just after: on a loaded
    machine a line stamped before `until` can reach the file after `until` has passed. Here the
    test plays that late writer itself (the replica says one line, then nothing) and the tail
    must still get it."""
    import threading

    h = runner.run(AppDef("late", [sh("w", "echo ready; sleep 60")]))
    logs = Path(home_of(h, runner)) / "w" / "0"
    deadline = time.monotonic() + 60
    while not (logs / "combined.log").exists() or not (logs / "combined.log").read_text():
        assert time.monotonic() < deadline, "the supervisor never opened the log"
        time.sleep(0.01)
    until = datetime.now() + timedelta(seconds=0.5)
    until_ms = int(until.timestamp() * 1000)

    def append(line: bytes, stamp_ms: int) -> None:
        size = (logs / "combined.log").stat().st_size
        with open(logs / "combined.idx", "ab") as idx:
            idx.write(b"%d %d\n" % (stamp_ms, size))
        with open(logs / "combined.log", "ab") as log:
            log.write(line)

    def late_writer() -> None:
        time.sleep(max(0.0, until_ms / 1000 + 0.3 - time.time()))
        append(b"stamped before until\n", until_ms - 100)
        time.sleep(0.3)
        append(b"stamped after until\n", until_ms + 600)

    writer = threading.Thread(target=late_writer)
    writer.start()
    try:
        lines = list(runner.log_lines(h, "w", 0, until=until, should_tail=True))
    finally:
        writer.join()
    assert lines == ["ready\n", "stamped before until\n"]
    runner.cancel(h)


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


# --------------------------------------------------------------------------- cancel: whole tree, once


DDP_WORKER = """\
import os, signal, sys, time
import torch.distributed as dist
dist.init_process_group("gloo")
signal.signal(signal.SIGTERM, signal.SIG_IGN)
start = open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19]
with open(os.path.join(sys.argv[1], str(os.getpid())), "w") as f:
    f.write(start)
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def _alive(pid: int, start: str) -> bool:
    """True when ``pid`` runs (not a zombie) and is the process that recorded ``start``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != b"Z" and fields[19].decode() == start


class _CpuLoad:
    """``n`` busy-looping processes for the duration of a ``with`` block."""

    def __init__(self, n: int) -> None:
        self.procs = [subprocess.Popen([PY, "-c", "while True: pass"]) for _ in range(n)]

    def __enter__(self) -> _CpuLoad:
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


@pytest.mark.timeout(1200)
@pytest.mark.parametrize(("shape", "batches"), [("1x1", [5, 5]), ("2x2", [2, 3, 2, 3])])
def test_ddp_cancel_leaves_no_worker(runner: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     shape: str, batches: list[int]) -> None:
    """Issue 9 (1): torchrun's workers (their own session, SIGTERM ignored) never outlive a cancel.

    Several jobs run at once (they share the two cores: a loaded machine); every other batch is
    cancelled under extra CPU load. The moment CANCELLED is recorded, nothing may be alive.
    """
    import importlib.util

    from tests.backends import require

    require("local_cwd", importlib.util.find_spec("torch") is not None,
            "the DDP scenario needs torch (`bash scripts/setup` installs CPU torch)")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", os.path.dirname(PY) + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    (tmp_path / "t.py").write_text(DDP_WORKER)
    nnodes, nproc = (int(x) for x in shape.split("x"))
    for b, n in enumerate(batches):
        jobs = []
        for i in range(n):
            pids = tmp_path / f"pids-{b}-{i}"
            pids.mkdir()
            h = runner.run_component("dist.ddp", ["-j", shape, "--script", "t.py", str(pids)],
                                     scheduler="local_cwd")
            jobs.append((h, pids))
        deadline = time.monotonic() + 600
        for h, pids in jobs:  # every worker has joined the process group
            while len(list(pids.iterdir())) < nnodes * nproc:
                status = runner.status(h)
                assert status is not None and not status.is_terminal(), (h, status)
                assert time.monotonic() < deadline, f"{h}: workers never started"
                time.sleep(0.1)
        workers = [(int(p.name), p.read_text()) for _, pids in jobs for p in pids.iterdir()]
        assert all(_alive(pid, start) for pid, start in workers)
        with _CpuLoad(2 if b % 2 else 0):
            for h, _ in jobs:
                runner.cancel(h)
            for h, _ in jobs:
                final = runner.wait(h, wait_interval=60)
                assert final is not None and final.state == AppState.CANCELLED
                assert marked_pids(app_id(h) + "/") == [], f"{h} recorded CANCELLED too early"
        survivors = [pid for pid, start in workers if _alive(pid, start)]
        assert survivors == [], f"batch {b}: workers outlived the cancel: {survivors}"


TRAP = """\
import os, signal, subprocess, sys, time
log, name = sys.argv[1], sys.argv[2]
def on_term(signum, frame):
    with open(os.path.join(log, name), "a") as f:
        f.write("TERM\\n")
signal.signal(signal.SIGTERM, on_term)
if name == "replica":  # and a grandchild in its own session that traps it too
    subprocess.Popen([sys.executable, __file__, log, "grandchild"], start_new_session=True)
open(os.path.join(log, name + ".up"), "w").close()
while True:
    time.sleep(0.01)
"""


def test_cancel_sends_sigterm_once_then_sigkill(runner: Runner, tmp_path: Path) -> None:
    """Issue 9 (2): each process of the tree gets one SIGTERM, then SIGKILL after the grace."""
    script = tmp_path / "trap.py"
    script.write_text(TRAP)
    h = runner.run(AppDef("trap", [Role("w", image="", entrypoint=PY,
                                        args=[str(script), str(tmp_path), "replica"])]))
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"{n}.up").exists() for n in ("replica", "grandchild")):
        assert time.monotonic() < deadline, "the trapping processes never started"
        time.sleep(0.02)
    runner.cancel(h)
    final = runner.wait(h, wait_interval=30)
    assert final is not None and final.state == AppState.CANCELLED
    assert_no_processes(h)
    for name in ("replica", "grandchild"):
        assert (tmp_path / name).read_text() == "TERM\n", name  # once, never in a loop


def test_replica_that_exits_on_sigterm_ends_with_its_own_exit(home: str, tmp_path: Path) -> None:
    """The grace period is real: a replica that saves a checkpoint on SIGTERM and exits 0 is
    neither killed nor waited for until the grace period ends."""
    from torchx.runner import get_runner

    prog = (
        "import signal, sys, time\n"
        "def save(signum, frame):\n"
        "    time.sleep(0.3)\n"
        f"    open({str(tmp_path / 'saved')!r}, 'w').write('checkpoint')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, save)\n"
        "print('up', flush=True)\n"
        "time.sleep(600)\n"
    )
    with get_runner(kill_grace=60.0) as runner:
        h = runner.run(AppDef("ckpt", [Role("w", image="", entrypoint=PY, args=["-c", prog])]))
        next(iter(runner.log_lines(h, "w", 0, should_tail=True)))
        cancelled = time.monotonic()
        runner.cancel(h)
        final = runner.wait(h, wait_interval=60)
        took = time.monotonic() - cancelled
    assert final is not None and final.state == AppState.CANCELLED
    assert (tmp_path / "saved").read_text() == "checkpoint"
    state = json.loads(Path(home, "apps", app_id(h), "state.json").read_text())
    assert [r["exit_code"] for r in state["replicas"]] == [0]  # its own exit, not SIGKILL
    assert took < 60, "waited for the whole grace period after the replica had exited"
    assert_no_processes(h)


@pytest.mark.parametrize("policy", [RetryPolicy.REPLICA, RetryPolicy.ROLE])
def test_restarts_under_load_never_meet_the_last_attempts_leftovers(
        runner: Runner, tmp_path: Path, policy: RetryPolicy) -> None:
    """Issue 9 (3): many apps restarting at once under CPU load; each failed attempt leaves a
    setsid daemon that must be gone before the next attempt starts. REPLICA restarts one of
    two replicas (its orphan is told apart by its mark); ROLE restarts the whole app.

    A first attempt fails only once both replicas have left their daemon and mark (written
    whole): under ROLE the first failure stops the sibling, which must have got that far."""
    script = (
        'd="$DIR/$REPLICA"; '
        'if [ ! -e "$d" ]; then setsid sleep 600 & echo $! > "$d.tmp"; mv "$d.tmp" "$d"; '
        'while [ ! -e "$DIR/0" ] || [ ! -e "$DIR/1" ]; do sleep 0.05; done; exit 1; fi; '
        'p=$(cat "$d"); '
        "if [ -e /proc/$p ] && ! grep -q ') Z' /proc/$p/stat; then echo alive; exit 2; fi; "
        "sleep 0.2"
    )
    handles = []
    with _CpuLoad(2):
        for i in range(12):
            d = tmp_path / str(i)
            d.mkdir()
            role = sh("w", script, n=2, max_retries=1, retry_policy=policy,
                      env={"DIR": str(d), "REPLICA": "${replica_id}"})
            handles.append(runner.run(AppDef(f"load{i}", [role])))
        finals = [runner.wait(h, wait_interval=60) for h in handles]
    for h, final in zip(handles, finals, strict=True):
        assert final is not None and final.state == AppState.SUCCEEDED, (h, final.msg if final else None)
        assert_no_processes(h)


ALLREDUCE = """\
import os, sys, time
import torch, torch.distributed as dist
dist.init_process_group("gloo")
open(os.path.join(sys.argv[1], str(os.getpid())), "w").close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
group = dist.new_group()  # meets through the rendezvous store again
t = torch.ones(1)
dist.all_reduce(t, group=group)
assert t.item() == dist.get_world_size()
print("port", os.environ.get("TORCHX_RDZV_PORT"), "reduced", flush=True)
dist.destroy_process_group()
"""


@pytest.mark.timeout(900)
def test_concurrent_multi_node_jobs_rendezvous_on_their_own_ports(
        runner: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 9 (4): two `dist.ddp -j 2x1` jobs at once each get a free port: the first ending
    does not take the rendezvous store of the second down with it."""
    import importlib.util

    from tests.backends import require

    require("local_cwd", importlib.util.find_spec("torch") is not None,
            "the DDP scenario needs torch (`bash scripts/setup` installs CPU torch)")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", os.path.dirname(PY) + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    (tmp_path / "ar.py").write_text(ALLREDUCE)
    jobs = []
    for name in ("first", "second"):
        pids = tmp_path / name
        pids.mkdir()
        h = runner.run_component(
            "dist.ddp", ["-j", "2x1", "--script", "ar.py", str(pids), str(tmp_path / f"{name}.stop")],
            scheduler="local_cwd")
        jobs.append(h)
        deadline = time.monotonic() + 600
        while len(list(pids.iterdir())) < 2:  # both nodes joined before the next job starts
            status = runner.status(h)
            assert status is not None and not status.is_terminal(), (h, status)
            assert time.monotonic() < deadline, f"{h}: workers never started"
            time.sleep(0.1)
    ports = set()
    for name, h in zip(("first", "second"), jobs, strict=True):  # the first ends first
        (tmp_path / f"{name}.stop").touch()
        final = runner.wait(h, wait_interval=60)
        logs = "".join(runner.log_lines(h, "ar", 0)) + "".join(runner.log_lines(h, "ar", 1))
        assert final is not None and final.state == AppState.SUCCEEDED, (name, final, logs[-3000:])
        ports |= {line.split()[1] for line in logs.splitlines() if line.endswith(" reduced")}
    assert len(ports) == 2 and "None" not in ports, ports


def test_dryrun_says_where_the_rendezvous_port_comes_from(runner: Runner, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shown = []
    for _ in range(2):
        info = runner.dryrun_component("dist.ddp", ["-j", "2x1", "--script", "t.py"],
                                       scheduler="local_cwd")
        req = info.request
        (port,) = set(req.rdzv_ports.values())
        assert all(r.env["TORCHX_RDZV_PORT"] == str(port) for r in req.replicas)
        assert f"TORCHX_RDZV_PORT={port}, a free port picked for this job" in repr(info)
        shown.append(port)
    assert shown[0] != shown[1]  # two jobs, two ports
    info = runner.dryrun_component("dist.ddp", ["-j", "2x1", "--rdzv_port", "29611", "--script",
                                                "t.py"], scheduler="local_cwd")
    assert info.request.rdzv_ports == {} and "TORCHX_RDZV_PORT" not in repr(info)
    assert ":29611 " in info.request.replicas[0].argv[2]  # the user's port wins
    one = runner.dryrun_component("dist.ddp", ["-j", "1x2", "--script", "t.py"], scheduler="local_cwd")
    assert one.request.rdzv_ports == {} and "localhost:0" in one.request.replicas[0].argv[2]


def test_entrypoint_in_the_working_directory_is_found(runner: Runner, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 9 (7): as upstream, the working directory is on each replica's PATH: after the
    role's own PATH, before the launcher's (first of all with prepend_cwd)."""
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "train.sh"
    script.write_text('#!/bin/sh\necho "trained $1"; echo "$PATH"\n')
    script.chmod(0o755)
    launcher_path = os.environ["PATH"]
    for cfg, env, want in [
        ({}, {}, f"{tmp_path}:{launcher_path}"),
        ({}, {"PATH": "/opt/role"}, f"/opt/role:{tmp_path}:{launcher_path}"),
        ({"prepend_cwd": True}, {"PATH": "/opt/role"}, f"{tmp_path}:/opt/role:{launcher_path}"),
    ]:
        role = Role("train", image=".", entrypoint="train.sh", args=["fast"], env=env)
        h = runner.run(AppDef("cwd", [role]), cfg=cfg)
        final = runner.wait(h)
        assert final is not None and final.state == AppState.SUCCEEDED, final.msg if final else None
        assert list(runner.log_lines(h, "train", 0)) == ["trained fast\n", want + "\n"]
