"""The ``torchx`` command: a static table of subcommands and the one error boundary.

``torchx --help`` and ``--version`` import only this module and argparse. For any other
command, the ``torchx.cli.cmds`` entry points are read (a plugin with a builtin's name
replaces it) and only the chosen command's module is imported.

Exit codes: 0 success; 1 a waited-for job did not succeed, an app is missing, or the backend
failed; 2 usage errors (bad command, option, component, scheduler, handle or config).
Every error is one line on stderr naming the fix; ``--log_level DEBUG`` adds the traceback.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs startup time; annotations are strings here
    from typing import Any, NoReturn

BUILTIN_CMDS: dict[str, tuple[str, str]] = {
    "builtins": ("torchx.cli.cmd_builtins:CmdBuiltins", "list the builtin components"),
    "cancel": ("torchx.cli.cmd_cancel:CmdCancel", "cancel a job"),
    "completion": ("torchx.cli.cmd_completion:CmdCompletion", "print a shell completion script"),
    "configure": ("torchx.cli.cmd_configure:CmdConfigure", "write a starter .torchxconfig"),
    "delete": ("torchx.cli.cmd_delete:CmdDelete", "cancel a job and remove it from the scheduler"),
    "describe": ("torchx.cli.cmd_describe:CmdDescribe", "show the AppDef of a job"),
    "list": ("torchx.cli.cmd_list:CmdList", "list jobs (handle, name, state, age)"),
    "log": ("torchx.cli.cmd_log:CmdLog", "print or follow a job's log lines"),
    "run": ("torchx.cli.cmd_run:CmdRun", "run a component on a scheduler"),
    "runopts": ("torchx.cli.cmd_runopts:CmdRunopts", "show the run options of schedulers"),
    "status": ("torchx.cli.cmd_status:CmdStatus", "show the status of a job"),
    "tracker": ("torchx.cli.cmd_tracker:CmdTracker", "query tracked runs, metadata, artifacts"),
}
"""Builtin command -> (``module:Class``, one-line help). Modules are imported on use."""

LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

# error class names (anywhere in the MRO) that are the user's input, not the backend: exit 2
_USAGE_ERRORS = frozenset({
    "InvalidRunConfigException", "MalformedAppHandleException", "UnknownSchedulerException",
    "ComponentNotFoundException", "ComponentValidationException", "ComponentArgsError",
    "UnknownTrackerException", "ConfigError", "UsageError", "KeyError", "ValueError",
})


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"torchx: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def _command_name(argv: list[str]) -> str | None:
    """The first token that is not a top-level option (or an option's value)."""
    skip = False
    for tok in argv:
        if skip:
            skip = False
        elif tok == "--log_level":
            skip = True
        elif not tok.startswith("-"):
            return tok
    return None


def _top_parser() -> tuple[_Parser, Any]:
    from torchx import __version__

    parser = _Parser(
        prog="torchx",
        description="torchx: run, watch, tail, cancel and list PyTorch jobs on any scheduler.",
        epilog="`torchx COMMAND --help` shows a command's options. Installed plugins"
        " (entry-point group torchx.cli.cmds) may add commands.",
    )
    parser.add_argument("--version", action="version", version=f"torchx {__version__}")
    parser.add_argument(
        "--log_level", default="INFO", type=str.upper, choices=LOG_LEVELS, metavar="LEVEL",
        help="logging level on stderr: " + ", ".join(LOG_LEVELS) + " (default: INFO;"
        " DEBUG also prints tracebacks)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    return parser, sub


def load_command(name: str) -> Any:
    """The SubCommand instance for ``name`` (a plugin first); None if there is none."""
    from torchx.util.entrypoints import load

    cls = load("torchx.cli.cmds", name)
    if cls is None and name in BUILTIN_CMDS:
        import importlib

        module, _, attr = BUILTIN_CMDS[name][0].partition(":")
        cls = getattr(importlib.import_module(module), attr)
    return cls() if cls is not None else None


def command_names() -> list[str]:
    """Every command name: builtins and plugins (reads entry points)."""
    from torchx.util.entrypoints import entry_points

    return sorted(set(BUILTIN_CMDS) | set(entry_points("torchx.cli.cmds")))


def main(argv: list[str] | None = None) -> None:
    """Run ``torchx`` with ``argv`` (default ``sys.argv[1:]``) and exit with its code."""
    sys.exit(run_cli(sys.argv[1:] if argv is None else list(argv)))


def run_cli(argv: list[str]) -> int:
    """Parse and run one command; returns the exit code."""
    if argv[:1] == ["__complete"]:
        from torchx.cli.cmd_completion import complete

        return complete(argv[1:])
    parser, sub = _top_parser()
    name = _command_name(argv)
    if name is None:
        for cmd, (_, help_) in BUILTIN_CMDS.items():
            sub.add_parser(cmd, help=help_)
        args = parser.parse_args(argv)
        parser.print_usage(sys.stderr)
        sys.stderr.write("torchx: error: choose a COMMAND (see `torchx --help`)\n")
        return 2
    _setup_logging(_log_level(argv))
    debug = _log_level(argv) == "DEBUG"
    try:
        cmd = load_command(name)
        if cmd is None:
            from torchx.util.suggest import suggest as _suggest

            parser.error(f"unknown command `{name}`" + _suggest(name, command_names(), "commands"))
        help_ = BUILTIN_CMDS.get(name, ("", ""))[1]
        cmd.add_arguments(sub.add_parser(name, help=help_, description=help_ or None))
        args = parser.parse_args(argv)
        cmd.run(args)
    except KeyboardInterrupt:
        sys.stderr.write("torchx: interrupted\n")
        return 130
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except SystemExit:
        raise
    except Exception as e:  # the one error boundary of the CLI
        return _report(e, debug)
    return 0


def _report(e: BaseException, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exc()
    names = {c.__name__ for c in type(e).__mro__}
    if isinstance(e, KeyError) and e.args:
        msg = str(e.args[0])
    else:
        msg = str(e) or type(e).__name__
    msg = "; ".join(line.strip() for line in msg.splitlines() if line.strip())
    if type(e) is KeyError and " " not in msg:  # a bare missing key is a bug, not a message
        names, msg = set(), repr(msg)
    if "TorchXError" in names or names & _USAGE_ERRORS:
        code = 2 if names & _USAGE_ERRORS else 1
        if "UnknownAppException" in names or "AppStatusError" in names:
            code = 1
        sys.stderr.write(f"torchx: error: {msg}\n")
        return code
    if isinstance(e, OSError):
        sys.stderr.write(f"torchx: error: {msg}\n")
        return 1
    hint = "" if debug else " (rerun with `torchx --log_level DEBUG ...` for the traceback)"
    sys.stderr.write(f"torchx: internal error: {type(e).__name__}: {msg}{hint}\n")
    return 1


def _log_level(argv: list[str]) -> str:
    for i, tok in enumerate(argv):
        if tok == "--log_level" and i + 1 < len(argv):
            return argv[i + 1].upper()
        if tok.startswith("--log_level="):
            return tok.partition("=")[2].upper()
        if not tok.startswith("-"):
            break
    return "INFO"


def _setup_logging(level: str) -> None:
    import logging

    class _Formatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            msg = record.getMessage()
            if record.levelno >= logging.WARNING:
                return f"torchx: {record.levelname.lower()}: {msg}"
            return f"torchx: {msg}"

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    lvl = getattr(logging, level, logging.INFO)
    root.setLevel(lvl if lvl == logging.DEBUG else max(lvl, logging.WARNING))
    logging.getLogger("torchx").setLevel(lvl)


if __name__ == "__main__":
    main()
