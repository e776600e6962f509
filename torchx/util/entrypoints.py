"""Lazy access to plugin entry points.

``importlib.metadata`` is imported only when a group is actually read, never at import time,
so ``torchx --help`` and ``import torchx.specs`` stay fast. A plugin that fails to load is
reported once (a warning) and skipped; it never breaks the rest.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

_cache: dict[str, dict[str, Any]] = {}
_reported: set[tuple[str, str]] = set()


def entry_points(group: str) -> dict[str, Any]:
    """name -> ``importlib.metadata.EntryPoint`` for ``group`` (cached per process)."""
    if group not in _cache:
        from importlib.metadata import entry_points as _eps

        _cache[group] = {ep.name: ep for ep in _eps(group=group)}
    return _cache[group]


def load_group(group: str) -> dict[str, Any]:
    """name -> loaded object for every entry point of ``group`` that loads.

    Plugins that raise on import are reported once (naming the plugin and its error).
    """
    loaded: dict[str, Any] = {}
    for name in entry_points(group):
        obj = load(group, name)
        if obj is not None:
            loaded[name] = obj
    return loaded


def load(group: str, name: str) -> Any | None:
    """The loaded entry point ``name`` of ``group``; None if absent or broken (reported once)."""
    ep = entry_points(group).get(name)
    if ep is None:
        return None
    try:
        return ep.load()
    except Exception as e:  # a broken plugin must not break torchx
        if (group, name) not in _reported:
            _reported.add((group, name))
            log.warning(
                "skipping plugin `%s` (%s = %s): %s: %s",
                name, group, ep.value, type(e).__name__, e,
            )
        return None


def clear_cache() -> None:
    """Forget what was read (tests that install plugins call this)."""
    _cache.clear()
    _reported.clear()
