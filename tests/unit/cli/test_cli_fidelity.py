"""CLI behaviour that matches upstream TorchX's (issue 11): configure flags, cancel/delete no-ops."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchx.cli.main import run_cli


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """run_cli configures logging for a process; put the test process's back afterwards."""
    root, torchx_log = logging.getLogger(), logging.getLogger("torchx")
    saved = (root.handlers[:], root.level, torchx_log.level)
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    torchx_log.setLevel(saved[2])


@pytest.fixture(autouse=True)
def _private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.delenv("TORCHXCONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def _out(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert run_cli(argv) in (0, None)
    return capsys.readouterr().out


def test_configure_prints_required_only_by_default_and_everything_with_all(
    capsys: pytest.CaptureFixture[str],
) -> None:
    required = _out(["configure", "--print", "-s", "local_cwd,local_docker"], capsys)
    assert "[local_cwd]" in required and "[local_docker]" in required
    assert "log_dir" not in required and "copy_env" not in required
    for flag in ("--all", "-a"):
        everything = _out(["configure", "--print", flag, "-s", "local_cwd,local_docker"], capsys)
        assert "log_dir" in everything and "copy_env" in everything


def test_configure_all_covers_every_scheduler(capsys: pytest.CaptureFixture[str]) -> None:
    from torchx.schedulers import get_scheduler_names

    text = _out(["configure", "--print", "--all"], capsys)
    for name in get_scheduler_names():
        assert f"[{name}]" in text


def test_run_sets_the_context_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    import os

    monkeypatch.delenv("TORCHX_CONTEXT_NAME", raising=False)
    assert run_cli(["run", "-s", "local_cwd", "utils.sh", "echo ctx=$TORCHX_CONTEXT_NAME"]) in (
        0, None)
    assert "ctx=cli_run" in capsys.readouterr().err  # replica output goes to stderr
    assert os.environ.pop("TORCHX_CONTEXT_NAME") == "cli_run"


def test_configure_all_writes_the_file(tmp_path: Path) -> None:
    assert run_cli(["configure", "--all", "-s", "local_cwd"]) in (0, None)
    assert "log_dir" in (tmp_path / ".torchxconfig").read_text()
