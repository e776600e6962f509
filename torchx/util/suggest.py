"""Suggest the closest names for a misspelt one: the "Did you mean ...?" of every error."""

from __future__ import annotations

import difflib

__all__ = ["suggest"]


def suggest(name: str, candidates: list[str], what: str) -> str:
    """A sentence (starting ``". "``) suggesting the closest names, or listing all of them.

    ``what`` names the kind of thing listed when nothing is close (``"schedulers"``).
    """
    by_lower = {c.lower(): c for c in reversed(candidates)}
    close = [by_lower[c] for c in difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.5)]
    if close:
        return ". Did you mean " + " or ".join(f"`{c}`" for c in close) + "?"
    shown = ", ".join(sorted(candidates)[:20])
    more = "" if len(candidates) <= 20 else f" (and {len(candidates) - 20} more)"
    return f". Known {what}: {shown}{more}"
