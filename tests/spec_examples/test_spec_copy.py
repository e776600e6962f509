"""The spec pages in docs/spec must be the contract as it stands beside the repository."""

from __future__ import annotations

import pytest

from tests.spec_examples.rst import SPEC, UPSTREAM_SPEC


def test_docs_spec_matches_the_shared_contract() -> None:
    if not UPSTREAM_SPEC.is_dir():
        pytest.skip(f"no shared spec beside the repository at {UPSTREAM_SPEC}")
    upstream = {p.name: p.read_text() for p in UPSTREAM_SPEC.iterdir() if p.is_file()}
    ours = {p.name: p.read_text() for p in SPEC.iterdir() if p.is_file()}
    stale = sorted(n for n in upstream if ours.get(n) != upstream[n])
    assert not stale, f"docs/spec is out of date for {stale}: cp {UPSTREAM_SPEC}/* docs/spec/"
