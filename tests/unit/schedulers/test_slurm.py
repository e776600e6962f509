"""Slurm scheduler without a cluster: golden scripts, quoting, parsers, errors, workspace copy.

Set ``TORCHX_UPDATE_GOLDEN=1`` to rewrite ``tests/golden/slurm/*.sbatch`` after an intended change.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.goldens import check_golden
from torchx import specs
from torchx.schedulers import get_scheduler_factory
from torchx.schedulers.slurm_scheduler import (
    SLURM_STATES,
    SlurmCommandError,
    SlurmOpts,
    SlurmScheduler,
    build_request,
    slurm_state,
)
from torchx.schedulers.slurm_status import parse_jobcomp, parse_sacct, parse_squeue, to_describe
from torchx.specs import AppState, macros

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "slurm"


def _role(name: str = "trainer", n: int = 1, **kw: object) -> specs.Role:
    kw.setdefault("resource", specs.Resource(cpu=1, gpu=0, memMB=512))
    return specs.Role(name, image="/tmp", entrypoint="python", num_replicas=n, **kw)  # type: ignore[arg-type]


APPS: dict[str, tuple[specs.AppDef, dict[str, object], tuple[int, int] | None, dict[str, int]]] = {
    "single": (specs.AppDef("echo", [_role(args=["-c", "print('hi')"])]), {}, None, {}),
    "ddp_2x2": (
        specs.AppDef("ddp", [_role(n=2, resource=specs.Resource(cpu=2, gpu=0, memMB=1024), args=[
            "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "2",
            "--rdzv_endpoint", f"$${{{macros.rank0_env}:=localhost}}:29500",
            "--rdzv_id", macros.app_id, "--node_rank", macros.replica_id, "train.py",
        ])]),
        {"partition": "debug", "time": "10"}, (22, 5), {"": 2000, "debug": 2000},
    ),
    "two_roles_all_opts": (
        specs.AppDef("mixed", [
            _role("ps", env={"MODE": "server", "JOB": f"job-{macros.app_id}"}, max_retries=2),
            _role("worker", n=2, resource=specs.Resource(cpu=1, gpu=2, memMB=64000),
                  args=["it's a \"test\"", "$HOME", "`id`", "a;b", "x\ny", ":"]),
        ]),
        {"partition": "gpu", "time": "1:00:00", "account": "proj", "qos": "high",
         "comment": "nightly run", "constraint": "a100&ib", "mail-user": "me@example.com",
         "mail-type": "END,FAIL", "job_dir": "/shared/jobs/mixed"},
        (20, 2), {"gpu": 32000},
    ),
}


@pytest.mark.parametrize("name", sorted(APPS))
def test_golden_script(name: str) -> None:
    app, cfg, version, mem = APPS[name]
    opts = SlurmOpts.from_cfg(cfg)  # type: ignore[arg-type]
    got = repr(build_request(app, opts, version, mem))
    path = GOLDEN / f"{name}.sbatch"
    check_golden(path, got)


def test_golden_scripts_are_valid_bash() -> None:
    for path in GOLDEN.glob("*.sbatch"):
        subprocess.run(["bash", "-n", str(path)], check=True)


def test_resources_and_versions() -> None:
    app, cfg, _, _ = APPS["two_roles_all_opts"]
    opts = SlurmOpts.from_cfg(cfg)  # type: ignore[arg-type]
    old = build_request(app, opts, (20, 2), {"gpu": 32000})
    new = build_request(app, opts, (22, 5), {"gpu": 128000})
    worker_old, worker_new = old.replicas[1].sbatch, new.replicas[1].sbatch
    assert "--gpus-per-node=2" in worker_old and "--gpus-per-task=2" in worker_new
    assert not any(o.startswith("--mem") for o in worker_old)  # 64000 MB > 32000 MB nodes
    assert "--mem=64000M" in worker_new
    assert "--mem=512M" in old.replicas[0].sbatch
    # job-level options only on the first component
    assert "--comment=\"nightly run\"" in old.replicas[0].sbatch
    assert not any(o.startswith("--comment") for o in old.replicas[1].sbatch)
    assert "--requeue" in old.replicas[0].sbatch and old.max_retries == 2


def test_unknown_and_bad_options() -> None:
    sched = SlurmScheduler("t")
    with pytest.raises(specs.InvalidRunConfigException, match="Did you mean `partition`"):
        sched.submit_dryrun(APPS["single"][0], {"partiton": "x"})
    with pytest.raises(specs.InvalidRunConfigException, match="newlines"):
        build_request(APPS["single"][0], SlurmOpts(comment="a\nb"))
    # sbatch reads `\x` as `x` even inside double quotes: backslash and `"` are escaped
    req = build_request(APPS["single"][0], SlurmOpts(comment='say "hi" C:\\dir\\', qos="a'b"))
    assert '--comment="say \\"hi\\" C:\\\\dir\\\\"' in req.replicas[0].sbatch
    assert "--qos=\"a'b\"" in req.replicas[0].sbatch
    with pytest.raises(specs.InvalidRunConfigException, match="no replicas"):
        build_request(specs.AppDef("empty", []), SlurmOpts())
    keys = {k for k, _ in sched.run_opts()}
    assert keys == {"partition", "time", "account", "qos", "comment", "constraint",
                    "mail-user", "mail-type", "job_dir"}


def test_registered() -> None:
    assert isinstance(get_scheduler_factory("slurm")("s"), SlurmScheduler)


def test_missing_commands_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    sched = SlurmScheduler("t")
    with pytest.raises(SlurmCommandError, match="`squeue` not found on PATH"):
        sched.describe("1")
    # dryrun still works without Slurm (nothing is probed that must exist)
    assert "#SBATCH --job-name=trainer-0" in repr(sched.submit_dryrun(APPS["single"][0], {}))


def test_sbatch_rejection_shows_its_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "sbatch"
    fake.write_text("#!/bin/sh\necho 'sbatch: error: Invalid account or account/partition' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    sched = SlurmScheduler("t")
    info = specs.AppDryRunInfo(build_request(APPS["single"][0], SlurmOpts()), repr)
    with pytest.raises(SlurmCommandError, match="sbatch rejected the job: .*Invalid account"):
        sched.schedule(info)


def test_multiline_slurm_errors_become_one_line(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    fake = tmp_path / "scancel"
    fake.write_text("#!/bin/sh\necho 'scancel: error: first' >&2\necho >&2\necho ' second ' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(SlurmCommandError) as e:
        SlurmScheduler("t")._run(["scancel", "1"])
    assert str(e.value) == "`scancel 1` failed: scancel: error: first; second"


def test_a_hung_slurm_command_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    fake = tmp_path / "squeue"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    sched = SlurmScheduler("t")
    sched.timeout = 0.3
    with pytest.raises(SlurmCommandError, match=r"`squeue --json` gave no answer within 0.3 s"):
        sched.describe("1")


class _Recording(SlurmScheduler):
    """A cluster that answers the read-only probes and records every command with its stdin."""

    def __init__(self) -> None:
        super().__init__("t")
        self.cmds: list[tuple[list[str], str | None]] = []

    def _run(self, cmd: list[str], input: str | None = None) -> str:
        self.cmds.append((cmd, input))
        return {"sbatch": "slurm 22.05.8\n" if input is None else "77;cluster\n",
                "sinfo": "debug* 2000\n"}[cmd[0]]


def test_dryrun_has_no_side_effects_and_shows_what_is_submitted(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "f.py").write_text("print(1)\n")
    role = _role(args=["f.py"])
    role.workspace = specs.Workspace({str(ws): ""})
    job_dir = tmp_path / "job"
    sched = _Recording()
    info = sched.submit_dryrun(specs.AppDef("a", [role]), {"job_dir": str(job_dir)})
    shown = str(info)
    assert not job_dir.exists()  # nothing created or copied
    assert [c for c, _ in sched.cmds] == [["sbatch", "--version"], ["sinfo", "-h", "-o", "%P %m"]]
    assert shown.startswith(f"# workspace: copy {ws} -> {job_dir}/ at submit\nsbatch --parsable <<")
    assert sched.schedule(info) == "77"
    cmd, stdin = sched.cmds[-1]
    assert cmd == ["sbatch", "--parsable"] and stdin is not None
    assert f"{' '.join(cmd)} <<'TORCHX_EOF'\n{stdin}TORCHX_EOF\n" in shown  # exactly what ran
    assert (job_dir / "f.py").read_text() == "print(1)\n"  # the copy happens at submit


def test_a_missing_script_is_refused_before_anything_is_submitted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A --script typo fails at once, naming the path, instead of waiting in the queue."""
    from torchx.components.utils import python
    from torchx.specs.builders import ComponentArgsError

    monkeypatch.chdir(tmp_path)
    sched = _Recording()
    info = sched.submit_dryrun(python(script="trian.py"), {})  # the dryrun still shows it
    with pytest.raises(ComponentArgsError, match=f"script `trian.py` of role `python` not found in {tmp_path},"):
        sched.schedule(info)
    assert not any(c == ["sbatch", "--parsable"] for c, _ in sched.cmds)
    (tmp_path / "trian.py").write_text("print(1)\n")
    assert sched.schedule(info) == "77"
    # with job_dir, the workspace copied to its top is where the script must be
    ws, job_dir = tmp_path / "ws", tmp_path / "job"
    ws.mkdir()
    app = python(script="in_ws.py")
    app.roles[0].workspace = specs.Workspace({str(ws): ""})
    info = sched.submit_dryrun(app, {"job_dir": str(job_dir)})
    with pytest.raises(ComponentArgsError, match=f"not found in {job_dir} or {ws},"):
        sched.schedule(info)
    assert not job_dir.exists()  # nothing copied either
    (ws / "in_ws.py").write_text("print(1)\n")
    assert sched.schedule(info) == "77"


# Every job state Slurm prints (its job_state_string), written out. The first block is upstream
# TorchX's table (reference inventory, section 4.5); the second, states upstream leaves UNKNOWN,
# which is never terminal: a failed launch would keep `wait` waiting forever.
EXPECTED_STATES = {
    "BOOT_FAIL": AppState.FAILED,
    "CANCELLED": AppState.CANCELLED,
    "COMPLETED": AppState.SUCCEEDED,
    "DEADLINE": AppState.FAILED,
    "FAILED": AppState.FAILED,
    "NODE_FAIL": AppState.FAILED,
    "OUT_OF_MEMORY": AppState.FAILED,
    "PENDING": AppState.PENDING,
    "PREEMPTED": AppState.FAILED,
    "REQUEUED": AppState.PENDING,
    "RESIZING": AppState.PENDING,
    "REVOKED": AppState.FAILED,
    "RUNNING": AppState.RUNNING,
    "SUSPENDED": AppState.PENDING,
    "TIMEOUT": AppState.FAILED,
    # not in upstream's table
    "COMPLETING": AppState.RUNNING,
    "CONFIGURING": AppState.PENDING,
    "LAUNCH_FAILED": AppState.FAILED,
    "POWER_UP_NODE": AppState.PENDING,
    "RECONFIG_FED": AppState.PENDING,
    "REQUEUE_FED": AppState.PENDING,
    "REQUEUE_HOLD": AppState.PENDING,
    "RESV_DEL_HOLD": AppState.PENDING,
    "SIGNALING": AppState.RUNNING,
    "SPECIAL_EXIT": AppState.FAILED,
    "STAGE_OUT": AppState.RUNNING,
    "STOPPED": AppState.PENDING,
}


@pytest.mark.parametrize("state", sorted(EXPECTED_STATES))
def test_every_state_maps_as_written(state: str) -> None:
    assert slurm_state(state) == EXPECTED_STATES[state]
    assert slurm_state(state.lower()) == EXPECTED_STATES[state]


def test_every_state_mapped() -> None:
    assert set(SLURM_STATES) == set(EXPECTED_STATES)  # no state the table above does not pin
    assert slurm_state("CANCELLED by 0") == AppState.CANCELLED
    assert slurm_state("NOT_A_STATE") == AppState.UNKNOWN
    assert slurm_state("") == AppState.UNKNOWN


# squeue --json / sacct --json / jobcomp lines as Slurm 22.05 prints them (trimmed)
SQUEUE = {"jobs": [
    {"job_id": 7, "het_job_id": 7, "het_job_offset": 0, "name": "trainer-0", "job_state": "PENDING",
     "state_reason": "Resources", "nodes": "", "exit_code": 0, "derived_exit_code": 0,
     "restart_cnt": 1, "current_working_directory": "/w", "submit_time": 100},
    {"job_id": 8, "het_job_id": 7, "het_job_offset": 1, "name": "trainer-1", "job_state": "PENDING",
     "state_reason": "Resources", "nodes": "", "exit_code": 0, "derived_exit_code": 0,
     "restart_cnt": 1, "current_working_directory": "/w", "submit_time": 100},
    {"job_id": 9, "het_job_id": 0, "het_job_offset": 0, "name": "echo-0", "job_state": ["FAILED"],
     "state_reason": "NonZeroExitCode", "nodes": "n3", "exit_code": {"set": True, "number": 768},
     "derived_exit_code": 768, "restart_cnt": 0, "current_working_directory": "/w"},
]}


def test_describe_from_squeue() -> None:
    comps = parse_squeue(SQUEUE)
    pending = to_describe("7", [c for c in comps if c.app_id == "7"])
    assert pending.state == AppState.PENDING and pending.msg == "PENDING: Resources"
    assert pending.num_restarts == 1
    assert [(r.id, r.role) for r in pending.roles_statuses[0].replicas] == [(0, "trainer"), (1, "trainer")]
    failed = to_describe("9", [c for c in comps if c.app_id == "9"])
    assert failed.state == AppState.FAILED and "exit code 3" in failed.msg
    assert failed.roles_statuses[0].replicas[0].hostname == "n3"


def test_describe_from_sacct_and_jobcomp() -> None:
    sacct = textwrap.dedent("""\
        20+0|COMPLETED|0:0|0:0|n1|2026-11-23T04:15:32|/w|a-0
        20+1|COMPLETED|0:0|3:0|n2|2026-11-23T04:15:32|/w|a-1
        24|REQUEUED|0:0|0:0|n1|2026-11-23T04:15:56|/w/x|main-0
        24|FAILED|4:0|4:0|n1|2026-11-23T04:15:57|/w/x|main-0
        25|CANCELLED by 0|0:0|0:0|None assigned|2026-11-23T04:15:58|/w|main-0
        """)
    comps = parse_sacct(sacct)
    d = to_describe("24", [c for c in comps if c.app_id == "24"])
    assert d.state == AppState.FAILED and d.num_restarts == 1 and "exit code 4" in d.msg
    d = to_describe("25", [c for c in comps if c.app_id == "25"])
    assert d.state == AppState.CANCELLED and d.roles_statuses[0].replicas[0].hostname == ""
    sacct = "\n".join(sacct.splitlines()[:2])
    d = to_describe("20", parse_sacct(sacct))
    assert d.state == AppState.SUCCEEDED
    assert [r.state for r in d.roles_statuses[0].replicas] == [AppState.SUCCEEDED, AppState.FAILED]
    log = textwrap.dedent("""\
        JobId=30 UserId=root(0) GroupId=root(0) Name=my job-0 JobState=FAILED Partition=debug NodeList=n1 WorkDir=/w Comment=a b HetJobId=30 HetJobOffset=0 DerivedExitCode=0:0 ExitCode=2:0
        JobId=31 UserId=root(0) GroupId=root(0) Name=my job-1 JobState=FAILED Partition=debug NodeList=n2 WorkDir=/w HetJobId=30 HetJobOffset=1 DerivedExitCode=2:0 ExitCode=0:0
        JobId=32 UserId=root(0) GroupId=root(0) Name=x-0 JobState=CANCELLED Partition=debug NodeList=n1 WorkDir=/w HetJobId=0 HetJobOffset=0 DerivedExitCode=0:0 ExitCode=0:15
        """)
    comps = parse_jobcomp(log, {"30", "32"})
    d = to_describe("30", [c for c in comps if c.app_id == "30"])
    assert d.state == AppState.FAILED and "exit code 2" in d.msg
    assert d.roles_statuses[0].role == "my job" and d.roles_statuses[0].replicas[1].hostname == "n2"
    d = to_describe("32", [c for c in comps if c.app_id == "32"])
    assert d.state == AppState.CANCELLED


class _Counting(SlurmScheduler):
    """Answers squeue with SQUEUE and records every command instead of running Slurm."""

    def __init__(self) -> None:
        super().__init__("t")
        self.cmds: list[list[str]] = []

    def _run(self, cmd: list[str], input: str | None = None) -> str:
        self.cmds.append(cmd)
        if cmd[0] == "squeue":
            return json.dumps(SQUEUE)
        if cmd[:3] == ["scontrol", "show", "config"]:
            return "AccountingStorageType = accounting_storage/slurmdbd\n"
        if cmd[0] == "sacct":
            return ""
        raise AssertionError(cmd)


def test_describe_many_is_batched() -> None:
    sched = _Counting()
    ids = ["7", "9", *[str(i) for i in range(100, 200)], "not-a-job"]
    got = sched.describe_many(ids)
    assert got["7"] is not None and got["9"] is not None and got["150"] is None
    assert got["not-a-job"] is None
    assert [c[0] for c in sched.cmds] == ["squeue", "scontrol", "sacct"]
    sched.cmds.clear()
    sched.describe_many([str(i) for i in range(100, 200)])
    assert [c[0] for c in sched.cmds] == ["squeue", "sacct"]  # config is cached


# --------------------------------------------------------------------------- quoting property

_SHIMS = {
    # srun: split components on ':' exactly as Slurm does, drop options, run each command
    "srun": f"""#!{sys.executable}
import subprocess, sys
comps, cur = [], []
for a in sys.argv[1:]:
    if a == ":":
        comps.append(cur); cur = []
    else:
        cur.append(a)
comps.append(cur)
rc = 0
for c in comps:
    while c and c[0].startswith("--"):
        c = c[1:]
    rc = max(rc, subprocess.call(c))
sys.exit(rc)
""",
    "scontrol": "#!/bin/sh\necho n1\n",
}

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


@pytest.fixture(scope="module")
def shim_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("shims")
    for name, body in _SHIMS.items():
        p = d / name
        p.write_text(body)
        p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return str(d)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(_text | st.sampled_from([":", "$HOME", "`id`", "a;b", "'\"", "x\ny", "$$", "${app_id}"]),
                     max_size=6),
       env_val=_text)
def test_arguments_round_trip_through_the_script(
    shim_path: str, tmp_path_factory: pytest.TempPathFactory, args: list[str], env_val: str
) -> None:
    out = tmp_path_factory.mktemp("rt")
    dump = "import json,os,sys; json.dump({'argv': sys.argv[2:], 'env': os.environ['V']}, open(sys.argv[1], 'w'))"
    role = specs.Role("r", image="/tmp", entrypoint=sys.executable,
                      args=["-c", dump, str(out / "got.json"), *[a.replace("$", "$$") for a in args]],
                      env={"V": env_val.replace("$", "$$")}, num_replicas=2)
    script = build_request(specs.AppDef("rt", [role]), SlurmOpts()).materialize()
    env = {**os.environ, "PATH": f"{shim_path}:{os.environ['PATH']}", "SLURM_JOB_ID": "42"}
    subprocess.run(["bash", "-c", script], cwd=out, env=env, check=True, timeout=60)
    got = json.loads((out / "got.json").read_text())
    assert got == {"argv": args, "env": env_val}


def test_macros_expand_in_the_script(shim_path: str, tmp_path: Path) -> None:
    dump = "import json,os,sys; json.dump([sys.argv[2:], os.environ['H'], os.environ[os.environ['H']]], open(sys.argv[1], 'w'))"
    role = specs.Role("r", image="/tmp", entrypoint=sys.executable,
                      args=["-c", dump, str(tmp_path / "got.json"), macros.app_id,
                            f"id-{macros.app_id}-{macros.replica_id}"],
                      env={"H": macros.rank0_env})
    script = build_request(specs.AppDef("m", [role]), SlurmOpts()).materialize()
    env = {**os.environ, "PATH": f"{shim_path}:{os.environ['PATH']}", "SLURM_JOB_ID": "42"}
    subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, check=True, timeout=60)
    assert json.loads((tmp_path / "got.json").read_text()) == [["42", "id-42-0"], "TORCHX_RANK0_HOST", "n1"]


class _OldCluster(SlurmScheduler):
    def _run(self, cmd: list[str], input: str | None = None) -> str:
        if cmd == ["sbatch", "--version"]:
            return "slurm 19.05.5\n"
        if cmd[0] == "sinfo":
            return "debug* 1000\ndebug* 4000\ngpu 64000+\n"
        raise AssertionError(cmd)


def test_dryrun_reads_version_and_partition_memory_once() -> None:
    sched = _OldCluster("t")
    assert sched._cluster_facts() == ((19, 5), {"debug": 1000, "": 1000, "gpu": 64000})
    role = specs.Role("w", image="/tmp", entrypoint="true",
                      resource=specs.Resource(cpu=1, gpu=1, memMB=2000))
    default = sched.submit_dryrun(specs.AppDef("a", [role]), {}).request
    assert "--gpus-per-node=1" in default.replicas[0].sbatch
    assert not any(o.startswith("--mem") for o in default.replicas[0].sbatch)  # 1000 < 2000
    gpu = sched.submit_dryrun(specs.AppDef("a", [role]), {"partition": "gpu"}).request
    assert "--mem=2000M" in gpu.replicas[0].sbatch
