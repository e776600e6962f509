"""The interface of a ``torchx`` subcommand (builtins and ``torchx.cli.cmds`` plugins)."""

from __future__ import annotations

import abc
import argparse


class SubCommand(abc.ABC):
    """One ``torchx <name>`` command: declare its arguments, then run with them parsed.

    Plugins register the class (not an instance) under the ``torchx.cli.cmds`` entry-point
    group; the key is the command name and a plugin with a builtin's name replaces it.
    """

    @abc.abstractmethod
    def add_arguments(self, subparser: argparse.ArgumentParser) -> None:
        """Register this command's flags and positional arguments."""

    @abc.abstractmethod
    def run(self, args: argparse.Namespace) -> None:
        """Execute the command. Raise a ``TorchXError`` to fail with one line on stderr."""
