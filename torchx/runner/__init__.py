"""Launch and manage apps: ``from torchx.runner import get_runner``."""

from __future__ import annotations

from torchx.runner.api import Runner, get_runner

__all__ = ["Runner", "get_runner"]
