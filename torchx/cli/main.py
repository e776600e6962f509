"""Entry point of the ``torchx`` command (a stub until the CLI issue lands)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    import torchx

    print(f"torchx {torchx.__version__}")
    sys.exit(0)
