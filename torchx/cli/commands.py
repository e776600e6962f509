"""The ``torchx`` command table: builtin subcommands, plugin lookup, the command-name scan.

Shared by :py:mod:`torchx.cli.main` (parsing) and :py:mod:`torchx.cli.cmd_completion` (shell
completion), so neither imports the other's module. Standard library only; entry points are read
only when a name must be resolved.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs startup time; annotations are strings here
    from typing import Any

__all__ = ["BUILTIN_CMDS", "LOG_LEVELS", "command_name", "command_names", "load_command"]

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


def command_name(argv: list[str]) -> str | None:
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
