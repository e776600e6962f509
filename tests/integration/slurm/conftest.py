"""Fixtures for tests on the real Slurm cluster that ``scripts/backends/slurm.sh`` starts.

The scheduler tests get their scheduler, waits and cleanup from the contract suite
(``tests/contract``); jobs ask for at most 2 CPUs per replica.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends import require
from torchx import specs


def cluster_up() -> tuple[bool, str]:
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
    ok, why = cluster_up()
    require("slurm", ok, why)


def accounting_enabled() -> bool:
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True)
    return "accounting_storage/slurmdbd" in out.stdout


@pytest.fixture
def slurm_env(slurm_cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Submit from ``tmp_path`` with this venv's ``python`` first on PATH (jobs inherit it)."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def role(name: str = "main", cmd: str = "echo hello", n: int = 1, cpu: int = 1, **kw: object
         ) -> specs.Role:
    """A bash role running ``cmd`` with a small resource."""
    return specs.Role(name, image="/tmp", entrypoint="bash", args=["-c", cmd], num_replicas=n,
                      resource=specs.Resource(cpu=cpu, gpu=0, memMB=256), **kw)  # type: ignore[arg-type]
