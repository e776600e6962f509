"""App handles: ``{scheduler}://{session_name}/{app_id}``."""

from __future__ import annotations

import re
from typing import NamedTuple

from torchx.specs.errors import MalformedAppHandleException

__all__ = ["AppHandle", "ParsedAppHandle", "make_app_handle", "parse_app_handle"]

AppHandle = str
"""``{scheduler}://{session_name}/{app_id}``."""


class ParsedAppHandle(NamedTuple):
    scheduler_backend: str
    session_name: str
    app_id: str


_HANDLE_RE = re.compile(r"^(?P<scheduler>[A-Za-z0-9_\-]+)://(?P<session>[^/]*)/(?P<app_id>[^/].*)$")


def parse_app_handle(app_handle: AppHandle) -> ParsedAppHandle:
    """Split a handle into (scheduler_backend, session_name, app_id)."""
    m = _HANDLE_RE.match(app_handle)
    if not m:
        raise MalformedAppHandleException(app_handle)
    return ParsedAppHandle(m.group("scheduler"), m.group("session"), m.group("app_id"))


def make_app_handle(scheduler_backend: str, session_name: str, app_id: str) -> AppHandle:
    return f"{scheduler_backend}://{session_name}/{app_id}"
