"""``torchx cancel APP_HANDLE``: stop a job (it stays listed; ``delete`` removes it)."""

from __future__ import annotations

import argparse
import logging

from torchx.cli.cmd_base import SubCommand
from torchx.cli.common import add_handle, check_handle, get_runner

log = logging.getLogger(__name__)


class CmdCancel(SubCommand):
    def add_arguments(self, subparser: argparse.ArgumentParser) -> None:
        add_handle(subparser, "the job to cancel")

    def run(self, args: argparse.Namespace) -> None:
        handle = check_handle(args.app_handle)
        with get_runner() as runner:
            status = runner.status(handle)
            if status is None:  # as upstream: a no-op, exit 0 (it may be long gone)
                log.warning("%s is unknown (never submitted, or deleted); nothing to cancel",
                            handle)
                return
            if status.is_terminal():
                log.info("%s already ended (%s); nothing to cancel", handle, status.state.name)
                return
            runner.cancel(handle)
        log.info("cancelled %s", handle)
