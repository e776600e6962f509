"""Helpers the builtin commands share: the runner, handles, time and table formatting."""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime, timedelta
from typing import Any

from torchx.specs import errors as specs_errors


class UsageError(specs_errors.UsageError):
    """The command line is wrong (exit code 2)."""


def get_runner() -> Any:
    """A Runner with ``[component:<name>]`` argument defaults from .torchxconfig."""
    from torchx.runner import config, get_runner

    return get_runner(component_defaults=config.load_sections("component"))


def add_handle(parser: argparse.ArgumentParser, help: str = "the job's handle") -> None:
    parser.add_argument(
        "app_handle", metavar="APP_HANDLE",
        help=f"{help}: SCHEDULER://SESSION/APP_ID, e.g. local_cwd://torchx/echo-a1b2c3",
    )


def check_handle(handle: str) -> str:
    """``handle`` if well formed (MalformedAppHandleException otherwise)."""
    from torchx.specs.api import parse_app_handle

    parse_app_handle(handle)
    return handle


def default_scheduler() -> str:
    """``[cli:run] scheduler`` from .torchxconfig, else the builtin default."""
    from torchx.runner import config
    from torchx.schedulers import get_default_scheduler_name

    return config.get_config("cli", "run", "scheduler") or get_default_scheduler_name()


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(value: str) -> datetime:
    """An ISO 8601 time (``2024-05-01T10:00``) or an age (``30s``, ``5m``, ``2h``, ``1d``) ago."""
    m = _DURATION.match(value.strip())
    if m:
        return datetime.now() - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"`{value}` is not a time: use ISO 8601 (2024-05-01T10:00:00) or an age (30s, 5m, 2h, 1d)"
        ) from None


def age(created: float | None, now: float | None = None) -> str:
    """``created`` (epoch seconds) as a compact age: ``42s``, ``5m``, ``3h``, ``2d``."""
    if created is None:
        return "-"
    secs = max(0.0, (now if now is not None else time.time()) - created)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{int(secs // size)}{unit}"
    return f"{int(secs)}s"


def table(rows: list[list[str]], header: list[str]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    return "\n".join(lines)


def out(text: str) -> None:
    """A line on stdout (results; narration goes to stderr through logging)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
