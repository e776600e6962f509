"""local_cwd: the scheduler contract (real processes under the durable supervisor) and its pure
parts. Its reliability under faults (killed supervisors, escaping children, signals) is tested in
``tests/integration/local``."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.backends import require
from tests.contract import SchedulerContract
from torchx import specs
from torchx.schedulers import local_scheduler as ls
from torchx.schedulers.api import Scheduler


class TestLocalCwdContract(SchedulerContract):
    backend = "local_cwd"
    unknown_app_id = "no-such-app-00000000"
    timeout = 60.0
    poll = 0.5  # wait_for_change returns as soon as the state file changes
    cannot: dict[str, str] = {}  # local_cwd does everything the contract asks

    def require_backend(self) -> None:
        require("local_cwd", sys.platform.startswith("linux"), "local_cwd needs Linux /proc")

    def prepare(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TORCHX_HOME", str(tmp_path / "home"))
        monkeypatch.chdir(tmp_path)

    def make_scheduler(self, session_name: str) -> Scheduler[Any]:
        return ls.create_scheduler(session_name, kill_grace=0.5)

    def normalize_dryrun(self, text: str, tmp_path: Path) -> str:
        text = re.sub(r"contract-golden-[a-z0-9]{8}", "contract-golden-<id>", text)
        return super().normalize_dryrun(text, tmp_path)

    def backend_snapshot(self, sched: Scheduler[Any]) -> object:
        """The files of the journal (the empty TORCHX_HOME/apps directory may be created)."""
        home = Path(os.environ["TORCHX_HOME"])
        return sorted(str(p) for p in home.rglob("*") if not p.is_dir())


def test_make_app_id_is_safe_in_paths_and_handles() -> None:
    app_id = ls.make_app_id("My Job/../x!")
    assert re.fullmatch(r"My-Job-\.\.-x-[a-z0-9]{8}", app_id), app_id
    assert ls.make_app_id("///").startswith("app-")
    assert ls.make_app_id("a") != ls.make_app_id("a")


def test_role_json_round_trip() -> None:
    role = specs.Role("r", image="/img", entrypoint="python", args=["-c", "x"], env={"A": "1"},
                      num_replicas=2, max_retries=1, retry_policy=specs.RetryPolicy.ROLE)
    back = ls.role_from_json(ls.role_to_json(role))
    assert (back.name, back.entrypoint, back.args, back.env, back.num_replicas, back.max_retries,
            back.retry_policy) == ("r", "python", ["-c", "x"], {"A": "1"}, 2, 1,
                                   specs.RetryPolicy.ROLE)


def test_dryrun_rejects_a_role_without_entrypoint(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHX_HOME", str(tmp_path))
    app = specs.AppDef("x", [specs.Role("r", image="/tmp")])
    with pytest.raises(ls.LocalSchedulerError, match="role `r` has no entrypoint"):
        ls.create_scheduler("t").submit_dryrun(app, {})
