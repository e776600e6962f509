"""``torchx status APP_HANDLE``: a job's state, message and replicas (``--json`` for scripts)."""

from __future__ import annotations

import argparse
import json

from torchx.cli.cmd_base import SubCommand
from torchx.cli.common import UsageError, add_handle, check_handle, get_runner, out


class CmdStatus(SubCommand):
    def add_arguments(self, subparser: argparse.ArgumentParser) -> None:
        add_handle(subparser)
        subparser.add_argument("--roles", default="", help="comma-separated roles to show (default: all)")
        subparser.add_argument("--json", action="store_true", help="print the status as JSON")

    def run(self, args: argparse.Namespace) -> None:
        from torchx.specs.api import UnknownAppException

        handle = check_handle(args.app_handle)
        with get_runner() as runner:
            status = runner.status(handle)
        if status is None:
            raise UnknownAppException(handle)
        roles = [r for r in args.roles.split(",") if r]
        known = [r.role for r in status.roles]
        unknown = [r for r in roles if r not in known]
        if unknown and known:
            raise UsageError(
                f"job `{handle}` has no role `{unknown[0]}`; its roles: {', '.join(known)}"
            )
        if args.json:
            data = status.to_json()
            if roles:
                data["roles"] = [r for r in data["roles"] if r["role"] in roles]
            out(json.dumps({"app_handle": handle, **data}, indent=2))
        else:
            out(status.format(roles or None))
