"""`torchx --help` and `--version` import only a static table and argparse: no runner, no
scheduler module, no entry-point scan (the CLI's startup cost)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
before = set(sys.modules)
from torchx.cli.main import run_cli
try:
    run_cli({argv!r})
except SystemExit:
    pass
print(json.dumps(sorted(set(sys.modules) - before)), file=sys.stderr)
"""

# every module `torchx --help` may add beyond `python -I -c pass`: pinned, so a new import fails
_ALLOWED = {
    "torchx", "torchx.cli", "torchx.cli.main", "torchx.cli.commands",
    "argparse", "gettext", "locale", "_locale", "textwrap",
    # argparse -> shutil (terminal width) and what shutil imports
    "shutil", "fnmatch", "errno", "zlib", "bz2", "_bz2", "lzma", "_lzma", "_compression",
}


def _loaded(argv: list[str]) -> list[str]:
    baseline = json.loads(subprocess.run(
        [sys.executable, "-I", "-c", "import json, sys; print(json.dumps(sorted(sys.modules)))"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout)
    out = subprocess.run(
        [sys.executable, "-I", "-c", _PROBE.format(argv=argv)],
        check=True, capture_output=True, text=True, timeout=60,
    )
    return [m for m in json.loads(out.stderr.strip().splitlines()[-1]) if m not in baseline]


@pytest.mark.parametrize("argv", [["--help"], ["--version"], []])
def test_help_imports_only_the_table_and_argparse(argv: list[str]) -> None:
    loaded = _loaded(argv)
    unexpected = sorted(set(loaded) - _ALLOWED)
    assert unexpected == [], f"`torchx {' '.join(argv)}` imported {unexpected}"
    assert "torchx.cli.main" in loaded


def test_importing_the_cli_loads_only_stdlib() -> None:
    loaded = _loaded(["--version"])
    assert not [m for m in loaded if m.startswith(("torchx.runner", "torchx.schedulers",
                                                    "importlib.metadata", "logging", "asyncio"))]
