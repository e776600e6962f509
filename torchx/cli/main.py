"""The ``torchx`` command: a static table of subcommands and the one error boundary.

``torchx --help`` and ``--version`` import only this module and argparse. For any other
command, the ``torchx.cli.cmds`` entry points are read (a plugin with a builtin's name
replaces it) and only the chosen command's module is imported.

Exit codes: 0 success; 1 a waited-for job did not succeed, an app is missing, or the backend
failed; 2 usage errors (bad command, option, component, scheduler, handle or config). Each error
class carries its code (``TorchXError.exit_code``); :py:func:`exit_code` reads it.
Every error is one line on stderr naming the fix; ``--log_level DEBUG`` adds the traceback.
"""

from __future__ import annotations

import argparse
import sys

from torchx.cli.commands import BUILTIN_CMDS, LOG_LEVELS, command_names, load_command
from torchx.cli.commands import command_name as _command_name

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs startup time; annotations are strings here
    from typing import Any, NoReturn

class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"torchx: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


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


def exit_code(e: BaseException) -> int | None:
    """The exit code an error ends ``torchx`` with; None for a bug (an internal error).

    A TorchXError carries its own (``exit_code``: 2 for the user's input, 1 otherwise). A bare
    ValueError/KeyError is a component or plugin rejecting its arguments: 2. An OSError: 1.
    """
    from torchx.specs.errors import TorchXError

    if isinstance(e, TorchXError):
        return e.exit_code
    if type(e) is KeyError and (not e.args or " " not in str(e.args[0])):
        return None  # a bare missing key is a bug, not a message
    if isinstance(e, (ValueError, KeyError)):
        return 2
    if isinstance(e, OSError):
        return 1
    return None


def _report(e: BaseException, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exc()
    if isinstance(e, KeyError) and e.args:
        msg = str(e.args[0])
    else:
        msg = str(e) or type(e).__name__
    msg = "; ".join(line.strip() for line in msg.splitlines() if line.strip())
    code = exit_code(e)
    if code is not None:
        sys.stderr.write(f"torchx: error: {msg}\n")
        return code
    if type(e) is KeyError:
        msg = repr(msg)
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
