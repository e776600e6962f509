"""``torchx delete APP_HANDLE``: cancel a job if running and remove it from the scheduler."""

from __future__ import annotations

import argparse
import logging

from torchx.cli.cmd_base import SubCommand
from torchx.cli.common import add_handle, check_handle, get_runner

log = logging.getLogger(__name__)


class CmdDelete(SubCommand):
    def add_arguments(self, subparser: argparse.ArgumentParser) -> None:
        add_handle(subparser, "the job to delete")

    def run(self, args: argparse.Namespace) -> None:
        handle = check_handle(args.app_handle)
        with get_runner() as runner:
            if runner.status(handle) is None:  # as upstream: a no-op, exit 0
                log.warning("%s is unknown (never submitted, or already deleted); nothing to"
                            " delete", handle)
                return
            runner.delete(handle)
        log.info("deleted %s", handle)
