"""``torchx builtins``: the components torchx can find; ``--print NAME`` shows one's source."""

from __future__ import annotations

import argparse
import inspect
import logging

from torchx.cli.cmd_base import SubCommand
from torchx.cli.common import out

log = logging.getLogger(__name__)


class CmdBuiltins(SubCommand):
    def add_arguments(self, subparser: argparse.ArgumentParser) -> None:
        subparser.add_argument(
            "--print", dest="print_name", metavar="NAME", default=None,
            help="print the source of component NAME (e.g. dist.ddp)",
        )

    def run(self, args: argparse.Namespace) -> None:
        from torchx.specs import finder

        if args.print_name:
            component = finder.get_component(args.print_name)
            out(inspect.getsource(component.fn).rstrip())
            return
        components = finder.get_components()
        valid = sorted(n for n, c in components.items() if not c.validation_errors)
        for name in sorted(set(components) - set(valid)):
            log.warning("component `%s` is invalid: %s", name,
                        "; ".join(components[name].validation_errors))
        out(f"Found {len(valid)} builtin components:")
        for i, name in enumerate(valid, 1):
            out(f"{i}. {name}")
