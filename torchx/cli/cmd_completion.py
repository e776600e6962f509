"""Shell completion: ``eval "$(torchx completion bash)"`` (or zsh).

The script calls back ``torchx __complete LINE`` with the command line up to the cursor; this
module answers with one candidate per line: subcommands, their options and option choices,
schedulers, components and each component's own options, and local job handles.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from torchx.cli.cmd_base import SubCommand

_BASH = r"""# torchx bash completion: eval "$(torchx completion bash)"
_torchx_complete() {
    local IFS=$'\n'
    COMPREPLY=( $(torchx __complete "${COMP_LINE:0:$COMP_POINT}" 2>/dev/null) )
}
complete -o default -F _torchx_complete torchx
"""

_ZSH = "autoload -U +X bashcompinit && bashcompinit\n" + _BASH

_HANDLE_CMDS = {"status", "describe", "cancel", "delete", "log"}


class CmdCompletion(SubCommand):
    def add_arguments(self, subparser: argparse.ArgumentParser) -> None:
        subparser.add_argument("shell", choices=["bash", "zsh"], help="the shell to complete in")

    def run(self, args: argparse.Namespace) -> None:
        sys.stdout.write(_BASH if args.shell == "bash" else _ZSH)


def _split(line: str) -> tuple[list[str], str]:
    """(complete words, the word being typed) of a partial command line."""
    for close in ("", "'", '"'):  # an open quote: close it, the quoted text is the current word
        try:
            words = shlex.split(line + close)
        except ValueError:
            continue
        if close or not line or not line[-1].isspace():
            return words[:-1], words[-1] if words else ""
        return words, ""
    return line.split(), ""


def complete(argv: list[str]) -> int:
    """``torchx __complete LINE``: print the candidates for the last word of LINE."""
    words, cur = _split(argv[0] if argv else "")
    try:
        found = candidates(words[1:], cur)
    except Exception:  # completion must never print errors into the shell
        return 0
    # bash splits words at `:`; reply with what follows the last one in the current word
    cut = cur.rfind(":") + 1
    for c in sorted(set(found)):
        if c.startswith(cur):
            sys.stdout.write(c[cut:] + "\n")
    return 0


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings}


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _first_positional(words: list[str], opts: dict[str, argparse.Action]) -> int | None:
    i = 0
    while i < len(words):
        w = words[i]
        if w.startswith("-") and w != "--":
            action = opts.get(w.split("=", 1)[0])
            i += 2 if action is not None and _takes_value(action) and "=" not in w else 1
            continue
        return i + 1 if w == "--" and i + 1 < len(words) else (None if w == "--" else i)
    return None


def _value_candidates(action: argparse.Action) -> list[str]:
    if action.choices:
        return [str(c) for c in action.choices]
    if action.dest in ("scheduler", "schedulers"):
        from torchx.schedulers import get_scheduler_names

        return get_scheduler_names()
    if action.dest == "print_name":
        from torchx.specs.finder import get_components

        return list(get_components())
    return []


def _local_handles() -> list[str]:
    from torchx.cli.common import get_runner

    with get_runner() as runner:
        return [a.app_handle for a in runner.list("local_cwd")]


def candidates(words: list[str], cur: str) -> list[str]:
    """Candidates for ``cur`` after ``torchx <words...>``."""
    from torchx.cli.commands import LOG_LEVELS, command_names, load_command
    from torchx.cli.commands import command_name as _command_name

    name = _command_name(words)
    if name is None:
        if words and words[-1] == "--log_level":
            return LOG_LEVELS
        if cur.startswith("-"):
            return ["--help", "--version", "--log_level"]
        return [n for n in command_names() if not n.startswith("_")]
    rest = words[words.index(name) + 1:]
    cmd = load_command(name)
    if cmd is None:
        return []
    parser = argparse.ArgumentParser(prog=f"torchx {name}", add_help=True)
    cmd.add_arguments(parser)
    opts = _options(parser)
    if name == "run":
        pos = _first_positional(rest, opts)
        if pos is not None:
            return _component_candidates(rest[pos], rest[pos + 1:], cur)
    if rest and rest[-1] in opts and _takes_value(opts[rest[-1]]):
        return _value_candidates(opts[rest[-1]])
    if cur.startswith("-"):
        return list(opts)
    positional_done = _first_positional(rest, opts) is not None
    if name == "run":
        from torchx.specs.finder import get_components

        return list(get_components())
    if name == "runopts" and not positional_done:
        from torchx.schedulers import get_scheduler_names

        return get_scheduler_names()
    if name in _HANDLE_CMDS and not positional_done:
        return _local_handles()
    positionals = [a for a in parser._actions if not a.option_strings and a.choices]
    return [str(c) for a in positionals for c in (a.choices or [])]


def _component_candidates(component: str, rest: list[str], cur: str) -> list[str]:
    from torchx.specs.builders import get_component_parser
    from torchx.specs.finder import get_component

    parser: Any = get_component_parser(get_component(component).fn)
    opts = _options(parser)
    if rest and rest[-1] in opts and _takes_value(opts[rest[-1]]):
        action = opts[rest[-1]]
        return [str(c) for c in action.choices] if action.choices else []
    return list(opts) if cur.startswith("-") or not cur else []
