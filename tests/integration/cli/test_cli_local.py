"""End to end: every subcommand and flag of the ``torchx`` command, on local_cwd, in subprocesses."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends import require
from tests.integration.cli.conftest import Cli, replica_lines

pytestmark = pytest.mark.timeout(240)

COMPONENT = '''
import torchx.specs as specs


def multi(lines: int = 3, width: int = 2000) -> specs.AppDef:
    """Two roles of two replicas, each printing long numbered lines on stdout and stderr."""
    code = (
        "import os, sys\\n"
        "k = os.environ['REPLICA']\\n"
        f"for i in range({lines}):\\n"
        f"    print(k + ':' + str(i) + ':' + 'x' * {width}, flush=True)\\n"
        "print('err-' + k, file=sys.stderr, flush=True)\\n"
    )
    return specs.AppDef(name="multi", roles=[
        specs.Role(name=name, image="none", entrypoint=sys_python(), args=["-c", code],
                   env={"REPLICA": name + specs.macros.replica_id}, num_replicas=2)
        for name in ("trainer", "reader")
    ])


def sys_python() -> str:
    import sys
    return sys.executable
'''


@pytest.fixture(autouse=True)
def _linux() -> None:
    require("local_cwd", sys.platform.startswith("linux"), "local_cwd needs Linux /proc")


def _component(cli: Cli) -> str:
    (cli.cwd / "comp.py").write_text(COMPONENT)
    return "comp.py:multi"


def test_help_version_and_no_command(cli: Cli) -> None:
    out = cli.ok("--help")
    for cmd in ("builtins", "run", "status", "describe", "log", "list", "cancel", "delete",
                "runopts", "configure", "tracker", "completion"):
        assert re.search(rf"^\s+{cmd}\s", out, re.M), cmd
    assert cli.ok("--version").strip().startswith("torchx ")
    p = cli()
    assert p.returncode == 2 and "choose a COMMAND" in p.stderr
    assert "--scheduler" in cli.ok("run", "--help")


def test_builtins_and_print(cli: Cli) -> None:
    out = cli.ok("builtins")
    assert re.match(r"Found \d+ builtin components:\n1\. ", out)
    assert "utils.echo" in out and "dist.ddp" in out
    src = cli.ok("builtins", "--print", "utils.echo")
    assert src.startswith("def echo(")


def test_runopts(cli: Cli) -> None:
    assert "local_cwd:" in cli.ok("runopts") and "log_dir" in cli.ok("runopts")
    assert "prepend_cwd" in cli.ok("runopts", "local_cwd")


def test_run_waits_and_streams_on_local(cli: Cli) -> None:
    p = cli("run", "utils.echo", "--msg", "hello cli")
    assert p.returncode == 0, p.stderr
    handle, *more = p.stdout.splitlines()
    assert handle.startswith("local_cwd://torchx/echo-") and more == []  # h=$(torchx run ...)
    assert replica_lines(p.stderr) == ["echo/0 hello cli"]
    assert "SUCCEEDED" in p.stderr
    assert cli.status(handle)["state"] == "SUCCEEDED"


def test_run_streams_every_replica_in_whole_lines(cli: Cli) -> None:
    comp = _component(cli)
    p = cli("run", comp, "--lines", "50", "--width", "5000")
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.splitlines()) == 1
    lines = replica_lines(p.stderr)
    pat = re.compile(r"^(trainer|reader)/([01]) (\1\2:(\d+):x{5000}|err-\1\2)$")
    assert all(pat.match(line) for line in lines), [line[:80] for line in lines if not pat.match(line)]
    for role in ("trainer", "reader"):
        for k in "01":
            assert sum(line.startswith(f"{role}/{k} {role}{k}:") for line in lines) == 50


def test_detach_then_manage_from_other_processes(cli: Cli) -> None:
    handle = cli.ok("run", "--detach", _component(cli)).strip()
    assert handle.startswith("local_cwd://torchx/multi-")
    assert cli.wait_state(handle, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"

    st = cli.status(handle)
    assert st["app_handle"] == handle and {r["role"] for r in st["roles"]} == {"trainer", "reader"}
    assert "State: SUCCEEDED" in cli.ok("status", handle)
    only = json.loads(cli.ok("status", "--json", "--roles", "reader", handle))
    assert [r["role"] for r in only["roles"]] == ["reader"]
    p = cli("status", "--roles", "reader,writer", handle)
    assert p.returncode == 2 and "has no role `writer`; its roles: trainer, reader" in p.stderr

    logs = cli.ok("log", handle).splitlines()
    assert {line.split(" ")[0] for line in logs} == {"trainer/0", "trainer/1", "reader/0", "reader/1"}
    one = cli.ok("log", f"{handle}/reader/1").splitlines()
    assert one and all(line.startswith("reader/1 ") for line in one)
    two = cli.ok("log", f"{handle}/trainer/0,1").splitlines()
    assert {line.split(" ")[0] for line in two} == {"trainer/0", "trainer/1"}
    errs = cli.ok("log", "--regex", "^err-", handle).splitlines()
    assert sorted(errs) == sorted(f"{r}/{k} err-{r}{k}" for r in ("trainer", "reader") for k in "01")
    stdout_only = cli.ok("log", "--streams", "stdout", f"{handle}/trainer/0").splitlines()
    assert len(stdout_only) == 3 and not any("err-" in s for s in stdout_only)
    stderr_only = cli.ok("log", "--streams", "stderr", f"{handle}/trainer/0").splitlines()
    assert stderr_only == ["trainer/0 err-trainer0"]
    assert len(cli.ok("log", "--since", "1h", f"{handle}/trainer/0").splitlines()) == 4
    assert cli.ok("log", "--until", "1h", f"{handle}/trainer/0") == ""
    assert cli.ok("log", "--since", "2000-01-01T00:00:00", "--until", "2999-01-01", f"{handle}/reader/0")
    tailed = cli.ok("log", "-t", f"{handle}/reader/0").splitlines()
    assert len(tailed) == 4

    described = cli.ok("describe", handle)
    assert "AppDef: multi" in described and "role trainer: 2 replica(s)" in described
    app = json.loads(cli.ok("describe", "--json", handle))
    assert [r["name"] for r in app["roles"]] == ["trainer", "reader"]

    table = cli.ok("list").splitlines()
    assert table[0].split() == ["HANDLE", "NAME", "STATE", "AGE"]
    row = next(line for line in table if line.startswith(handle))
    assert row.split()[1:3] == ["multi", "SUCCEEDED"] and re.match(r"\d+[smhd]$", row.split()[3])
    listed = json.loads(cli.ok("list", "--json"))
    assert handle in [a["app_handle"] for a in listed]
    assert json.loads(cli.ok("list", "-s", "local_cwd", "--json")) == listed

    cli.ok("delete", handle)
    p = cli("status", handle)
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "unknown app" in p.stderr


def test_log_tail_follows_a_running_job(cli: Cli) -> None:
    handle = cli.ok("run", "--detach", "utils.sh",
                    "for i in 1 2 3; do echo tick $i; sleep 0.3; done").strip()
    out = cli.ok("log", "--tail", handle)
    assert out.splitlines() == ["sh/0 tick 1", "sh/0 tick 2", "sh/0 tick 3"]


def test_cancel(cli: Cli) -> None:
    handle = cli.ok("run", "--detach", "utils.sh", "sleep 60").strip()
    assert cli.wait_state(handle, {"RUNNING"})["state"] == "RUNNING"
    p = cli("cancel", handle)
    assert p.returncode == 0 and f"cancelled {handle}" in p.stderr
    assert cli.wait_state(handle, {"CANCELLED"})["state"] == "CANCELLED"


def test_failed_job_exits_1_with_one_line(cli: Cli) -> None:
    p = cli("run", "utils.sh", "echo before; exit 3")
    assert p.returncode == 1
    assert len(p.stdout.splitlines()) == 1 and replica_lines(p.stderr) == ["sh/0 before"]
    errors = [line for line in p.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "FAILED" in errors[0] and "torchx log" in errors[0]
    assert "Traceback" not in p.stderr


def test_wait_without_logs_log_and_json(cli: Cli) -> None:
    p = cli("run", "--wait", "utils.echo", "--msg", "quiet")
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 1  # the handle only
    p = cli("run", "--wait", "--log", "utils.echo", "--msg", "loud")
    assert len(p.stdout.splitlines()) == 1 and replica_lines(p.stderr) == ["echo/0 loud"]
    p = cli("run", "--json", "utils.echo", "--msg", "js")
    assert p.returncode == 0
    data = json.loads(p.stdout)
    assert data["status"]["state"] == "SUCCEEDED" and data["app_handle"].startswith("local_cwd://")
    assert "echo/0 js" in p.stderr
    data = json.loads(cli.ok("run", "--json", "--detach", "utils.echo"))
    assert set(data) == {"app_handle"}
    p = cli("run", "--detach", "--wait", "utils.echo")
    assert p.returncode == 2 and "--detach cannot be combined" in p.stderr


def test_dryrun_launches_nothing(cli: Cli) -> None:
    out = cli.ok("run", "--dryrun", "utils.echo", "--msg", "dry")
    assert "=== APPLICATION ===" in out and "=== SCHEDULER REQUEST (local_cwd) ===" in out
    assert '"dry"' in out
    data = json.loads(cli.ok("run", "--dryrun", "--json", "-s", "local_cwd", "utils.echo"))
    assert data["scheduler"] == "local_cwd" and data["app"]["roles"][0]["entrypoint"] == "echo"
    assert json.loads(cli.ok("list", "--json")) == []


def test_scheduler_args_and_workspace(cli: Cli, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    handle = cli.ok("run", "-cfg", f"log_dir={logs}", "--workspace", str(cli.cwd),
                    "utils.echo", "--msg", "in log_dir").splitlines()[0]
    app_id = handle.rsplit("/", 1)[1]
    found = [p for p in logs.rglob("*") if p.is_file() and b"in log_dir" in p.read_bytes()]
    assert found and str(found[0]).startswith(str(logs / app_id))
    cli.ok("run", "--scheduler_args", "prepend_cwd=true", "--workspace", "", "utils.echo")


def test_parent_run_id_and_tracker(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "tracker"
    cli.env.update(TORCHX_TRACKERS="fsspec", TORCHX_TRACKER_FSSPEC_CONFIG=str(root))
    (cli.cwd / "job.py").write_text(
        "import os\n"
        "os.chdir('/')  # away from .torchxconfig: trackers must come from the launcher's env\n"
        "from torchx.tracker import app_run_from_env\n"
        "r = app_run_from_env()\n"
        "r.add_metadata(lr=0.5)\n"
        "r.add_artifact('model', '/m.pt', {'acc': 1})\n"
    )
    handle = cli.ok("run", "--parent_run_id", "exp://parent", "utils.python",
                    "--script", "job.py").splitlines()[0]
    assert cli.ok("tracker", "list", "jobs").split() == [handle]
    assert cli.ok("tracker", "list", "jobs", "--parent-run-id", "exp://parent").split() == [handle]
    assert cli.ok("tracker", "list", "jobs", "--parent-run-id", "other").split() == []
    assert json.loads(cli.ok("tracker", "--json", "list", "metadata", handle)) == {"lr": 0.5}
    assert re.search(r"^lr\s+0.5$", cli.ok("tracker", "list", "metadata", handle), re.M)
    arts = cli.ok("tracker", "list", "artifacts", handle)
    assert re.search(r"^model\s+/m.pt\s+\{\"acc\": 1\}$", arts, re.M)
    assert cli.ok("tracker", "list", "artifacts", "--artifact", "nope", handle) == ""
    assert json.loads(cli.ok("tracker", "--json", "list", "jobs")) == [handle]
    assert json.loads(cli.ok("tracker", "--json", "list", "artifacts", "--artifact", "model",
                             handle)) == {"model": {"path": "/m.pt", "metadata": {"acc": 1}}}
    # activation by .torchxconfig, read by `torchx tracker` too
    del cli.env["TORCHX_TRACKERS"], cli.env["TORCHX_TRACKER_FSSPEC_CONFIG"]
    p = cli("tracker", "list", "jobs")
    assert p.returncode == 2 and "no tracker is active" in p.stderr
    (cli.cwd / ".torchxconfig").write_text(f"[torchx:tracker]\nfsspec =\n[tracker:fsspec]\nconfig = {root}\n")
    assert cli.ok("tracker", "list", "jobs").split() == [handle]
    # a job launched with the file's trackers records through the env the launcher passes on
    second = cli.ok("run", "utils.python", "--script", "job.py").splitlines()[0]
    assert sorted(cli.ok("tracker", "list", "jobs").split()) == sorted([handle, second])
    assert json.loads(cli.ok("tracker", "--json", "list", "metadata", second)) == {"lr": 0.5}


def test_torchxconfig_defaults(cli: Cli, tmp_path: Path) -> None:
    logs = tmp_path / "cfg-logs"
    (cli.cwd / ".torchxconfig").write_text(
        f"[cli:run]\nscheduler = local_cwd\ncomponent = utils.echo\n"
        f"[component:utils.echo]\nmsg = from config\n[local_cwd]\nlog_dir = {logs}\n"
    )
    p = cli("run")
    assert p.returncode == 0, p.stderr
    assert replica_lines(p.stderr) == ["echo/0 from config"]
    assert any(logs.rglob("*"))
    # the command line beats the file
    assert replica_lines(cli("run", "utils.echo", "--msg", "cli").stderr) == ["echo/0 cli"]
    cli_logs = tmp_path / "cli-logs"
    cli.ok("run", "-cfg", f"log_dir={cli_logs}", "utils.echo")
    assert any(cli_logs.rglob("*")) and len(list(logs.iterdir())) == 2
    # unknown keys warn, naming the valid ones
    (cli.cwd / ".torchxconfig").write_text(
        "[local_cwd]\nlogdir = /x\n[cli:run]\nschedular = x\n[localcwd]\nlog_dir = /y\n"
    )
    p = cli("run", "utils.echo")
    assert p.returncode == 0
    assert "unknown section [localcwd]. Did you mean `local_cwd`" in p.stderr
    assert "unknown run option `logdir`" in p.stderr and "`log_dir`" in p.stderr
    assert "unknown key `schedular`" in p.stderr and "`scheduler`" in p.stderr
    # TORCHXCONFIG names the only file read
    other = tmp_path / "other.ini"
    other.write_text("[component:utils.echo]\nmsg = other file\n")
    cli.env["TORCHXCONFIG"] = str(other)
    assert replica_lines(cli("run", "utils.echo").stderr) == ["echo/0 other file"]


def test_configure(cli: Cli) -> None:
    text = cli.ok("configure", "--print")
    assert "[local_cwd]" in text and "[cli:run]" in text
    cli.ok("configure", "-s", "local_cwd")
    assert "[local_cwd]" in (cli.cwd / ".torchxconfig").read_text()
    p = cli("configure")
    assert p.returncode == 2 and "--force" in p.stderr
    cli.ok("configure", "--force", "--required_only", "-s", "local_cwd")
    written = (cli.cwd / ".torchxconfig").read_text()
    assert "[local_cwd]" in written and "log_dir" not in written  # local_cwd requires nothing
    p = cli("configure", "-s", "slurmm", "--print")
    assert p.returncode == 2 and "unknown scheduler `slurmm`" in p.stderr


def test_ctrl_c_cancels_the_job(cli: Cli) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchx", "run", "utils.sh", "echo started; sleep 60"],
        cwd=cli.cwd, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        handle = proc.stdout.readline().strip()
        assert proc.stderr is not None
        line = proc.stderr.readline()
        while line.startswith("torchx"):
            line = proc.stderr.readline()
        assert line.strip() == "sh/0 started"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    assert "Ctrl-C: cancelling" in err and "CANCELLED" in err and "Traceback" not in err
    assert cli.status(handle)["state"] == "CANCELLED"


def test_live_status_line_only_on_a_terminal(cli: Cli) -> None:
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "torchx", "run", "utils.sh", "--num_replicas", "2", "sleep 2.5"],
            cwd=cli.cwd, env=cli.env, stdout=subprocess.PIPE, stderr=slave,
        )
        os.close(slave)
        seen = b""
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        proc.wait(timeout=30)
    finally:
        os.close(master)
    assert proc.returncode == 0
    assert b"\r\x1b[K" in seen and re.search(rb"sh: 2 RUNNING", seen), seen[-500:]
    plain = cli("run", "utils.echo")
    assert "\x1b[K" not in plain.stderr


def test_debug_log_level_adds_the_traceback(cli: Cli) -> None:
    p = cli("status", "local_cwd://torchx/nosuch-1")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    p = cli("--log_level", "DEBUG", "status", "bad handle")
    assert p.returncode == 2 and "Traceback" in p.stderr and "malformed app handle" in p.stderr
    p = cli("--log_level", "WARNING", "run", "utils.echo")
    assert p.returncode == 0 and p.stderr == "echo/0 hello world\n"  # the replica's output only


def test_completion_script_in_bash(cli: Cli) -> None:
    script = cli.ok("completion", "bash")
    assert "complete -o default -F _torchx_complete torchx" in script
    assert "bashcompinit" in cli.ok("completion", "zsh")
    handle = cli.ok("run", "--detach", "utils.echo").strip()
    cli.wait_state(handle, {"SUCCEEDED"})

    def bash_complete(line: str) -> list[str]:
        shim = cli.cwd / "bin"
        shim.mkdir(exist_ok=True)
        (shim / "torchx").write_text(f"#!/bin/sh\nexec {sys.executable} -m torchx \"$@\"\n")
        (shim / "torchx").chmod(0o755)
        prog = (f"{script}\nCOMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}\n"
                "_torchx_complete\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
        env = dict(cli.env, PATH=f"{shim}:{cli.env['PATH']}")
        out = subprocess.run(["bash", "-c", prog], env=env, cwd=cli.cwd, capture_output=True,
                             text=True, timeout=60, check=True)
        return [w for w in out.stdout.splitlines() if w]

    assert bash_complete("torchx ru") == ["run", "runopts"]
    assert "local_cwd" in bash_complete("torchx run -s ")
    assert bash_complete("torchx run -s local_c") == ["local_cwd"]
    assert "utils.echo" in bash_complete("torchx run utils.")
    assert bash_complete("torchx run utils.echo --m") == ["--msg"]
    assert bash_complete("torchx log --streams ") == ["combined", "stderr", "stdout"]
    assert bash_complete("torchx runopts local_c") == ["local_cwd"]
    assert bash_complete("torchx --log_level D") == ["DEBUG"]
    # bash breaks words at `:`; the reply continues after the last one
    app_id = handle.split("//", 1)[1]
    assert bash_complete("torchx status local_cwd:") == [f"//{app_id}"]
    assert bash_complete("torchx status --") == ["--help", "--json", "--roles"]


def test_replicas_get_the_interpreter_running_torchx(cli: Cli) -> None:
    """`.venv/bin/torchx run ...` without an activated venv: replicas' `python` is the venv's."""
    cli.env["PATH"] = "/usr/bin:/bin"
    p = cli("run", "utils.python", "-c", "import sys; print(sys.prefix)")
    assert p.returncode == 0, p.stderr
    assert replica_lines(p.stderr) == [f"python/0 {sys.prefix}"]


@pytest.mark.parametrize("flags", [[], ["--wait"], ["--log"], ["--wait", "--log"], ["--detach"]],
                         ids=lambda f: " ".join(f) or "default")
def test_stdout_holds_only_the_handle(cli: Cli, flags: list[str]) -> None:
    """Issue 9 (6): `h=$(torchx run ...)` captures the handle alone, as upstream; the replicas'
    output (when streamed) goes to stderr with its role/replica prefix."""
    p = cli("run", *flags, "utils.echo", "--msg", "to stderr")
    assert p.returncode == 0, p.stderr
    assert re.fullmatch(r"local_cwd://torchx/echo-[a-z0-9]+\n", p.stdout), p.stdout
    streamed = flags != ["--detach"] and flags != ["--wait"]
    assert ("echo/0 to stderr" in replica_lines(p.stderr)) == streamed
    dry = cli.ok("run", "--dryrun", *[f for f in flags if f != "--detach"], "utils.echo")
    assert "=== SCHEDULER REQUEST (local_cwd) ===" in dry  # a dryrun's output stays on stdout


HOSTILE = '''
import torchx.specs as specs


def f(d: str = "", lo: int = 0) -> specs.AppDef:
    """Options named like abbreviations of `torchx run`'s own flags (--dryrun, --log)."""
    return specs.AppDef("f", [specs.Role("f", image="", entrypoint="echo", args=[f"d={d}", f"lo={lo}"])])
'''


def test_component_options_are_never_read_as_run_flags(cli: Cli) -> None:
    """Issue 9 (5): nothing after the component name is an abbreviation of a run flag, and
    nothing after --script is torchx run's."""
    (cli.cwd / "c.py").write_text(HOSTILE)
    p = cli("run", "./c.py:f", "--d", "a=1", "--lo", "3")
    assert p.returncode == 0, p.stderr
    assert replica_lines(p.stderr) == ["f/0 d=a=1 lo=3"]
    (cli.cwd / "hello.py").write_text("import sys; print(sys.argv[1:])\n")
    words = ["--d", "--lo", "--det", "--dryrun", "--log", "--wait", "--json", "-s", "nosuch",
             "-cfg", "x", "--sch", "-jobs", "--", "--help"]
    p = cli("run", "utils.python", "--script", "hello.py", *words)
    assert p.returncode == 0, p.stderr
    assert replica_lines(p.stderr) == [f"python/0 {words}"]
    p = cli("run", "--dry", "utils.echo")  # and before the component, no abbreviations either
    assert p.returncode == 2 and "unrecognized arguments: --dry" in p.stderr


def test_tracker_list_jobs_says_when_no_run_was_recorded(cli: Cli, tmp_path: Path) -> None:
    """A tracked job that records nothing through AppRun.run_from_env() leaves no run: say so
    (on stderr; stdout stays empty for scripts) rather than print an empty line."""
    cli.env.update(TORCHX_TRACKERS="fsspec", TORCHX_TRACKER_FSSPEC_CONFIG=str(tmp_path / "tr"))
    cli.ok("run", "utils.echo")
    p = cli("tracker", "list", "jobs")
    assert p.returncode == 0 and p.stdout == ""
    assert "no runs recorded" in p.stderr and "AppRun.run_from_env()" in p.stderr
    assert json.loads(cli.ok("tracker", "--json", "list", "jobs")) == []


@pytest.mark.parametrize("how", ["console script", "python -m torchx"])
def test_completion_works_without_torchx_on_path(cli: Cli, how: str) -> None:
    """The generated function calls the torchx that generated it, not a bare `torchx` that a
    shell without the venv on PATH cannot find."""
    from tests.integration.cli.conftest import VENV_BIN

    gen = [os.path.join(VENV_BIN, "torchx")] if how == "console script" else [sys.executable, "-m", "torchx"]
    script = subprocess.run([*gen, "completion", "bash"], env=cli.env, cwd=cli.cwd, text=True,
                            capture_output=True, timeout=60, check=True).stdout
    prog = (f"{script}\nCOMP_LINE='.venv/bin/torchx ru'; COMP_POINT=${{#COMP_LINE}}\n"
            "_torchx_complete\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    env = dict(cli.env, PATH="/usr/bin:/bin")  # no venv, no torchx
    out = subprocess.run(["bash", "-c", prog], env=env, cwd=cli.cwd, capture_output=True,
                         text=True, timeout=60, check=True)
    assert [w for w in out.stdout.splitlines() if w] == ["run", "runopts"]


def test_run_narrates_each_restart_and_status_keeps_the_count(cli: Cli) -> None:
    """Restarts are not silent: `run` says which replica exited how, and which retry this is."""
    p = cli("run", "utils.sh", "--max_retries", "2", "echo try; sleep 2; exit 5")
    assert p.returncode == 1
    said = [line for line in p.stderr.splitlines() if "restart" in line]
    assert said == [f"torchx: warning: replica sh[0] exited 5; restart {k}/2" for k in (1, 2)]
    assert replica_lines(p.stderr) == ["sh/0 try"] * 3
    handle = p.stdout.strip()
    assert cli.status(handle)["num_restarts"] == 2
    assert "Num Restarts: 2" in cli.ok("status", handle)


@pytest.mark.parametrize("component", [["utils.python"], ["dist.ddp", "-j", "2x1"]])
def test_a_missing_script_is_refused_before_submission(cli: Cli, component: list[str]) -> None:
    """local_cwd runs the job in the current directory: a --script that is not there is one
    line naming the path, exit 2, and no job."""
    p = cli("run", *component, "--script", "trian.py", "--epochs", "1")
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.splitlines() == [
        f"torchx: error: script `trian.py` of role `{'python' if component[0] == 'utils.python' else 'trian'}`"
        f" not found in {cli.cwd}, where local_cwd runs the job; fix the path"]
    assert json.loads(cli.ok("list", "--json")) == []
    cli.ok("run", "--dryrun", *component, "--script", "trian.py")  # a dryrun still shows it
    (cli.cwd / "trian.py").write_text("print('ran')\n")
    p = cli("run", "utils.python", "--script", "trian.py")
    assert p.returncode == 0 and replica_lines(p.stderr) == ["python/0 ran"]


def test_sigterm_cancels_the_job_like_ctrl_c(cli: Cli) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchx", "run", "utils.sh", "echo started; sleep 60"],
        cwd=cli.cwd, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stderr is not None
        handle = proc.stdout.readline().strip()
        while (line := proc.stderr.readline()) and line.strip() != "sh/0 started":
            pass  # narration before the replica's first line
        assert line.strip() == "sh/0 started"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "got SIGTERM: cancelling" in err and "Traceback" not in err
    assert cli.status(handle)["state"] == "CANCELLED"
