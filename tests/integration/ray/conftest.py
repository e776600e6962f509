"""Fixtures for tests on the real Ray cluster that ``scripts/backends/ray.sh start`` runs.

The cluster's dashboard address comes from ``$TORCHX_TEST_RAY_ADDRESS`` or the env file the
script writes (``/tmp/torchx-ray/env``, or ``$TORCHX_RAY_STATE/env``). Every job a test submits
carries this run's session name; at teardown the ones still running are stopped and all of them
are deleted from the job server. Replicas ask for 1 CPU each (the cluster has 2).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import require
from torchx import specs
from torchx.schedulers.api import DescribeAppResponse
from torchx.schedulers.ray_scheduler import RayScheduler

SESSION = f"itest{os.getpid()}"
START = "run `scripts/backends/ray.sh start`"


def ray_address() -> tuple[str | None, str]:
    """(dashboard URL, why not) of the test cluster."""
    addr = os.environ.get("TORCHX_TEST_RAY_ADDRESS")
    if not addr:
        env = Path(os.environ.get("TORCHX_RAY_STATE", "/tmp/torchx-ray")) / "env"
        try:
            lines = env.read_text().splitlines()
        except OSError:
            return None, f"no Ray cluster recorded in {env}: {START}"
        addr = next((ln.split("=", 1)[1] for ln in lines if ln.startswith("RAY_ADDRESS=")), "")
    url = addr if "://" in addr else f"http://{addr}"
    try:
        with urllib.request.urlopen(url + "/api/version", timeout=10) as r:
            json.load(r)
    except OSError as e:
        return None, f"the Ray dashboard at {url} does not answer ({e}): {START}"
    return url, ""


@pytest.fixture(scope="session")
def address() -> str:
    url, why = ray_address()
    require("ray", url is not None, why)
    assert url is not None
    return url


class TrackingScheduler(RayScheduler):
    """A ray scheduler bound to the test cluster that remembers what it submitted."""

    def __init__(self, address: str) -> None:
        super().__init__(SESSION)
        self.address = address
        self.submitted: list[str] = []

    def run_app(self, app: specs.AppDef, **cfg: Any) -> str:
        info = self.submit_dryrun(app, {"dashboard_address": self.address, **cfg})
        app_id = self.schedule(info)
        self.submitted.append(app_id)
        return app_id

    def wait(self, app_id: str, timeout: float = 180,
             until: set[specs.AppState] | None = None) -> DescribeAppResponse:
        """Poll until terminal (or one of ``until``); fails the test after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            d = self.describe(app_id)
            assert d is not None, f"job {app_id} vanished"
            if d.state.is_terminal() or (until and d.state in until):
                return d
            assert time.monotonic() < deadline, f"job {app_id} still {d.state}: {d.msg}"
            time.sleep(0.3)

    def wait_log(self, app_id: str, role: str, k: int, text: str, timeout: float = 180) -> None:
        """Wait until replica ``role/k`` has logged ``text``."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.log_iter(app_id, role, k)):
            assert time.monotonic() < deadline, f"{role}/{k} of {app_id} never logged {text!r}"
            time.sleep(0.3)


@pytest.fixture(scope="session")
def _cleanup(address: str) -> Iterator[list[str]]:
    submitted: list[str] = []
    yield submitted
    s = RayScheduler(SESSION)

    def delete(app_id: str) -> None:
        try:
            s.delete(app_id)
        except Exception:  # best effort: one stuck job must not hide the test results
            pass

    # a delete waits ~3 s for Ray's job monitor: all at once, not one after another
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(delete, submitted))


@pytest.fixture
def sched(address: str, _cleanup: list[str]) -> Iterator[TrackingScheduler]:
    s = TrackingScheduler(address)
    yield s
    for app_id in s.submitted:
        s.cancel(app_id)
    _cleanup.extend(s.submitted)


def app(script: str, tmp_dir: Path | str, name: str = "t", num_replicas: int = 1,
        **role_kw: Any) -> specs.AppDef:
    """One role `r` running ``bash -c script`` in a copy of ``tmp_dir``."""
    return specs.AppDef(name, roles=[specs.Role(
        "r", image=str(tmp_dir), entrypoint="bash", args=["-c", script],
        num_replicas=num_replicas, resource=specs.Resource(cpu=1, gpu=0, memMB=64), **role_kw)])
