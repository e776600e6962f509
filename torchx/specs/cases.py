"""snake_case <-> camelCase for option names (``log_dir`` <-> ``logDir``)."""

from __future__ import annotations

import re


def snake_to_camel(name: str) -> str:
    """``log_dir`` -> ``logDir`` (leading underscores kept)."""
    stripped = name.lstrip("_")
    head, *rest = stripped.split("_")
    return name[: len(name) - len(stripped)] + head + "".join(p[:1].upper() + p[1:] for p in rest)


def camel_to_snake(name: str) -> str:
    """``logDir`` -> ``log_dir``; ``HTTPPort`` -> ``http_port``."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()
