"""Integration tests skip when their backend is absent, unless CI requires it.

``TORCHX_REQUIRE_BACKENDS=slurm,docker`` (set by ``scripts/test``) turns a skip into a failure;
``1``, ``true``, ``yes`` or ``all`` require every backend.
"""

from __future__ import annotations

import os

import pytest

EVERY_BACKEND = frozenset({"1", "true", "yes", "all"})


def required_backends() -> set[str]:
    raw = os.environ.get("TORCHX_REQUIRE_BACKENDS", "")
    return {b.strip() for b in raw.split(",") if b.strip()}


def is_required(backend: str) -> bool:
    required = required_backends()
    return backend in required or bool({b.lower() for b in required} & EVERY_BACKEND)


def require(backend: str, available: bool, reason: str) -> None:
    """Skip (or, when ``backend`` is required, fail) the calling test if not ``available``."""
    if available:
        return
    if is_required(backend):
        pytest.fail(f"backend `{backend}` is required (TORCHX_REQUIRE_BACKENDS) but {reason}")
    pytest.skip(f"backend `{backend}` unavailable: {reason}")
