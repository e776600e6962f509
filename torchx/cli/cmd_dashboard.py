"""``torchx dashboard``: serve a local web page of every job, live, until Ctrl-C.

Shows ``local_cwd`` and the schedulers named with ``-s`` (else those configured in
.torchxconfig: ``[cli:run] scheduler`` and scheduler sections). Binds 127.0.0.1 unless
``--host`` says otherwise (with a warning: anyone reaching the port can cancel jobs).
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys

from torchx.cli.cmd_base import SubCommand
from torchx.cli.common import UsageError, out

log = logging.getLogger(__name__)

DEFAULT_PORT = 8700


def configured_schedulers() -> list[str]:
    """Schedulers .torchxconfig mentions: ``[cli:run] scheduler``, then scheduler sections."""
    import configparser

    from torchx.runner import config

    names = []
    run = config.get_config("cli", "run", "scheduler")
    if run:
        names.append(run)
    for path in config.find_configs():
        parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
        try:
            parser.read(path)
        except configparser.Error:
            continue  # get_config above already reported a file it cannot parse
        names.extend(s for s in parser.sections() if config.is_scheduler_section(s))
    return names


def choose_schedulers(named: list[str] | None) -> list[str]:
    """local_cwd, then the named schedulers (or, when none are named, the configured ones)."""
    from torchx.schedulers import get_scheduler_names
    from torchx.specs.api import UnknownSchedulerException

    known = get_scheduler_names()
    names = [n.strip() for arg in named or [] for n in arg.split(",") if n.strip()]
    for n in names:
        if n not in known:
            raise UnknownSchedulerException(n, known)
    if not names:
        names = [n for n in configured_schedulers() if n in known]
    return list(dict.fromkeys(["local_cwd", *names]))


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"`{value}` is not a port: use 0..65535 (0 picks a free one)")
    return port


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class CmdDashboard(SubCommand):
    def add_arguments(self, subparser: argparse.ArgumentParser) -> None:
        subparser.add_argument(
            "--port", type=_port, default=DEFAULT_PORT,
            help=f"the port to serve on (default: {DEFAULT_PORT}; 0 picks a free one)",
        )
        subparser.add_argument(
            "--host", default="127.0.0.1",
            help="the address to bind (default: 127.0.0.1, this machine only). Another address"
            " lets anyone who reaches it see and cancel your jobs",
        )
        subparser.add_argument(
            "-s", "--scheduler", action="append", default=None, metavar="SCHED",
            help="a scheduler to show besides local_cwd (repeat or comma-separate; default:"
            " those in .torchxconfig)",
        )

    def run(self, args: argparse.Namespace) -> None:
        from torchx.dashboard.api import Dashboard
        from torchx.dashboard.server import DashboardServer, is_loopback
        from torchx.runner import get_runner

        schedulers = choose_schedulers(args.scheduler)
        try:
            server = DashboardServer(Dashboard(get_runner(), schedulers), args.host, args.port)
        except OSError as e:
            hint = (": pick another with --port N, or --port 0 for a free one"
                    if e.errno == errno.EADDRINUSE else "")
            raise UsageError(f"cannot serve on {args.host}:{args.port}: {e.strerror or e}{hint}") from None
        if not is_loopback(server.bind_host):
            log.warning(
                "serving on %s:%d, not loopback: anyone who can reach this port can read your"
                " jobs' logs and cancel them. Use the default --host 127.0.0.1 unless you mean it",
                server.bind_host, server.port,
            )
        out(f"torchx dashboard: {server.url}  (jobs of {', '.join(schedulers)}; Ctrl-C stops)")
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
        try:
            server.serve_forever(poll_interval=0.5)
        except KeyboardInterrupt:
            sys.stderr.write("torchx: dashboard stopped\n")
        finally:
            server.server_close()
