"""Experiment tracking: see :py:mod:`torchx.tracker.api`.

``from torchx.tracker import app_run_from_env`` gives the current job's :py:class:`AppRun`.
"""

from __future__ import annotations

from torchx.tracker.api import AppRun, TrackerBase


def app_run_from_env() -> AppRun:
    """The current job's run (``AppRun.run_from_env()``)."""
    return AppRun.run_from_env()


__all__ = ["AppRun", "TrackerBase", "app_run_from_env"]
