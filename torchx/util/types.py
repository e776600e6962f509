"""Typing helpers shared by the option and component parsers (standard library only)."""

from __future__ import annotations

from typing import Any

__all__ = ["FALSE_WORDS", "TRUE_WORDS", "unwrap_optional"]

TRUE_WORDS: frozenset[str] = frozenset({"true", "1", "yes", "y", "on"})
"""Words read as True (case-insensitively) by run options, mounts and component flags."""
FALSE_WORDS: frozenset[str] = frozenset({"false", "0", "no", "n", "off"})
"""Words read as False."""


def unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """(X, True) for ``X | None`` / ``Optional[X]``; (hint, False) otherwise."""
    args = getattr(hint, "__args__", None)
    if args and type(None) in args and len(args) == 2:
        inner = next(a for a in args if a is not type(None))
        return inner, True
    return hint, False
