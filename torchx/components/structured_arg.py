"""Parsing of the structured component arguments ``--name experiment/run`` and ``-j``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from torchx.specs.builders import ComponentArgsError

DEFAULT_EXPERIMENT = "default-experiment"

_J_RE = re.compile(r"^(?:(?:(?P<min>\d+):)?(?P<nodes>\d+)x)?(?P<nproc>\d+)$")


def _run_name_from(m: str | None, script: str | None) -> str:
    """The module's last component or the script's base name without extension."""
    if m:
        return m.rpartition(".")[2]
    if script:
        return os.path.splitext(os.path.basename(script))[0]
    return ""


@dataclass
class StructuredNameArgument:
    """``--name experiment/run``: either part may be empty (``/run``, ``exp/``, ``run``).

    The experiment defaults to ``default-experiment``; the run name to the script's base name
    (or the module's last component).
    """

    experiment_name: str
    run_name: str

    @staticmethod
    def parse_from(name: str, m: str | None = None, script: str | None = None,
                   default_experiment_name: str = DEFAULT_EXPERIMENT) -> StructuredNameArgument:
        if "/" in name:
            exp, _, run = name.partition("/")
            if "/" in run:
                raise ComponentArgsError(
                    f"`--name {name}` has more than one `/`: use `experiment/run`"
                )
        else:
            exp, run = "", name
        run = run or _run_name_from(m, script)
        if not run:
            raise ComponentArgsError(
                f"cannot derive a run name from `--name {name}`: give `--name experiment/run`"
                " or a --script / -m"
            )
        return StructuredNameArgument(exp or default_experiment_name, run)


@dataclass
class StructuredJArgument:
    """``-j N`` (N procs on one node), ``-j NxM`` (N nodes x M procs), ``-j MIN:MAXxM`` (elastic)."""

    nnodes: int
    nproc_per_node: int
    min_nnodes: int

    @property
    def nnodes_rep(self) -> str:
        """``N`` or ``MIN:MAX`` as torchrun's ``--nnodes`` takes it."""
        return str(self.nnodes) if self.min_nnodes == self.nnodes else f"{self.min_nnodes}:{self.nnodes}"

    @staticmethod
    def parse_from(j: str) -> StructuredJArgument:
        m = _J_RE.match(j.strip())
        if not m:
            raise ComponentArgsError(
                f"bad `-j {j}`: use `-j N` (N processes on one node), `-j NxM` (N nodes x M"
                " processes) or `-j MIN:MAXxM` (elastic, MIN to MAX nodes), e.g. `-j 2x4`"
            )
        nproc = int(m.group("nproc"))
        nodes = int(m.group("nodes") or 1)
        min_nodes = int(m.group("min") or nodes)
        if nproc < 1 or nodes < 1 or min_nodes < 1:
            raise ComponentArgsError(f"bad `-j {j}`: node and process counts must be at least 1")
        if min_nodes > nodes:
            raise ComponentArgsError(
                f"bad `-j {j}`: the minimum node count {min_nodes} exceeds the maximum {nodes}"
            )
        return StructuredJArgument(nnodes=nodes, nproc_per_node=nproc, min_nnodes=min_nodes)
