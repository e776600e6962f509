"""gridengine scheduler without a cluster: golden job scripts, directive quoting, the qstat/qacct
parsers and state table, and the script run under bash as Grid Engine would run one task.

The real-cluster tests are in tests/integration/gridengine/.
Set ``TORCHX_UPDATE_GOLDEN=1`` to rewrite ``tests/golden/gridengine/*.sh`` after an intended change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.goldens import check_golden
from torchx import specs
from torchx.schedulers import get_scheduler_factory
from torchx.schedulers.gridengine_scheduler import (
    GridEngineOpts,
    GridEngineScheduler,
    build_request,
    directive_value,
    job_name,
)
from torchx.schedulers.gridengine_status import (
    GRIDENGINE_STATES,
    Task,
    gridengine_state,
    parse_qacct,
    parse_qstat_xml,
    parse_reasons,
    to_describe,
)
from torchx.specs import AppState, macros

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "gridengine"


def _role(name: str = "trainer", n: int = 1, **kw: object) -> specs.Role:
    kw.setdefault("resource", specs.Resource(cpu=1, gpu=0, memMB=512))
    return specs.Role(name, image="/tmp", entrypoint="python", num_replicas=n, **kw)  # type: ignore[arg-type]


APPS: dict[str, tuple[specs.AppDef, dict[str, object]]] = {
    "single": (specs.AppDef("echo", [_role(args=["-c", "print('hi')"])]), {}),
    "ddp_2x1": (
        specs.AppDef("ddp", [_role(n=2, resource=specs.Resource(cpu=2, gpu=0, memMB=1024), args=[
            "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
            "--rdzv_backend", "c10d", "--rdzv_endpoint", f"$${{{macros.rank0_env}}}:29500",
            "--rdzv_id", macros.app_id, "--node_rank", macros.replica_id, "train.py",
        ])]),
        {"queue": "all.q", "job_dir": "/shared/jobs"},
    ),
    "two_roles_all_opts": (
        specs.AppDef("1 mixed/app", [
            _role("ps", env={"MODE": "server", "JOB": f"job-{macros.app_id}"}, max_retries=2),
            _role("worker", n=2, resource=specs.Resource(cpu=4, gpu=2, memMB=64000),
                  args=["it's a \"test\"", "$HOME", "`id`", "a;b", "x\n#$ -q evil", ":"]),
        ]),
        {"queue": "gpu.q", "pe": "mpi", "project": "proj", "job_dir": "/shared/my jobs",
         "mem_resource": "h_vmem", "gpu_resource": "gpus"},
    ),
}


@pytest.mark.parametrize("name", sorted(APPS))
def test_golden_script(name: str) -> None:
    app, cfg = APPS[name]
    got = repr(build_request(app, GridEngineOpts.from_cfg(cfg)))  # type: ignore[arg-type]
    path = GOLDEN / f"{name}.sh"
    check_golden(path, got)


def test_golden_scripts_are_valid_bash_without_injected_directives() -> None:
    paths = sorted(GOLDEN.glob("*.sh"))
    assert len(paths) == len(APPS)
    for path in paths:
        subprocess.run(["bash", "-n", str(path)], check=True)
        # qsub reads `#$` lines anywhere in the script: only torchx's own directives may be there
        directives = [ln for ln in path.read_text().splitlines() if ln.startswith("#$")]
        assert not any("evil" in d for d in directives), directives


def test_directive_values() -> None:
    assert directive_value("q", "all.q") == "all.q"
    assert directive_value("d", "/a b") == '"/a b"'
    assert directive_value("d", "it's") == '"it\'s"'
    with pytest.raises(specs.InvalidRunConfigException, match="cannot read"):
        directive_value("d", 'say "hi"')
    with pytest.raises(specs.InvalidRunConfigException, match="newline"):
        directive_value("d", "a\nb")
    assert job_name("1 mixed/app") == "t1_mixed_app" and job_name("") == "torchx"


def test_options_registered_and_typos_named() -> None:
    sched = get_scheduler_factory("gridengine")("s")
    assert sched.backend == "gridengine"
    assert {k for k, _ in sched.run_opts()} == {"queue", "pe", "project", "job_dir",
                                                "mem_resource", "gpu_resource"}
    with pytest.raises(specs.InvalidRunConfigException, match="Did you mean `queue`"):
        sched.submit_dryrun(APPS["single"][0], {"queu": "x"})


def test_dryrun_has_no_side_effects(tmp_path: Path) -> None:
    sched = GridEngineScheduler("t")
    info = sched.submit_dryrun(APPS["single"][0], {"job_dir": str(tmp_path / "jd")})
    assert repr(info).startswith("qsub -terse <<'TORCHX_EOF'\n#!/bin/bash\n#$ -S /bin/bash\n")
    assert sched.calls == 0 and not (tmp_path / "jd").exists()


def test_resources_take_the_largest_role_and_say_so() -> None:
    req = build_request(APPS["two_roles_all_opts"][0], GridEngineOpts())
    assert "-pe smp 4" in req.directives and "-l mem_free=64000M" in req.directives
    assert "-l gpu=2" in req.directives and "-t 1-3" in req.directives
    assert any("largest role" in n for n in req.notes)
    single = build_request(APPS["single"][0], GridEngineOpts())
    assert not any(d.startswith("-pe") for d in single.directives) and not single.notes


# --------------------------------------------------------------------------- parsers

QSTAT = """<?xml version='1.0'?>
<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
    <job_list state="running">
      <JB_job_number>7</JB_job_number><JB_name>ddp</JB_name><JB_owner>root</JB_owner>
      <state>r</state><JAT_start_time>2026-11-30T08:28:49</JAT_start_time>
      <queue_name>all.q@vm</queue_name><slots>2</slots><tasks>1</tasks>
    </job_list>
  </queue_info>
  <job_info>
    <job_list state="pending">
      <JB_job_number>7</JB_job_number><JB_name>ddp</JB_name><JB_owner>root</JB_owner>
      <state>qw</state><JB_submission_time>2026-11-30T08:28:40</JB_submission_time>
      <queue_name></queue_name><slots>2</slots><tasks>2-3:1</tasks>
    </job_list>
    <job_list state="pending">
      <JB_job_number>8</JB_job_number><JB_name>x</JB_name><JB_owner>me</JB_owner>
      <state>Eqw</state><JB_submission_time>2026-11-30T08:28:40</JB_submission_time>
      <queue_name></queue_name><slots>1</slots>
    </job_list>
  </job_info>
</job_info>"""

QACCT = """==============================================================
qname        all.q
hostname     vm
owner        root
jobname      ddp
jobnumber    9
taskid       1
qsub_time    Mon Nov 30 08:28:32 2026
failed       0
exit_status  0
==============================================================
qname        all.q
hostname     vm
jobname      ddp
jobnumber    9
taskid       2
failed       100 : assumedly after job
exit_status  137                  (Killed)
"""

REASONS = """==============================================================
job_number:                 8
scheduling info:            (-l mem_free=900G) cannot run at host "vm" because it offers only hl:mem_free=21.667G
                            queue instance "all.q@vm" dropped because it is full
==============================================================
job_number:                 10
error reason    1:          11/30/2026 08:30:00 [0:123]: error: can't chdir to /nope: No such file
"""


def test_qstat_xml_one_task_per_replica() -> None:
    tasks = parse_qstat_xml(QSTAT)
    assert [(t.job_id, t.task_id, t.state, t.host) for t in tasks] == [
        ("7", 1, "r", "vm"), ("7", 2, "qw", ""), ("7", 3, "qw", ""), ("8", 1, "Eqw", "")]
    d = to_describe("7", {t.task_id: t for t in tasks if t.job_id == "7"}, [("ps", 1), ("w", 2)])
    assert d.state == AppState.RUNNING
    assert [(r.role, [(x.id, x.state, x.hostname) for x in r.replicas]) for r in d.roles_statuses] \
        == [("ps", [(0, AppState.RUNNING, "vm")]),
            ("w", [(0, AppState.PENDING, ""), (1, AppState.PENDING, "")])]
    err = to_describe("8", {1: tasks[3]}, None)
    assert err.state == AppState.PENDING and "qmod -cj 8" in err.msg
    assert err.roles_statuses[0].role == "x"  # no layout: one role named after the job
    assert parse_qstat_xml("") == []


def test_qacct_exit_codes_and_cancel() -> None:
    tasks = {t.task_id: t for t in parse_qacct(QACCT)}
    assert (tasks[1].exit_code, tasks[2].exit_code) == (0, 137)
    d = to_describe("9", tasks, [("main", 2)])
    assert d.state == AppState.FAILED and "main[1] exit code 137" in d.msg
    assert "assumedly after job" in d.msg
    assert to_describe("9", tasks, [("main", 2)], cancelled=True).state == AppState.CANCELLED


def test_a_rescheduled_run_is_not_the_end() -> None:
    requeued = ("=" * 62 + "\nhostname     vm\njobname      ddp\njobnumber    9\ntaskid       1\n"
                "failed       25  : rescheduling\nexit_status  99\n")
    only = parse_qacct(requeued)
    assert only == []  # the retry is queued or running: not finished
    tasks = {t.task_id: t for t in parse_qacct(requeued + QACCT)}
    assert tasks[1].exit_code == 0 and tasks[1].restarts == 1
    assert to_describe("9", tasks, [("main", 2)]).num_restarts == 1


def test_accounting_lag_is_not_reported_as_lost() -> None:
    d = to_describe("9", {}, [("main", 2)], awaiting_accounting=True)
    assert d.state == AppState.RUNNING and "waiting for Grid Engine accounting" in d.msg
    assert to_describe("9", {}, [("main", 2)], cancelled=True).state == AppState.CANCELLED


def test_pending_reasons() -> None:
    r = parse_reasons(REASONS)
    assert r["8"].startswith("(-l mem_free=900G) cannot run") and "all.q@vm" in r["8"]
    assert "can't chdir" in r["10"]
    d = to_describe("8", {1: Task("8", 1, state="qw")}, [("m", 1)], reason=r["8"])
    assert d.state == AppState.PENDING and "mem_free=900G" in d.msg


def test_every_state_mapped() -> None:
    for s, want in GRIDENGINE_STATES.items():
        assert gridengine_state(s) == want
    assert gridengine_state("hRr") == AppState.RUNNING and gridengine_state("hsqw") == AppState.PENDING
    assert gridengine_state("") == AppState.UNKNOWN and gridengine_state("zz") == AppState.UNKNOWN


# --------------------------------------------------------------------------- the script under bash

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=40)


def _run_task(script: str, cwd: Path, task: int, job: str = "42") -> None:
    env = {**os.environ, "JOB_ID": job, "SGE_TASK_ID": str(task)}
    subprocess.run(["bash", "-c", script], cwd=cwd, env=env, check=True, timeout=60)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(_text | st.sampled_from(["$HOME", "`id`", "$(touch pwned)", "a;b", "'\"",
                                              "x\ny", "$$", "${app_id}", "#$ -q evil", "\\"]),
                     max_size=6),
       env_val=_text, name=_text)
def test_any_string_reaches_the_process_unchanged(
    tmp_path_factory: pytest.TempPathFactory, args: list[str], env_val: str, name: str
) -> None:
    """What a task runs, under bash as Grid Engine runs it: argv and env exactly as given, no
    `#$` line but torchx's own, nothing executed from a user string."""
    out = tmp_path_factory.mktemp("rt")
    dump = ("import json,os,sys; json.dump({'argv': sys.argv[2:], 'env': os.environ['V']},"
            " open(sys.argv[1], 'w'))")
    role = specs.Role(name or "r", image="/tmp", entrypoint=sys.executable,
                      args=["-c", dump, str(out / "got.json"), *[a.replace("$", "$$") for a in args]],
                      env={"V": env_val.replace("$", "$$")})
    req = build_request(specs.AppDef(name, [role]), GridEngineOpts())
    script = req.materialize()
    assert [ln for ln in script.splitlines() if ln.startswith("#$")] == [
        f"#$ {d}" for d in req.directives]
    _run_task(script, out, 1)
    assert json.loads((out / "got.json").read_text()) == {"argv": args, "env": env_val}
    assert not (out / "pwned").exists()


def test_macros_and_rank0_host(tmp_path: Path) -> None:
    dump = ("import json,os,sys; json.dump([sys.argv[2:], os.environ[os.environ['H']]],"
            " open(sys.argv[1] + os.environ['SGE_TASK_ID'], 'w'))")
    role = specs.Role("r", image="/tmp", entrypoint=sys.executable, num_replicas=2,
                      args=["-c", dump, str(tmp_path / "got"), macros.app_id,
                            f"id-{macros.app_id}-{macros.replica_id}"],
                      env={"H": macros.rank0_env})
    script = build_request(specs.AppDef("m", [role]), GridEngineOpts()).materialize()
    _run_task(script, tmp_path, 1)
    _run_task(script, tmp_path, 2)  # finds task 1's host in the job directory
    host = subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()
    assert json.loads((tmp_path / "got1").read_text()) == [["42", "id-42-0"], host]
    assert json.loads((tmp_path / "got2").read_text()) == [["42", "id-42-1"], host]


def test_retries_exit_99_until_the_budget_is_spent(tmp_path: Path) -> None:
    role = specs.Role("r", image="/tmp", entrypoint="false", max_retries=2)
    script = build_request(specs.AppDef("m", [role]), GridEngineOpts()).materialize()
    codes = [subprocess.run(["bash", "-c", script], cwd=tmp_path, timeout=60,
                            env={**os.environ, "JOB_ID": "5", "SGE_TASK_ID": "1"}).returncode
             for _ in range(3)]
    assert codes == [99, 99, 1]  # 99: Grid Engine requeues the task
