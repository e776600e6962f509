"""Fixtures for tests on the real one-host Grid Engine cluster that
``scripts/backends/gridengine.sh`` starts (backend name for ``require``: ``gridengine``).

Every job a test submits is qdel'ed at teardown; job records go to a temporary ``TORCHX_HOME``.
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
from torchx.schedulers.gridengine_scheduler import GridEngineScheduler


def _cluster_up() -> tuple[bool, str]:
    if shutil.which("qsub") is None:
        return False, "qsub is not on PATH (start it with `scripts/backends/gridengine.sh start`)"
    try:
        out = subprocess.run(["qstat", "-f"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return False, "qstat timed out: is sge_qmaster running?"
    if out.returncode != 0:
        return False, f"qstat failed: {out.stderr.strip()}"
    if "all.q@" not in out.stdout:
        return False, "queue all.q has no instance (sge_execd down?)"
    return True, ""


@pytest.fixture(scope="session")
def ge_cluster() -> None:
    ok, why = _cluster_up()
    require("gridengine", ok, why)


class TrackingScheduler(GridEngineScheduler):
    """Remembers what it submitted so teardown can qdel it."""

    def __init__(self) -> None:
        super().__init__("it")
        self.submitted: list[str] = []

    def schedule(self, dryrun_info: specs.AppDryRunInfo[object]) -> str:  # type: ignore[override]
        app_id = super().schedule(dryrun_info)  # type: ignore[arg-type]
        self.submitted.append(app_id)
        return app_id

    def run_app(self, app: specs.AppDef, **cfg: object) -> str:
        return self.schedule(self.submit_dryrun(app, cfg))  # type: ignore[arg-type]

    def wait(self, app_id: str, timeout: float = 180, until: set[specs.AppState] | None = None
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
def sched(ge_cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[TrackingScheduler]:
    # jobs get the submit environment (-V): make `python` this venv's interpreter
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    monkeypatch.setenv("TORCHX_HOME", str(tmp_path / "torchx_home"))
    monkeypatch.chdir(tmp_path)
    s = TrackingScheduler()
    yield s
    if s.submitted:
        subprocess.run(["qdel", *s.submitted], capture_output=True)


def role(name: str = "main", cmd: str = "echo hello", n: int = 1, cpu: int = 1, **kw: object
         ) -> specs.Role:
    """A bash role running ``cmd`` with a small resource."""
    return specs.Role(name, image="/tmp", entrypoint="bash", args=["-c", cmd], num_replicas=n,
                      resource=specs.Resource(cpu=cpu, gpu=0, memMB=64), **kw)  # type: ignore[arg-type]
