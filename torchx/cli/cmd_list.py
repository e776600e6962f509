"""``torchx list``: the jobs a scheduler knows (handle, name, state, age); ``--json`` for scripts."""

from __future__ import annotations

import argparse
import json

from torchx.cli.cmd_base import SubCommand
from torchx.cli.common import age, default_scheduler, get_runner, out, table


class CmdList(SubCommand):
    def add_arguments(self, subparser: argparse.ArgumentParser) -> None:
        subparser.add_argument(
            "-s", "--scheduler", default=None,
            help="the scheduler to list (default: [cli:run] scheduler in .torchxconfig, else local_cwd)",
        )
        subparser.add_argument("--json", action="store_true", help="print a JSON list")

    def run(self, args: argparse.Namespace) -> None:
        scheduler = args.scheduler or default_scheduler()
        with get_runner() as runner:
            apps = runner.list(scheduler)
        apps = sorted(apps, key=lambda a: (a.created is None, -(a.created or 0.0), a.app_id))
        if args.json:
            out(json.dumps([
                {"app_handle": a.app_handle, "app_id": a.app_id, "name": a.name,
                 "state": a.state.name, "created": a.created}
                for a in apps
            ], indent=2))
            return
        rows = [[a.app_handle, a.name or "-", a.state.name, age(a.created)] for a in apps]
        out(table(rows, ["HANDLE", "NAME", "STATE", "AGE"]))
