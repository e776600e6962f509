"""The package itself: name, version, console script, and CI running the README's test command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import tomllib

import torchx

REPO = Path(__file__).resolve().parents[3]


def _readme_sh_blocks() -> list[str]:
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", (REPO / "README.md").read_text(), re.S)]


def test_pyproject_declares_the_package_and_its_console_script() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["name"] == "torchx"
    assert project["scripts"] == {"torchx": "torchx.cli.main:main"}
    assert project["requires-python"] == ">=3.10"


def test_version_is_printed_by_the_console_script() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", torchx.__version__)
    out = subprocess.run([sys.executable, "-m", "torchx.cli.main", "--version"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert torchx.__version__ in out


def test_ci_runs_the_readme_test_command() -> None:
    blocks = _readme_sh_blocks()
    assert blocks[:2] and blocks[0].startswith("bash scripts/setup && .venv/bin/torchx run ")
    test_command = blocks[1]
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))]
    assert ci == [f"exec {test_command}"]
