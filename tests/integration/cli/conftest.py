"""Run the real ``torchx`` command in a subprocess against a private TORCHX_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

VENV_BIN = os.path.dirname(sys.executable)


@dataclass
class Cli:
    cwd: Path
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "torchx", *args], cwd=self.cwd, env=self.env,
            capture_output=True, text=True, timeout=timeout, **kw,  # type: ignore[call-overload]
        )

    def ok(self, *args: str, timeout: float = 60) -> str:
        p = self(*args, timeout=timeout)
        assert p.returncode == 0, f"torchx {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p.stdout

    def status(self, handle: str) -> dict:
        return json.loads(self.ok("status", "--json", handle))

    def wait_state(self, handle: str, states: set[str], timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            st = self.status(handle)
            if st["state"] in states or time.monotonic() > deadline:
                return st
            time.sleep(0.1)


def replica_lines(stderr: str) -> list[str]:
    """The replica output ``torchx run`` streamed on stderr (its own narration left out)."""
    return [line for line in stderr.splitlines() if not line.startswith("torchx")]


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    home = tmp_path / "torchx_home"
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TORCHX_TRACKER", "TORCHXCONFIG", "TORCHX_JOB", "TORCHX_PARENT"))}
    env.update(TORCHX_HOME=str(home), HOME=str(tmp_path / "user"),
               PATH=VENV_BIN + os.pathsep + env.get("PATH", ""), PYTHONUNBUFFERED="1")
    c = Cli(work, env)
    yield c
    # cancel anything a failed test left running
    p = c("list", "--json")
    if p.returncode == 0:
        for app in json.loads(p.stdout):
            if app["state"] not in ("SUCCEEDED", "FAILED", "CANCELLED"):
                c("cancel", app["app_handle"])
