"""Per-replica exit codes and restarts (what the job page shows) as the schedulers fill them."""

from __future__ import annotations

from tests.unit.dashboard.conftest import sh, wait_state
from torchx.runner import Runner
from torchx.schedulers.slurm_status import Component, to_describe
from torchx.specs import AppState, ReplicaStatus


def test_replica_status_defaults_keep_upstream_positional_form() -> None:
    r = ReplicaStatus(0, AppState.RUNNING, "trainer", "host0")
    assert r.exit_code is None and r.num_restarts == 0


def test_slurm_replicas_carry_their_step_exit_code_and_restarts() -> None:
    d = to_describe("42", [
        Component("42", 0, "trainer-0", "FAILED", host="n1", exit_code=2, step_exit=2, restarts=1),
        Component("42", 1, "trainer-1", "FAILED", host="n2", exit_code=2, step_exit=0, restarts=1),
    ])
    reps = d.roles_statuses[0].replicas
    assert [(r.exit_code, r.num_restarts, r.hostname) for r in reps] == [(2, 1, "n1"), (0, 1, "n2")]
    running = to_describe("43", [Component("43", 0, "w-0", "RUNNING", host="n1")])
    assert running.roles_statuses[0].replicas[0].exit_code is None


def test_local_replicas_carry_exit_code_and_restarts(runner: Runner) -> None:
    app = sh("retry", "exit 4")
    app.roles[0].max_retries = 1
    h = runner.run(app)
    wait_state(runner, h, {"FAILED"})
    st = runner.status(h)
    assert st is not None
    rep = st.roles[0].replicas[0]
    assert rep.exit_code == 4 and rep.num_restarts == 1
    listed = {a.app_handle: a for a in runner.list("local_cwd")}
    assert [(r.name, r.num_replicas) for r in listed[h].roles] == [("retry", 1)]
