"""``torchx configure``: write a starter .torchxconfig with a section per scheduler.

As upstream: by default only the options each scheduler requires; ``-a/--all`` lists every
option (commented out, with its default and help); ``--print`` writes to stdout instead.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys

from torchx.cli.cmd_base import SubCommand
from torchx.cli.common import UsageError

log = logging.getLogger(__name__)


class CmdConfigure(SubCommand):
    def add_arguments(self, subparser: argparse.ArgumentParser) -> None:
        subparser.add_argument(
            "-s", "--schedulers", default=None,
            help="comma-separated schedulers to include (default: all)",
        )
        which = subparser.add_mutually_exclusive_group()
        which.add_argument(
            "-a", "--all", action="store_true",
            help="every option of each scheduler, not only the required ones",
        )
        which.add_argument(
            "--required_only", action="store_true",
            help="only the options without a default (the default)",
        )
        subparser.add_argument(
            "--print", action="store_true", help="print to stdout instead of writing a file"
        )
        subparser.add_argument(
            "-f", "--force", action="store_true", help="overwrite an existing ./.torchxconfig"
        )

    def run(self, args: argparse.Namespace) -> None:
        from torchx.runner import config
        from torchx.schedulers import get_scheduler_factory

        schedulers = [s for s in args.schedulers.split(",") if s] if args.schedulers else None
        for name in schedulers or []:
            get_scheduler_factory(name)  # unknown names fail before anything is written
        buf = io.StringIO()
        config.dump(buf, schedulers, required_only=not args.all)
        if args.print:
            sys.stdout.write(buf.getvalue())
            return
        path = os.path.join(os.getcwd(), config.CONFIG_FILE)
        if os.path.exists(path) and not args.force:
            raise UsageError(f"`{path}` already exists: pass --force to overwrite it or --print")
        with open(path, "w") as f:
            f.write(buf.getvalue())
        log.info("wrote %s", path)
