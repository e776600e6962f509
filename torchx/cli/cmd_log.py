"""``torchx log SCHEDULER://SESSION/APP_ID[/ROLE[/REPLICA,...]]``: a job's log lines.

Every line is prefixed ``role/replica``; all roles and replicas when none is named. ``-t``
follows the logs until the job ends (one reader thread per replica, whole lines only).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from torchx.cli.cmd_base import SubCommand
from torchx.cli.common import UsageError, get_runner, parse_time

Target = tuple[str, int]


def parse_log_identifier(identifier: str) -> tuple[str, str | None, list[int] | None]:
    """(app handle, role or None, replica ids or None) of ``handle[/role[/0,1]]``."""
    from torchx.specs.api import MalformedAppHandleException, make_app_handle, parse_app_handle

    parsed = parse_app_handle(identifier)
    app_id, *rest = parsed.app_id.split("/")
    if len(rest) > 2 or not app_id or any(not p for p in rest):
        raise MalformedAppHandleException(identifier)
    handle = make_app_handle(parsed.scheduler_backend, parsed.session_name, app_id)
    role = rest[0] if rest else None
    replicas: list[int] | None = None
    if len(rest) == 2:
        try:
            replicas = [int(r) for r in rest[1].split(",") if r.strip()]
        except ValueError:
            raise UsageError(
                f"replica ids in `{identifier}` must be numbers, e.g. {handle}/{role}/0,1"
            ) from None
    return handle, role, replicas


def targets(runner: Any, handle: str, role: str | None, replicas: list[int] | None) -> list[Target]:
    """The (role, replica) pairs to read, checked against what the job has."""
    from torchx.specs.api import UnknownAppException

    status = runner.status(handle)
    if status is None:
        raise UnknownAppException(handle)
    counts: dict[str, int] = {r.role: len(r.replicas) for r in status.roles if r.replicas}
    if not counts:
        app = runner.describe(handle)
        counts = {r.name: r.num_replicas for r in app.roles} if app is not None else {}
    if not counts:  # the scheduler does not say which roles the job has: trust the user
        if role is None:
            raise UsageError(
                f"`{handle}` does not report its roles: name one, e.g. `torchx log {handle}/ROLE`"
            )
        return [(role, k) for k in (replicas if replicas is not None else [0])]
    if role is not None and role not in counts:
        raise UsageError(f"job `{handle}` has no role `{role}`; its roles: {', '.join(counts)}")
    roles = [role] if role is not None else list(counts)
    out: list[Target] = []
    for r in roles:
        ids = replicas if replicas is not None else list(range(counts[r]))
        bad = [k for k in ids if not 0 <= k < counts[r]]
        if bad:
            raise UsageError(
                f"role `{r}` of `{handle}` has replicas 0..{counts[r] - 1}, not {bad[0]}"
            )
        out.extend((r, k) for k in ids)
    return out


def _regex(value: str) -> str:
    """``value`` if it compiles as a Python regex (a usage error naming the problem otherwise)."""
    import re

    try:
        re.compile(value)
    except re.error as e:
        raise argparse.ArgumentTypeError(
            f"`{value}` is not a valid regex ({e}): escape special characters, e.g. `\\(`"
        ) from None
    return value


class LinePrinter:
    """Writes whole prefixed lines to a stream from many threads (never mid-line)."""

    def __init__(self, stream: Any = None, before: Callable[[], None] | None = None) -> None:
        self.stream = stream or sys.stdout
        self.lock = threading.Lock()
        self.before = before

    def write(self, prefix: str, line: str) -> None:
        if not line.endswith("\n"):
            line += "\n"
        with self.lock:
            if self.before is not None:
                self.before()
            self.stream.write(f"{prefix} {line}")
            self.stream.flush()


class LogStreams:
    """One daemon thread per replica copying its lines to a printer; ``join`` re-raises."""

    def __init__(
        self, runner: Any, handle: str, pairs: list[Target], printer: LinePrinter,
        follow: bool, **kwargs: Any,
    ) -> None:
        self.errors: list[BaseException] = []
        self.threads = [
            threading.Thread(
                target=self._copy, args=(runner, handle, role, k, printer, follow, kwargs),
                daemon=True, name=f"log-{role}-{k}",
            )
            for role, k in pairs
        ]
        for t in self.threads:
            t.start()

    def _copy(
        self, runner: Any, handle: str, role: str, k: int, printer: LinePrinter, follow: bool,
        kwargs: dict[str, Any],
    ) -> None:
        try:
            lines: Iterable[str] = runner.log_lines(handle, role, k, should_tail=follow, **kwargs)
            for line in lines:
                printer.write(f"{role}/{k}", line)
        except Exception as e:  # re-raised by join() in the main thread
            self.errors.append(e)

    def join(self, timeout: float | None = None) -> None:
        """Wait for every reader (each at most ``timeout``); re-raise the first error."""
        for t in self.threads:
            t.join(timeout)
        if self.errors:
            raise self.errors[0]


class CmdLog(SubCommand):
    def add_arguments(self, subparser: argparse.ArgumentParser) -> None:
        subparser.add_argument(
            "identifier", metavar="SCHEDULER://SESSION/APP_ID[/ROLE[/REPLICA,...]]",
            help="the job, optionally one role and some of its replicas"
            " (e.g. local_cwd://torchx/ddp-x1y2/trainer/0,1)",
        )
        subparser.add_argument(
            "--regex", type=_regex, default=None, help="only lines matching this regex"
        )
        subparser.add_argument(
            "-t", "--tail", action="store_true", help="follow the logs until the job ends"
        )
        subparser.add_argument(
            "--streams", choices=["stdout", "stderr", "combined"], default=None,
            help="which output to read (default: the scheduler's, usually combined)",
        )
        subparser.add_argument(
            "--since", type=parse_time, default=None,
            help="only lines after this time: ISO 8601 or an age like 10m",
        )
        subparser.add_argument(
            "--until", type=parse_time, default=None,
            help="only lines before this time: ISO 8601 or an age like 10m",
        )

    def run(self, args: argparse.Namespace) -> None:
        from torchx.schedulers.api import Stream

        handle, role, replicas = parse_log_identifier(args.identifier)
        kwargs: dict[str, Any] = {"regex": args.regex, "since": args.since, "until": args.until}
        if args.streams:
            kwargs["streams"] = Stream(args.streams)
        printer = LinePrinter()
        with get_runner() as runner:
            pairs = targets(runner, handle, role, replicas)
            if args.tail:
                LogStreams(runner, handle, pairs, printer, True, **kwargs).join()
                return
            for r, k in pairs:
                for line in runner.log_lines(handle, r, k, **kwargs):
                    printer.write(f"{r}/{k}", line)
