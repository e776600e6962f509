"""Fixtures for local_cwd tests: a private TORCHX_HOME, a runner, and a /proc leak check."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import require
from torchx.runner import Runner, get_runner

MARK = "TORCHX_LOCAL_REPLICA"


def marked_pids(app_prefix: str = "") -> list[int]:
    """Live processes started for an app (found by the replica mark in their environment)."""
    out = []
    key = f"{MARK}={app_prefix}".encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and any(e.startswith(key) for e in env.split(b"\0")):
            out.append(int(name))
    return out


def supervisor_pids(home: str) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"local_supervisor.py" in cmd and home.encode() in cmd:
            out.append(int(name))
    return out


def wait_gone(pids_fn: object, timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    left: list[int] = pids_fn()  # type: ignore[operator]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = pids_fn()  # type: ignore[operator]
    return left


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    require("local_cwd", sys.platform.startswith("linux"), "local_cwd needs Linux /proc")
    h = str(tmp_path / "home")
    monkeypatch.setenv("TORCHX_HOME", h)
    yield h
    # clean up: cancel whatever a failed test left running, then check nothing leaked
    with get_runner(kill_grace=0.5) as r:
        if os.path.isdir(os.path.join(h, "apps")):
            for app in r.list("local_cwd"):
                r.cancel(app.app_handle)
    assert wait_gone(lambda: supervisor_pids(h)) == [], "a supervisor outlived its test"


@pytest.fixture
def runner(home: str) -> Iterator[Runner]:
    with get_runner(kill_grace=1.0) as r:
        yield r
