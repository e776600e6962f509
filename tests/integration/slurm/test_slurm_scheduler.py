"""The slurm scheduler against the real localhost cluster (scripts/backends/slurm.sh): the
scheduler contract, then what is Slurm's own (heterogeneous jobs, pending reasons, requeue, job
directories, jobcomp/sacct after squeue forgets a job)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.contract import SchedulerContract
from tests.integration.slurm.conftest import accounting_enabled, cluster_up, role
from torchx import specs
from torchx.schedulers.api import Scheduler, Stream
from torchx.schedulers.slurm_scheduler import SlurmCommandError, SlurmScheduler
from torchx.specs import AppState, TorchXError, macros


class TestSlurmContract(SchedulerContract):
    backend = "slurm"
    session_name = "it"
    unknown_app_id = "987654321"
    resource = specs.Resource(cpu=1, gpu=0, memMB=256)
    timeout = 150.0
    poll = 0.3
    cannot = {
        "log_since_until": "Slurm's log files carry no timestamps: since/until are ignored",
        "delete_forgets": "Slurm keeps a job in squeue (MinJobAge) and sacct after it ends;"
                          " delete cancels it and leaves its log files",
    }

    def require_backend(self) -> None:
        from tests.backends import require

        require("slurm", *cluster_up())

    def prepare(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # jobs inherit the submit environment: `python` is this venv's; logs land in tmp_path
        monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        monkeypatch.chdir(tmp_path)

    def make_scheduler(self, session_name: str) -> Scheduler[Any]:
        return SlurmScheduler(session_name)

    def cleanup(self, sched: Scheduler[Any], app_ids: list[str]) -> None:
        if app_ids:  # one scancel for all (delete would only cancel too)
            subprocess.run(["scancel", *app_ids], capture_output=True, timeout=60)

    # ---- Slurm's own

    def test_job_succeeds_and_logs_read_back(self, sched: SlurmScheduler, tmp_path: Path) -> None:
        app = specs.AppDef("ok", [role(cmd="echo out-$1; echo err >&2", n=2)])
        app.roles[0].args += ["x", macros.replica_id]
        app_id = self.submit(sched, app)
        d = self.wait(sched, app_id)
        assert d.state == AppState.SUCCEEDED, d.msg
        reps = d.roles_statuses[0].replicas
        assert [r.id for r in reps] == [0, 1] and all(r.state == AppState.SUCCEEDED for r in reps)
        assert len({r.hostname for r in reps}) == 2  # one node per replica
        assert list(sched.log_iter(app_id, "main", 1, streams=Stream.STDOUT)) == ["out-1\n"]
        assert list(sched.log_iter(app_id, "main", 0, streams=Stream.STDERR)) == ["err\n"]
        assert sorted(sched.log_iter(app_id, "main", 0)) == ["err\n", "out-0\n"]
        assert list(sched.log_iter(app_id, "main", 0, regex="^out")) == ["out-0\n"]
        assert (tmp_path / f"slurm-{app_id}-main-1.out").exists()  # in the submit directory


    def test_role_name_with_space_and_percent(self, sched: SlurmScheduler) -> None:
        """srun expands `%j` etc. in --output: the role name must reach the log file name as is."""
        app_id = self.submit(sched, specs.AppDef("names", [role("my %j role", cmd="echo named")]))
        d = self.wait(sched, app_id)
        assert d.state == AppState.SUCCEEDED and d.roles_statuses[0].role == "my %j role", d
        assert list(sched.log_iter(app_id, "my %j role", 0)) == ["named\n"]
        assert list(sched.log_iter(app_id, "my %j role", 0, streams=Stream.STDERR)) == []
        Path(f"slurm-{app_id}-my %j role-0.err").unlink()  # cwd is the submit dir
        with pytest.raises(TorchXError, match="for replica 0: it ended without one"):
            list(sched.log_iter(app_id, "my %j role", 0, streams=Stream.STDERR))


    def test_failing_job_reports_exit_code(self, sched: SlurmScheduler) -> None:
        app = specs.AppDef("bad", [role("ps", cmd="sleep 1"), role("worker", cmd="exit 3")])
        app_id = self.submit(sched, app)
        d = self.wait(sched, app_id)
        assert d.state == AppState.FAILED
        assert "exit code 3" in d.msg and "worker[0] exit code 3" in d.msg, d.msg
        worker = next(r for r in d.roles_statuses if r.role == "worker")
        assert worker.replicas[0].state == AppState.FAILED


    def test_tail_logs_while_running(self, sched: SlurmScheduler) -> None:
        # ~4 s, so the first line is read while the job still runs even on a loaded machine
        cmd = "for i in 1 2 3 4; do echo line $i; echo noise >&2; sleep 1; done"
        app_id = self.submit(sched, specs.AppDef("tail", [role(cmd=cmd)]))
        self.wait(sched, app_id, {AppState.RUNNING})
        seen = []
        for line in sched.log_iter(app_id, "main", 0, regex="line", should_tail=True):
            seen.append((line, sched.describe(app_id).state))  # type: ignore[union-attr]
        assert [s[0] for s in seen] == [f"line {i}\n" for i in (1, 2, 3, 4)]
        assert seen[0][1] == AppState.RUNNING  # the first line arrived while the job ran
        assert sched.describe(app_id).state == AppState.SUCCEEDED  # type: ignore[union-attr]


    def test_pending_job_says_why(self, sched: SlurmScheduler) -> None:
        # partition `tiny` is node n1 (2 CPUs): the first job fills it, the second must wait
        blocker = self.submit(sched, specs.AppDef("blocker", [role(cmd="sleep 120", cpu=2)]), {"partition": "tiny"})
        self.wait(sched, blocker, {AppState.RUNNING})
        waiting = self.submit(sched, specs.AppDef("waiter", [role(cmd="true", cpu=2)]), {"partition": "tiny"})
        deadline = time.monotonic() + 30
        while True:
            d = sched.describe(waiting)
            assert d is not None and d.state == AppState.PENDING
            if d.msg != "PENDING":  # the reason is set at the first scheduling pass
                break
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert d.msg in ("PENDING: Resources", "PENDING: Priority"), d.msg
        log_error = pytest.raises(Exception, match="has not started.*PENDING: ")
        with log_error:
            list(sched.log_iter(waiting, "main", 0))


    def test_list_and_batched_describe(self, sched: SlurmScheduler) -> None:
        ids = [self.submit(sched, specs.AppDef(f"l{i}", [role(cmd="true")])) for i in range(3)]
        listed = {a.app_id: a for a in sched.list()}
        assert set(ids) <= set(listed)
        assert listed[ids[0]].app_handle == f"slurm://it/{ids[0]}" and listed[ids[0]].name == "main"
        sched.calls = 0
        got = sched.describe_many([*ids, "999999"])
        assert got["999999"] is None and all(got[i] is not None for i in ids)
        assert sched.calls <= 3  # squeue, and for the unknown id one config + one sacct call


    def test_requeue_retries(self, sched: SlurmScheduler) -> None:
        app = specs.AppDef("retry", [role(cmd='echo "attempt ${SLURM_RESTART_COUNT:-0}"; exit 4',
                                          max_retries=1)])
        app_id = self.submit(sched, app)
        d = self.wait(sched, app_id, timeout=150)
        assert d.state == AppState.FAILED and d.num_restarts == 1, d
        assert list(sched.log_iter(app_id, "main", 0, streams=Stream.STDOUT)) == [
            "attempt 0\n", "attempt 1\n"]


    def test_two_roles_with_rank0_host_and_env(self, sched: SlurmScheduler) -> None:
        ps = role("ps", cmd="echo ps $SLURMD_NODENAME", env={"GREETING": "hi there"})
        worker = role("worker", n=2, cmd='echo "$GREETING" "$1" "${!2}" "$3"',
                      env={"GREETING": "hello $world"})
        worker.args += ["x", f"id-{macros.app_id}", macros.rank0_env, macros.replica_id]
        app_id = self.submit(sched, specs.AppDef("pair", [ps, worker]))
        d = self.wait(sched, app_id)
        assert d.state == AppState.SUCCEEDED, d.msg
        ps_host = d.roles_statuses[0].replicas[0].hostname
        for k in (0, 1):
            out = list(sched.log_iter(app_id, "worker", k, streams=Stream.STDOUT))
            assert out == [f"hello $world id-{app_id} {ps_host} {k}\n"]
        assert list(sched.log_iter(app_id, "ps", 0)) == [f"ps {ps_host}\n"]


    ODD: ClassVar[list[str]] = ["a b", "it's", 'say "hi"', "$HOME", "`id`", "a;b", "x\ny", ":", "*", "\\", "", "é ✓"]


    def test_awkward_arguments_through_real_sbatch(self, sched: SlurmScheduler, tmp_path: Path) -> None:
        dump = "import json,sys; json.dump(sys.argv[2:], open(sys.argv[1], 'w'))"
        out = tmp_path / "argv.json"
        r = specs.Role("py", image="/tmp", entrypoint=sys.executable,
                       args=["-c", dump, str(out), *[a.replace("$", "$$") for a in self.ODD]],
                       resource=specs.Resource(cpu=1, gpu=0, memMB=256))
        comment = "odd args; $HOME `x` 'q' \"dq\" a\\b #1 \\"
        app_id = self.submit(sched, specs.AppDef("odd", [r]), {"comment": comment})
        assert self.wait(sched, app_id).state == AppState.SUCCEEDED
        assert json.loads(out.read_text()) == self.ODD
        # #SBATCH option values are not shell-expanded either: the comment arrives as given
        shown = subprocess.run(["squeue", "-h", "-t", "all", "-j", app_id, "-o", "%k"], capture_output=True,
                               text=True, check=True).stdout
        assert shown.splitlines()[0] == comment


    def test_job_dir_and_workspace(self, sched: SlurmScheduler, tmp_path: Path) -> None:
        ws = tmp_path / "proj"
        (ws / "secret").mkdir(parents=True)
        (ws / "run.sh").write_text("echo from-workspace; ls\n")
        (ws / "secret" / "key").write_text("x")
        (ws / ".torchxignore").write_text("secret\n")
        r = role(cmd="bash run.sh")
        r.workspace = specs.Workspace({str(ws): ""})
        job_dir = tmp_path / "jobs" / "one"
        app_id = self.submit(sched, specs.AppDef("ws", [r]), {"job_dir": str(job_dir)})
        assert self.wait(sched, app_id).state == AppState.SUCCEEDED
        out = list(sched.log_iter(app_id, "main", 0, streams=Stream.STDOUT))
        assert out[0] == "from-workspace\n" and "secret\n" not in out and "run.sh\n" in out
        assert (job_dir / f"slurm-{app_id}-main-0.out").exists()


    def test_clear_errors(self, sched: SlurmScheduler) -> None:
        assert sched.describe("987654321") is None
        with pytest.raises(specs.UnknownAppException):
            list(sched.log_iter("987654321", "main"))
        done = self.submit(sched, specs.AppDef("one", [role()]))
        self.wait(sched, done)
        with pytest.raises(TorchXError, match="no replica 0 of role `mian`.*'main': 1"):
            list(sched.log_iter(done, "mian", should_tail=True))
        with pytest.raises(TorchXError, match="no replica 1 of role `main`"):
            list(sched.log_iter(done, "main", 1))
        with pytest.raises(SlurmCommandError, match="sbatch rejected the job: .*(partition|Partition)"):
            self.submit(sched, specs.AppDef("nope", [role()]), {"partition": "no_such_partition"})
        with pytest.raises(SlurmCommandError, match="sbatch rejected the job: .*Invalid --time"):
            self.submit(sched, specs.AppDef("when", [role()]), {"time": "soon"})
        # a request no node can satisfy is accepted by sbatch but waits: the reason says why
        huge = self.submit(sched, specs.AppDef("huge", [role(cpu=64)]))
        deadline = time.monotonic() + 30
        while (d := sched.describe(huge)) is not None and d.msg == "PENDING":
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert d is not None and d.msg == "PENDING: PartitionConfig"


    def test_finished_job_after_squeue_forgets_it(self, sched: SlurmScheduler) -> None:
        """Once slurmctld purges a job, status comes from sacct or, without accounting, jobcomp."""
        app_id = self.submit(sched, specs.AppDef("gone", [role(cmd="exit 5")]))
        assert self.wait(sched, app_id).state == AppState.FAILED
        # simulate the purge: answer squeue with no jobs, keep the other sources real
        real_run = sched._run
        used: list[str] = []

        def no_squeue(cmd: list[str], input: str | None = None) -> str:
            used.append(cmd[0])
            if cmd[0] == "squeue":
                return '{"jobs": []}'
            return real_run(cmd, input)

        sched._run = no_squeue  # type: ignore[method-assign]
        deadline = time.monotonic() + 30
        while True:  # slurmdbd receives the record asynchronously
            d = sched.describe(app_id)
            if d is not None and d.state == AppState.FAILED:
                break
            assert time.monotonic() < deadline, f"{d} (accounting={accounting_enabled()})"
            time.sleep(0.5)
        assert "exit code 5" in d.msg
        # with slurmdbd the record comes from sacct; without, from the jobcomp log (no sacct call)
        assert ("sacct" in used) == accounting_enabled(), used
        # list: today's jobs come from sacct where accounting is on (its time-window query lags the
        # per-job one by a moment); squeue alone otherwise
        listed = False
        while not listed and time.monotonic() < deadline + 30:
            listed = app_id in {a.app_id for a in sched.list()}
            if not accounting_enabled():
                break
            time.sleep(0.5)
        assert listed == accounting_enabled()
        assert d.roles_statuses[0].replicas[0].hostname.startswith("n")

