"""Integration tests skip when their backend is absent, unless CI requires it.

``TORCHX_REQUIRE_BACKENDS=slurm,docker`` (set by ``scripts/test``) turns a skip into a failure.
"""

from __future__ import annotations

import os

import pytest


def required_backends() -> set[str]:
    raw = os.environ.get("TORCHX_REQUIRE_BACKENDS", "")
    return {b.strip() for b in raw.split(",") if b.strip()}


def require(backend: str, available: bool, reason: str) -> None:
    """Skip (or, when ``backend`` is required, fail) the calling test if not ``available``."""
    if available:
        return
    if backend in required_backends():
        pytest.fail(f"backend `{backend}` is required (TORCHX_REQUIRE_BACKENDS) but {reason}")
    pytest.skip(f"backend `{backend}` unavailable: {reason}")
