"""Lazy access to plugin entry points.

Groups are read only when needed, never at import time, so ``torchx --help`` and
``import torchx.specs`` stay fast. Reading does not import ``importlib.metadata`` (about 20 ms
of imports, paid by every CLI command): the ``entry_points.txt`` of each distribution on
``sys.path`` is parsed directly, the first distribution of a name winning as in importlib. A plugin that fails to load is
reported once (a warning) and skipped; it never breaks the rest.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

_cache: dict[str, dict[str, Any]] = {}
_reported: set[tuple[str, str]] = set()


class EntryPoint:
    """``name = module:attr`` of a group; ``load()`` imports it (like importlib's)."""

    def __init__(self, name: str, value: str, group: str) -> None:
        self.name, self.value, self.group = name, value, group

    def load(self) -> Any:
        import importlib

        module, _, attr = self.value.split("[", 1)[0].partition(":")
        obj: Any = importlib.import_module(module.strip())
        for part in attr.strip().split(".") if attr.strip() else []:
            obj = getattr(obj, part)
        return obj

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r}, group={self.group!r})"


def _scan() -> dict[str, dict[str, EntryPoint]]:
    """group -> name -> EntryPoint of every distribution on sys.path (first of a name wins)."""
    import os
    import re
    import sys

    groups: dict[str, dict[str, EntryPoint]] = {}
    seen: set[str] = set()
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for meta in names:
            if not meta.endswith((".dist-info", ".egg-info")):
                continue
            dist = re.sub(r"[-_.]+", "_", meta.rsplit(".", 1)[0].split("-", 1)[0]).lower()
            if dist in seen:
                continue
            seen.add(dist)
            try:
                with open(os.path.join(entry or ".", meta, "entry_points.txt")) as f:
                    text = f.read()
            except OSError:
                continue
            group = None
            for line in text.splitlines():
                line = line.strip()
                if not line or line.startswith(("#", ";")):
                    continue
                if line.startswith("[") and line.endswith("]"):
                    group = line[1:-1].strip()
                elif group is not None and "=" in line:
                    name, _, value = line.partition("=")
                    groups.setdefault(group, {}).setdefault(
                        name.strip(), EntryPoint(name.strip(), value.strip(), group)
                    )
    return groups


def entry_points(group: str) -> dict[str, Any]:
    """name -> :py:class:`EntryPoint` for ``group`` (all groups read once per process)."""
    if not _cache:
        _cache.update(_scan())
        _cache.setdefault("", {})  # mark the scan done even when nothing is installed
    return _cache.get(group, {})


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


_generation = [0]


def generation() -> int:
    """Bumped by :py:func:`clear_cache`: caches built from entry points (the plugin registry)
    compare it to know they are stale."""
    return _generation[0]


def clear_cache() -> None:
    """Forget what was read (tests that install plugins call this); see :py:func:`generation`."""
    _cache.clear()
    _reported.clear()
    _generation[0] += 1
