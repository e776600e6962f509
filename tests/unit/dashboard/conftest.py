"""A private TORCHX_HOME, a Runner over the real local_cwd plus two broken schedulers, and a
dashboard over them. The broken ones are stand-ins for a backend that is down (Slurm not running)
or hangs: the point is how the dashboard shows a failing scheduler, which a healthy real backend
cannot show."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from torchx.dashboard.api import Dashboard
from torchx.runner import Runner
from torchx.schedulers import get_scheduler_factory
from torchx.specs import AppDef, Role


class DownScheduler:
    """A scheduler whose backend is not running."""

    def __init__(self, session_name: str, **kwargs: Any) -> None:
        pass

    def list(self, cfg: object = None) -> list[object]:
        raise RuntimeError("slurmctld is not running: start it with scripts/backends/slurm.sh")

    def close(self) -> None:
        pass


class HangingScheduler(DownScheduler):
    """A scheduler whose backend never answers (until the test ends)."""

    release = threading.Event()

    def list(self, cfg: object = None) -> list[object]:
        self.release.wait(30)
        return []


def sh(name: str, script: str, n: int = 1) -> AppDef:
    return AppDef(name, [Role(name, image="", entrypoint="sh", args=["-c", script], num_replicas=n)])


def wait_state(runner: Runner, handle: str, states: set[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        st = runner.status(handle)
        state = st.state.name if st else "GONE"
        if state in states:
            return state
        time.sleep(0.05)
    raise AssertionError(f"{handle} stayed {state}, not {states}")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    h = str(tmp_path / "home")
    monkeypatch.setenv("TORCHX_HOME", h)
    monkeypatch.setenv("TORCHXCONFIG", str(tmp_path / "none.torchxconfig"))
    (tmp_path / "none.torchxconfig").write_text("")
    return h


@pytest.fixture
def runner(home: str) -> Iterator[Runner]:
    HangingScheduler.release.clear()
    r = Runner("torchx", {
        "local_cwd": get_scheduler_factory("local_cwd"), "down": DownScheduler,
        "hanging": HangingScheduler,
    })
    yield r
    HangingScheduler.release.set()
    if os.path.isdir(os.path.join(home, "apps")):
        for app in r.list("local_cwd"):
            r.cancel(app.app_handle)
    r.close()


@pytest.fixture
def dash(runner: Runner) -> Iterator[Dashboard]:
    d = Dashboard(runner, ["local_cwd", "down"], cache_ttl=0.0)
    yield d
    d.close()
