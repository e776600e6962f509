"""Fixtures for tests on the real Slurm cluster that ``scripts/backends/slurm.sh`` starts.

Every job a test submits is cancelled at teardown; jobs ask for at most 2 CPUs per replica.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import require
from torchx import specs
from torchx.schedulers.api import DescribeAppResponse
from torchx.schedulers.slurm_scheduler import SlurmScheduler


def _cluster_up() -> tuple[bool, str]:
    if shutil.which("sbatch") is None:
        return False, "sbatch is not on PATH (start it with `scripts/backends/slurm.sh start`)"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%D %t"], capture_output=True, text=True,
                             timeout=20)
    except subprocess.TimeoutExpired:
        return False, "sinfo timed out: is slurmctld running?"
    if out.returncode != 0:
        return False, f"sinfo failed: {out.stderr.strip()}"
    return True, ""


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    ok, why = _cluster_up()
    require("slurm", ok, why)


def accounting_enabled() -> bool:
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True)
    return "accounting_storage/slurmdbd" in out.stdout


class TrackingScheduler(SlurmScheduler):
    """Remembers what it submitted so teardown can scancel it."""

    def __init__(self) -> None:
        super().__init__("it")
        self.submitted: list[str] = []

    def schedule(self, dryrun_info: specs.AppDryRunInfo[object]) -> str:  # type: ignore[override]
        app_id = super().schedule(dryrun_info)  # type: ignore[arg-type]
        self.submitted.append(app_id)
        return app_id

    def run_app(self, app: specs.AppDef, **cfg: object) -> str:
        return self.schedule(self.submit_dryrun(app, cfg))  # type: ignore[arg-type]

    def wait(self, app_id: str, timeout: float = 120, until: set[specs.AppState] | None = None
             ) -> DescribeAppResponse:
        """Poll until terminal (or one of ``until``); fails the test after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            d = self.describe(app_id)
            assert d is not None, f"job {app_id} vanished"
            if d.state.is_terminal() or (until and d.state in until):
                return d
            assert time.monotonic() < deadline, f"job {app_id} still {d.state}: {d.msg}"
            time.sleep(0.3)


@pytest.fixture
def sched(slurm_cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[TrackingScheduler]:
    # jobs inherit the submit environment: make `python` this venv's interpreter
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    s = TrackingScheduler()
    yield s
    if s.submitted:
        subprocess.run(["scancel", *s.submitted], capture_output=True)


def role(name: str = "main", cmd: str = "echo hello", n: int = 1, cpu: int = 1, **kw: object
         ) -> specs.Role:
    """A bash role running ``cmd`` with a small resource."""
    return specs.Role(name, image="/tmp", entrypoint="bash", args=["-c", cmd], num_replicas=n,
                      resource=specs.Resource(cpu=cpu, gpu=0, memMB=256), **kw)  # type: ignore[arg-type]
