"""A real headless Chromium (Debian chromium + chromium-driver, driven by selenium) against a
real `torchx dashboard` process over a private TORCHX_HOME of real local_cwd jobs.

Backend name `browser`: `scripts/backends/browser.sh start` installs what is needed; without it
these tests skip, unless TORCHX_REQUIRE_BACKENDS names `browser` (CI), when they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import require
from torchx.runner import Runner, get_runner

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,900",
]


def _browser_missing() -> str | None:
    for exe in ("chromium", "chromedriver"):
        if shutil.which(exe) is None:
            return f"`{exe}` is not installed (run scripts/backends/browser.sh start)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    why = _browser_missing()
    require("browser", why is None, why or "")
    h = str(tmp_path / "home")
    monkeypatch.setenv("TORCHX_HOME", h)
    cfg = tmp_path / "empty.torchxconfig"
    cfg.write_text("")
    monkeypatch.setenv("TORCHXCONFIG", str(cfg))
    return h


@pytest.fixture
def runner(home: str) -> Iterator[Runner]:
    with get_runner() as r:
        yield r
        if os.path.isdir(os.path.join(home, "apps")):
            for app in r.list("local_cwd"):
                r.cancel(app.app_handle)


class DashboardProcess:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url
        self.port = int(url.rsplit(":", 1)[1].strip("/"))


@pytest.fixture
def dashboard(home: str) -> Iterator[DashboardProcess]:
    """`torchx dashboard --port 0` as a user starts it; the URL it prints."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchx.cli.main", "dashboard", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
    if not m:
        proc.kill()
        raise AssertionError(f"no URL printed: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    yield DashboardProcess(proc, m.group(1))
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


@pytest.fixture
def browser(home: str, tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "chromium"
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"),
                              options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
