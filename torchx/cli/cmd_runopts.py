"""``torchx runopts [SCHEDULER]``: the run options (``-cfg``) each scheduler accepts."""

from __future__ import annotations

import argparse
import logging

from torchx.cli.cmd_base import SubCommand
from torchx.cli.common import out

log = logging.getLogger(__name__)


class CmdRunopts(SubCommand):
    def add_arguments(self, subparser: argparse.ArgumentParser) -> None:
        subparser.add_argument(
            "scheduler", nargs="?", default=None, help="one scheduler (default: all of them)"
        )

    def run(self, args: argparse.Namespace) -> None:
        from torchx.schedulers import get_scheduler_factory, get_scheduler_names
        from torchx.specs.api import UnknownSchedulerException

        if args.scheduler:
            opts = get_scheduler_factory(args.scheduler)("torchx").run_opts()
            out(f"{args.scheduler}:\n{opts!r}")
            return
        from torchx.plugins import PluginType, registry

        for error in registry().load_errors(PluginType.SCHEDULER):
            log.warning("scheduler plugin not registered: %s", error)
        for name in get_scheduler_names():
            try:
                opts = get_scheduler_factory(name)("torchx").run_opts()
            except UnknownSchedulerException:  # a plugin that failed to load (reported once)
                continue
            except Exception as e:  # a backend whose extra is missing must not hide the rest
                log.warning("scheduler `%s` is unavailable: %s", name, e)
                continue
            out(f"{name}:\n{opts!r}\n")
