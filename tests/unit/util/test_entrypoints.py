"""Our entry-point scan (no importlib.metadata import) must agree with importlib.metadata."""

from __future__ import annotations

from importlib.metadata import distributions

import pytest

from torchx.util import entrypoints


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    entrypoints.clear_cache()


def _stdlib_view() -> dict[str, dict[str, str]]:
    """group -> name -> value as importlib.metadata sees the environment (first dist wins)."""
    seen: set[str] = set()
    groups: dict[str, dict[str, str]] = {}
    for dist in distributions():
        key = (dist.metadata["Name"] or "").lower().replace("-", "_").replace(".", "_")
        if key in seen:
            continue
        seen.add(key)
        for ep in dist.entry_points:
            groups.setdefault(ep.group, {}).setdefault(ep.name, ep.value)
    return groups


def test_every_group_matches_importlib_metadata() -> None:
    expected = _stdlib_view()
    assert expected, "the test environment has entry points (pytest's, at least)"
    for group, eps in expected.items():
        ours = {name: ep.value for name, ep in entrypoints.entry_points(group).items()}
        assert ours == eps, group


def test_console_script_of_torchx_itself_is_found_and_loads() -> None:
    eps = entrypoints.entry_points("console_scripts")
    assert eps["torchx"].value == "torchx.cli.main:main"
    from torchx.cli.main import main

    assert eps["torchx"].load() is main


def test_broken_plugin_is_skipped_and_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    entrypoints.entry_points("x")  # fill the cache, then add a broken entry
    entrypoints._cache["torchx.test"] = {
        "bad": entrypoints.EntryPoint("bad", "no_such_module_xyz:f", "torchx.test")
    }
    assert entrypoints.load_group("torchx.test") == {}
    assert entrypoints.load_group("torchx.test") == {}
    reports = [r for r in caplog.records if "no_such_module_xyz" in r.getMessage()]
    assert len(reports) == 1
