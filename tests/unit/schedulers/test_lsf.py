"""lsf scheduler: golden submit scripts, quoting, bjobs parsing, and the whole scheduler run
against FAKE LSF commands (tests/unit/schedulers/lsf_fakes.py says what they are and cannot do).

LSF is proprietary and cannot run on this machine: these tests are the evidence for ``-s lsf``.
Set ``TORCHX_UPDATE_GOLDEN=1`` to rewrite ``tests/golden/lsf/*.sh`` after an intended change.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contract import SchedulerContract
from tests.goldens import check_golden
from tests.unit.schedulers import lsf_fakes
from torchx import specs
from torchx.schedulers import get_scheduler_factory
from torchx.schedulers.api import Stream
from torchx.schedulers.lsf_scheduler import (
    LSF_STATES,
    LsfCommandError,
    LsfOpts,
    LsfScheduler,
    build_request,
    lsf_state,
    parse_bjobs,
    to_describe,
)
from torchx.specs import AppState, TorchXError, macros

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "lsf"


def _role(name: str = "trainer", n: int = 1, **kw: object) -> specs.Role:
    kw.setdefault("resource", specs.Resource(cpu=1, gpu=0, memMB=512))
    kw.setdefault("image", "pytorch/pytorch:2")
    return specs.Role(name, entrypoint="python", num_replicas=n, **kw)  # type: ignore[arg-type]


APPS: dict[str, tuple[specs.AppDef, dict[str, object]]] = {
    "single": (specs.AppDef("echo", [_role(args=["-c", "print('hi')"])]), {}),
    "ddp_2x2": (
        specs.AppDef("ddp", [_role(n=2, resource=specs.Resource(cpu=2, gpu=0, memMB=1024), args=[
            "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "2",
            "--rdzv_endpoint", f"$${{{macros.rank0_env}:=localhost}}:29500",
            "--rdzv_id", macros.app_id, "--node_rank", macros.replica_id, "train.py",
        ])]),
        {"lsf_queue": "normal", "jobdir": "/shared/jobs"},
    ),
    "two_roles_all_opts": (
        specs.AppDef("my app!", [
            _role("ps", env={"MODE": "server", "CMD": "$(rm -rf ~)", "JOB": f"job-{macros.app_id}"}),
            _role("work er", n=2, resource=specs.Resource(cpu=4, gpu=2, memMB=64000),
                  args=["it's a \"test\"", "$HOME", "`id`", "a;b", "x\nEOF\ny", "TORCHX_EOF"],
                  mounts=[specs.BindMount("/data", "/mnt/data", read_only=True),
                          specs.DeviceMount("/dev/fuse", "/dev/fuse")]),
        ]),
        {"lsf_queue": "gpu", "jobdir": "/shared/jobs", "container_workdir": "/workspace",
         "host_network": True, "shm_size": "16g"},
    ),
}


@pytest.mark.parametrize("name", sorted(APPS))
def test_golden_script(name: str) -> None:
    app, cfg = APPS[name]
    got = repr(build_request(app, LsfOpts.from_cfg(cfg), app_id=f"{name}-0000"))  # type: ignore[arg-type]
    path = GOLDEN / f"{name}.sh"
    check_golden(path, got)


def test_golden_scripts_are_valid_bash() -> None:
    paths = sorted(GOLDEN.glob("*.sh"))
    assert len(paths) == len(APPS)
    for path in paths:
        subprocess.run(["bash", "-n", str(path)], check=True)


def test_dryrun_is_the_whole_script_and_has_no_side_effects(tmp_path: Path) -> None:
    sched = LsfScheduler("t")
    app, cfg = APPS["single"]
    info = sched.submit_dryrun(app, {**cfg, "jobdir": str(tmp_path / "jd")})
    text = repr(info)
    assert text.startswith("#!/bin/bash\n") and text == info.request.materialize()
    assert sched.calls == 0 and not (tmp_path / "jd").exists()
    assert info.request.app_id.startswith("echo-") and len(info.request.app_id) == len("echo-") + 8


def test_options_and_errors() -> None:
    opts = LsfScheduler("t").run_opts()
    assert {k for k, _ in opts} == {"lsf_queue", "jobdir", "container_workdir", "host_network",
                                    "shm_size"}
    assert opts.get("shm_size").default == "64m" and opts.get("host_network").default is False  # type: ignore[union-attr]
    with pytest.raises(specs.InvalidRunConfigException, match="Did you mean `lsf_queue`"):
        LsfScheduler("t").submit_dryrun(APPS["single"][0], {"queue": "x"})
    with pytest.raises(specs.InvalidRunConfigException, match="no image"):
        build_request(specs.AppDef("x", [_role(image="")]), LsfOpts())
    with pytest.raises(specs.InvalidRunConfigException, match="no replicas"):
        build_request(specs.AppDef("x", []), LsfOpts())
    assert get_scheduler_factory("lsf")("s").backend == "lsf"


def test_every_state_mapped() -> None:
    assert lsf_state("PEND") == AppState.PENDING and lsf_state("RUN") == AppState.RUNNING
    assert lsf_state("DONE") == AppState.SUCCEEDED and lsf_state("EXIT", 1) == AppState.FAILED
    assert lsf_state("EXIT", 130) == AppState.CANCELLED  # bkill, as upstream
    for s in ("PSUSP", "USUSP", "SSUSP"):
        assert LSF_STATES[s] == AppState.PENDING
    assert lsf_state("nonsense") == AppState.UNKNOWN


BJOBS = {
    "COMMAND": "bjobs", "JOBS": 4,
    "RECORDS": [
        {"JOBID": "7", "JOB_NAME": "a-1-ps-0", "PROJ_NAME": "a-1", "STAT": "DONE", "EXIT_CODE": "",
         "EXEC_HOST": "4*h1:2*h2", "PEND_REASON": "", "OUTPUT_FILE": "/j/ps-0.out",
         "ERROR_FILE": "/j/ps-0.err"},
        {"JOBID": "8", "JOB_NAME": "a-1-worker-0", "PROJ_NAME": "a-1", "STAT": "EXIT",
         "EXIT_CODE": "3", "EXEC_HOST": "h3", "PEND_REASON": "", "OUTPUT_FILE": "",
         "ERROR_FILE": ""},
        {"JOBID": "9", "JOB_NAME": "a-1-worker-1", "PROJ_NAME": "a-1", "STAT": "PEND",
         "EXIT_CODE": "", "EXEC_HOST": "", "PEND_REASON": "Job dependency condition not satisfied;",
         "OUTPUT_FILE": "", "ERROR_FILE": ""},
        {"JOBID": "10", "ERROR": "Job <10> is not found"},
    ],
}


def test_bjobs_parsed_per_replica() -> None:
    jobs = parse_bjobs(BJOBS)
    assert [(j.job_id, j.host, j.exit_code) for j in jobs] == [("7", "h1", None), ("8", "h3", 3),
                                                              ("9", "", None)]
    d = to_describe("a-1", jobs)
    assert d.state == AppState.RUNNING  # worker[1] has not started, worker[0] failed
    assert [(r.role, [(x.id, x.state) for x in r.replicas]) for r in d.roles_statuses] == [
        ("ps", [(0, AppState.SUCCEEDED)]),
        ("worker", [(0, AppState.FAILED), (1, AppState.PENDING)])]
    assert "worker[0] exit code 3" in d.msg
    jobs[2].stat, jobs[2].exit_code = "EXIT", 130
    d = to_describe("a-1", jobs)
    assert d.state == AppState.FAILED and d.roles_statuses[1].replicas[1].state == AppState.CANCELLED
    pend = to_describe("a-1", [parse_bjobs(BJOBS)[2]])
    assert pend.state == AppState.PENDING and "dependency condition" in pend.msg


# --------------------------------------------------------------------------- against the fakes


@pytest.fixture
def fake_lsf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    bindir = lsf_fakes.install(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LSF_STATE", str(tmp_path / "lsf-state"))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for f in (tmp_path / "lsf-state").glob("*.json"):  # nothing left running
        pid = json.loads(f.read_text())["pid"]
        if pid:
            try:
                os.killpg(pid, 9)
            except OSError:
                pass


def _wait(sched: LsfScheduler, app_id: str, until: set[AppState] | None = None,
          timeout: float = 60) -> specs.AppStatus:
    deadline = time.monotonic() + timeout
    while True:
        d = sched.describe(app_id)
        assert d is not None
        if d.state.is_terminal() or (until and d.state in until):
            return d  # type: ignore[return-value]
        assert time.monotonic() < deadline, d
        time.sleep(0.1)


def _py_role(name: str, code: str, n: int = 1, **kw: object) -> specs.Role:
    return specs.Role(name, image="img", entrypoint=sys.executable, args=["-c", code],
                      num_replicas=n, **kw)  # type: ignore[arg-type]


def test_run_logs_and_status_through_the_fakes(fake_lsf: Path) -> None:
    sched = LsfScheduler("t")
    code = "import os,sys; print('out', sys.argv[1], os.environ['TORCHX_RANK0_HOST']); print('err', file=sys.stderr)"
    role = _py_role("main", code, n=2)
    role.args.append(macros.replica_id)
    app_id = sched.schedule(sched.submit_dryrun(specs.AppDef("hello", [role]), {"jobdir": "jd"}))
    d = _wait(sched, app_id)
    assert d.state == AppState.SUCCEEDED, d
    assert [r.state for r in d.roles_statuses[0].replicas] == [AppState.SUCCEEDED] * 2
    assert list(sched.log_iter(app_id, "main", 1, streams=Stream.STDOUT)) == ["out 1 localhost\n"]
    assert list(sched.log_iter(app_id, "main", 1, streams=Stream.STDERR)) == ["err\n"]
    assert sorted(sched.log_iter(app_id, "main", 1)) == ["err\n", "out 1 localhost\n"]
    assert sorted(sched.log_iter(app_id, "main", 0, streams=Stream.COMBINED)) == [
        "err\n", "out 0 localhost\n"]
    assert list(sched.log_iter(app_id, "main", 0, regex="^out", streams=Stream.COMBINED)) == [
        "out 0 localhost\n"]
    assert (fake_lsf / "jd" / app_id / "main-0.out").exists()
    with pytest.raises(TorchXError, match=r"no replica main\[5\]"):
        sched.log_iter(app_id, "main", 5)
    assert [a.app_id for a in sched.list()] == [app_id]
    assert sched.list()[0].state == AppState.SUCCEEDED


def test_failure_reports_the_exit_code(fake_lsf: Path) -> None:
    sched = LsfScheduler("t")
    app = specs.AppDef("bad", [_py_role("ok", "pass"), _py_role("worker", "raise SystemExit(3)")])
    app_id = sched.schedule(sched.submit_dryrun(app, {}))
    d = _wait(sched, app_id)
    assert d.state == AppState.FAILED and "worker[0] exit code 3" in d.msg, d.msg


def test_cancel_kills_and_reports_cancelled(fake_lsf: Path) -> None:
    sched = LsfScheduler("t")
    app_id = sched.schedule(sched.submit_dryrun(
        specs.AppDef("sleepy", [_py_role("s", "import time; time.sleep(300)", n=2)]), {}))
    assert _wait(sched, app_id, {AppState.RUNNING}).state == AppState.RUNNING
    sched.cancel(app_id)
    d = _wait(sched, app_id)
    assert d.state == AppState.CANCELLED
    pids = [json.loads(f.read_text())["pid"] for f in (fake_lsf / "lsf-state").glob("*.json")]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    sched.cancel(app_id)  # no-op once finished


def test_pending_reason_and_cancel_while_pending(fake_lsf: Path) -> None:
    sched = LsfScheduler("t")
    app_id = sched.schedule(sched.submit_dryrun(
        specs.AppDef("wait", [_py_role("w", "pass")]), {"lsf_queue": "closed"}))
    d = sched.describe(app_id)
    assert d is not None and d.state == AppState.PENDING and "Queue is closed" in d.msg
    sched.cancel(app_id)
    assert _wait(sched, app_id).state == AppState.CANCELLED


def test_a_rejected_bsub_kills_what_was_submitted(fake_lsf: Path) -> None:
    sched = LsfScheduler("t")
    big = _py_role("big", "pass", resource=specs.Resource(cpu=999, gpu=0, memMB=1))
    app = specs.AppDef("half", [_py_role("s", "import time; time.sleep(300)"), big])
    info = sched.submit_dryrun(app, {})
    with pytest.raises(LsfCommandError, match="Bad argument for option -n"):
        sched.schedule(info)
    d = _wait(sched, info.request.app_id)
    assert d.state == AppState.CANCELLED  # the replica already submitted was killed


def test_unknown_app_and_missing_commands(fake_lsf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sched = LsfScheduler("t")
    assert sched.describe("nope-1234") is None and sched.list() == []
    with pytest.raises(specs.UnknownAppException):
        sched.log_iter("nope-1234", "main")
    monkeypatch.setenv("PATH", str(fake_lsf / "empty"))
    with pytest.raises(LsfCommandError, match="`bjobs` not found on PATH"):
        sched.describe("x-1")


def test_tail_follows_until_the_app_ends(fake_lsf: Path) -> None:
    sched = LsfScheduler("t")
    code = "import sys,time\nfor i in range(3):\n    print('line', i, flush=True); time.sleep(0.5)"
    app_id = sched.schedule(sched.submit_dryrun(specs.AppDef("t", [_py_role("m", code)]), {}))
    got = list(sched.log_iter(app_id, "m", 0, should_tail=True, streams=Stream.STDOUT))
    assert got == ["line 0\n", "line 1\n", "line 2\n"]


# --------------------------------------------------------------------------- quoting property

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=40)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(_text | st.sampled_from(["EOF", "TORCHX_EOF", "$(touch pwned)", "`id`",
                                              "'\"", "x\ny", "$$", "#BSUB -q evil", "\\"]),
                     max_size=6),
       env_val=_text, name=_text)
def test_any_string_reaches_the_process_unchanged(
    tmp_path_factory: pytest.TempPathFactory, args: list[str], env_val: str, name: str
) -> None:
    """Arguments, env values and names through the generated script, fake bsub and fake docker:
    what the process sees equals what the AppDef said, and nothing ran at submit time."""
    d = tmp_path_factory.mktemp("rt")
    bindir = lsf_fakes.install(d / "bin")
    dump = ("import json,os,sys; json.dump({'argv': sys.argv[2:], 'env': os.environ['V']},"
            " open(sys.argv[1], 'w'))")
    role = specs.Role(name or "r", image="img", entrypoint=sys.executable,
                      args=["-c", dump, str(d / "got.json"), *[a.replace("$", "$$") for a in args]],
                      env={"V": env_val.replace("$", "$$")})
    script = build_request(specs.AppDef(name, [role]), LsfOpts(jobdir=str(d / "jd"))).materialize()
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "FAKE_LSF_STATE": str(d / "s")}
    subprocess.run(["bash", "-c", script], cwd=d, env=env, check=True, timeout=60,
                   capture_output=True)
    deadline = time.monotonic() + 60
    while not (d / "s" / "100.rc").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (d / "s" / "100.rc").read_text().strip() == "0", (d / "jd").glob("*/*.err")
    assert json.loads((d / "got.json").read_text()) == {"argv": args, "env": env_val}
    assert not (d / "pwned").exists()


# --------------------------------------------------------------------------- the contract


class TestLsfContract(SchedulerContract):
    """The shared scheduler contract, against the FAKE LSF/docker commands of lsf_fakes.

    The fakes run the jobs on this host, so execution, exit codes and logs are tested too; what
    no fake can show is declared below.
    """

    backend = "lsf"
    unknown_app_id = "contract-no-such-app-00000000"
    image = "contract/image:1"
    cannot = {
        "log_since_until": "LSF's -o/-e files carry no timestamps",
        "delete_forgets": "LSF keeps finished jobs for CLEAN_PERIOD; delete kills them (bkill)",
    }

    def prepare(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        bindir = lsf_fakes.install(tmp_path / "fake-bin")
        monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
        monkeypatch.setenv("FAKE_LSF_STATE", str(tmp_path / "lsf-state"))
        monkeypatch.chdir(tmp_path)

    def normalize_dryrun(self, text: str, tmp_path: Path) -> str:
        text = super().normalize_dryrun(text, tmp_path)
        return re.sub(r"contract-golden-[0-9a-f]{8}", "contract-golden-<id>", text)
