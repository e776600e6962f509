"""The shared scheduler contract on the real one-host Grid Engine cluster."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.backends import require
from tests.contract import SchedulerContract
from tests.integration.gridengine.conftest import _cluster_up


class TestGridengineContract(SchedulerContract):
    backend = "gridengine"
    unknown_app_id = "999999"
    cannot = {
        "log_since_until": "Grid Engine's -o/-e files carry no timestamps",
        "delete_forgets": "Grid Engine keeps finished jobs in its accounting (qacct); delete"
                          " cancels (qdel)",
    }

    def require_backend(self) -> None:
        require("gridengine", *_cluster_up())

    def prepare(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TORCHX_HOME", str(tmp_path / "torchx_home"))
        monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        monkeypatch.chdir(tmp_path)  # the shared directory the -o/-e files go to
