"""``torchx run [OPTIONS] COMPONENT [COMPONENT_ARGS...]``: launch a component on a scheduler.

On local schedulers ``run`` waits and streams every replica's output prefixed ``role/replica``;
Ctrl-C cancels the job. ``--detach`` returns as soon as the job is launched (local jobs are
durable: ``torchx status/log/cancel`` work from any shell). The handle goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any

from torchx.cli.cmd_base import SubCommand
from torchx.cli.common import UsageError, default_scheduler, get_runner, out
from torchx.specs.api import TorchXError

log = logging.getLogger(__name__)

_POLL_S = 0.1  # status poll on a terminal (runner.wait notices the end on its own)
CLI_RUN_KEYS = ("scheduler", "component", "workspace")
"""The keys of ``[cli:run]`` in .torchxconfig."""


class JobFailedError(TorchXError):
    """A job ``run`` waited for did not succeed (exit code 1)."""


def is_local(scheduler: str) -> bool:
    return scheduler.startswith("local")


class CmdRun(SubCommand):
    def add_arguments(self, subparser: argparse.ArgumentParser) -> None:
        subparser.add_argument(
            "-s", "--scheduler", default=None,
            help="where to run (default: [cli:run] scheduler in .torchxconfig, else local_cwd);"
            " `torchx runopts` lists them",
        )
        subparser.add_argument(
            "-cfg", "--scheduler_args", default=None, metavar="K=V,...",
            help="run options of the scheduler, e.g. `-cfg log_dir=/tmp/logs`"
            " (see `torchx runopts SCHEDULER`)",
        )
        subparser.add_argument(
            "--dryrun", action="store_true",
            help="print the resolved AppDef and the scheduler's request; launch nothing",
        )
        subparser.add_argument(
            "--wait", action="store_true", help="wait for the job to end (default on local schedulers)"
        )
        subparser.add_argument(
            "--log", action="store_true",
            help="stream every replica's output while waiting (default on local schedulers)",
        )
        subparser.add_argument(
            "--detach", action="store_true",
            help="print the handle and return at once, even on local schedulers",
        )
        subparser.add_argument(
            "--workspace", default=None,
            help="local directory patched into the image on schedulers that build images"
            " (default: [cli:run] workspace, else the current directory; '' for none)",
        )
        subparser.add_argument(
            "--parent_run_id", default=None,
            help="tracker run this job derives from (recorded as its source)",
        )
        subparser.add_argument(
            "--json", action="store_true",
            help="print one JSON object (handle and final status) instead of the bare handle;"
            " replica output goes to stderr",
        )
        subparser.add_argument(
            "component_name_and_args", nargs=argparse.REMAINDER, metavar="COMPONENT ...",
            help="a component (`torchx builtins` lists them; or path/file.py:fn) and its"
            " arguments (`torchx run COMPONENT --help` shows them)",
        )

    def run(self, args: argparse.Namespace) -> None:
        from torchx.runner import config

        if args.detach and (args.wait or args.log):
            raise UsageError("--detach cannot be combined with --wait or --log")
        scheduler = args.scheduler or default_scheduler()
        words = list(args.component_name_and_args)
        if words and words[0] == "--":
            words = words[1:]
        cli_cfg = config.get_configs("cli", "run")
        from torchx.schedulers import get_scheduler_names

        config.warn_unknown_sections(get_scheduler_names())
        for key in sorted(set(cli_cfg) - set(CLI_RUN_KEYS)):
            from torchx.util.suggest import suggest as _suggest

            log.warning("ignoring unknown key `%s` in [cli:run] of .torchxconfig%s",
                        key, _suggest(key, list(CLI_RUN_KEYS), "keys"))
        component = words[0] if words else cli_cfg.get("component")
        if not component:
            raise UsageError(
                "name a component, e.g. `torchx run utils.echo --msg hi`"
                " (`torchx builtins` lists them)"
            )
        comp_args = words[1:]
        workspace = args.workspace
        if workspace is None:
            workspace = cli_cfg.get("workspace") or os.getcwd()

        _interpreter_on_path()
        with get_runner() as runner:
            opts = runner.scheduler_run_opts(scheduler)
            cfg = opts.cfg_from_str(args.scheduler_args) if args.scheduler_args else {}
            info = runner.dryrun_component(
                component, comp_args, scheduler=scheduler, cfg=cfg,
                workspace=workspace or None, parent_run_id=args.parent_run_id,
            )
            if args.dryrun:
                _print_dryrun(info, scheduler, args.json)
                return
            handle = runner.schedule(info)
            waiting = args.wait or args.log or (is_local(scheduler) and not args.detach)
            if not args.json:
                out(handle)
            if not waiting:
                if args.json:
                    out(json.dumps({"app_handle": handle}))
                return
            streaming = args.log or (is_local(scheduler) and not args.wait)
            status = watch(runner, handle, info, streaming, sys.stderr if args.json else sys.stdout)
            if args.json:
                out(json.dumps({"app_handle": handle, "status": status.to_json()}, indent=2))
            if status.state.name != "SUCCEEDED":
                raise JobFailedError(failure_line(handle, status.state.name, status.msg))
            log.info("job %s SUCCEEDED", handle)


def failure_line(handle: str, state: str, msg: str | None) -> str:
    """The one error line for a job that did not succeed (a message repeating the state, as
    Slurm's ``FAILED: exit code 4`` does, is not doubled)."""
    detail = (msg or "").strip()
    if detail.upper().startswith(state):
        detail = detail[len(state):].lstrip(" :")
    return f"job {handle} {state}" + (f": {detail}" if detail else "") + f" (see `torchx log {handle}`)"


def _interpreter_on_path() -> None:
    """Put the directory of the interpreter running torchx on PATH (when it is not there).

    ``.venv/bin/torchx run dist.ddp ...`` without an activated venv then launches replicas
    whose ``python`` is this venv's (with torch), as an activated venv would.
    """
    bindir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if bindir and bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + (os.pathsep + path if path else "")


def _print_dryrun(info: Any, scheduler: str, as_json: bool) -> None:
    from torchx.cli.cmd_describe import _plain, format_app

    app = getattr(info, "_app", None)
    if as_json:
        out(json.dumps({"scheduler": scheduler, "app": _plain(app) if app else None,
                        "request": repr(info)}, indent=2))
        return
    if app is not None:
        out("=== APPLICATION ===")
        out(format_app(app))
    out(f"=== SCHEDULER REQUEST ({scheduler}) ===")
    out(repr(info))


class _StatusLine:
    """A one-line replica-state display on stderr, redrawn in place (only on a terminal)."""

    def __init__(self, handle: str) -> None:
        self.handle = handle
        self.shown = False

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False

    def draw(self, status: Any) -> None:
        parts = []
        for role in status.roles:
            counts: dict[str, int] = {}
            for rep in role.replicas:
                counts[rep.state.name] = counts.get(rep.state.name, 0) + 1
            parts.append(f"{role.role}: " + " ".join(f"{n} {s}" for s, n in sorted(counts.items())))
        text = f"{self.handle} {status.state.name}" + (" | " + " | ".join(parts) if parts else "")
        import shutil

        width = shutil.get_terminal_size((80, 24)).columns - 1
        sys.stderr.write("\r\x1b[K" + text[:width])
        sys.stderr.flush()
        self.shown = True


def watch(runner: Any, handle: str, info: Any, streaming: bool, stream: Any) -> Any:
    """Wait for ``handle`` to end (streaming replica output); Ctrl-C cancels the job."""
    from torchx.cli.cmd_log import LinePrinter, LogStreams

    line = _StatusLine(handle) if sys.stderr.isatty() else None
    printer = LinePrinter(stream, before=line.clear if line else None)
    streams = None
    if streaming:
        app = getattr(info, "_app", None)
        pairs = [(r.name, k) for r in app.roles for k in range(r.num_replicas)] if app else []
        streams = LogStreams(runner, handle, pairs, printer, True)
    log.info("waiting for %s (Ctrl-C cancels it)", handle)
    try:
        status = _wait(runner, handle, line, printer)
    except KeyboardInterrupt:
        if line:
            line.clear()
        log.warning("Ctrl-C: cancelling %s", handle)
        runner.cancel(handle)
        status = runner.wait(handle, wait_interval=_POLL_S)
    if streams is not None:
        streams.join(timeout=10)
    if line:
        with printer.lock:
            line.clear()
    if status is None:
        from torchx.specs.api import UnknownAppException

        raise UnknownAppException(handle)
    return status


def _wait(runner: Any, handle: str, line: _StatusLine | None, printer: Any) -> Any:
    if line is None:
        return runner.wait(handle, wait_interval=_POLL_S)
    while True:
        status = runner.status(handle)
        if status is None or status.is_terminal():
            return status
        with printer.lock:
            line.draw(status)
        time.sleep(_POLL_S)
