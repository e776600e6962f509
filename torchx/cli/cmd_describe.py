"""``torchx describe APP_HANDLE``: the AppDef a job was submitted with, as far as known."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
from typing import Any

from torchx.cli.cmd_base import SubCommand
from torchx.cli.common import add_handle, check_handle, get_runner, out


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value if isinstance(obj.value, str) else obj.name
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj if isinstance(obj, (str, int, float, bool)) or obj is None else str(obj)


def format_app(app: Any) -> str:
    """An AppDef as an indented block (one role after another)."""
    lines = [f"AppDef: {app.name}"]
    if app.metadata:
        lines.append(f"  metadata: {json.dumps(app.metadata)}")
    for role in app.roles:
        lines.append(f"  role {role.name}: {role.num_replicas} replica(s)")
        for key, val in _plain(role).items():
            if key in ("name", "num_replicas") or val in ({}, [], None):
                continue
            lines.append(f"    {key}: {json.dumps(val)}")
    return "\n".join(lines)


class CmdDescribe(SubCommand):
    def add_arguments(self, subparser: argparse.ArgumentParser) -> None:
        add_handle(subparser)
        subparser.add_argument("--json", action="store_true", help="print the AppDef as JSON")

    def run(self, args: argparse.Namespace) -> None:
        from torchx.specs.api import UnknownAppException

        handle = check_handle(args.app_handle)
        with get_runner() as runner:
            app = runner.describe(handle)
        if app is None:
            raise UnknownAppException(handle)
        out(json.dumps(_plain(app), indent=2) if args.json else format_app(app))
