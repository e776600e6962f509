"""Helpers shared by the batch-cluster benchmarks (``bench_gridengine``, ``bench_slurm``):
the result table, the test app and the submit-overhead measurement against the raw command.

Importing it puts the repository root on ``sys.path`` (the benchmarks run as scripts).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from torchx.specs import AppDef, AppDryRunInfo, Resource, Role  # noqa: E402

rows: list[tuple[str, str, str, str]] = []


def row(what: str, value: str, floor: str, calls: str = "") -> None:
    rows.append((what, value, floor, calls))
    print(f"  {what}: {value} (floor {floor}) {calls}", file=sys.stderr)


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def app(n: int, mem_mb: int) -> AppDef:
    return AppDef("bench", [Role("r", image="/tmp", entrypoint="true", num_replicas=n,
                                 resource=Resource(cpu=1, gpu=0, memMB=mem_mb))])


def submit_overhead(sched: Any, held: Callable[[AppDryRunInfo[object]], AppDryRunInfo[object]],
                    app_of: Callable[[int], AppDef], raw_cmd: list[str], id_sep: str, reps: int,
                    submitted: list[str]) -> None:
    """A row per 1- and 2-replica app: median ``sched.schedule`` against the raw submit command
    (``raw_cmd`` fed the same script; the job id is its output up to ``id_sep``)."""
    for n in (1, 2):
        info = held(sched.submit_dryrun(app_of(n), {}))
        script = info.request.materialize()  # type: ignore[attr-defined]
        ours, raw = [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            submitted.append(sched.schedule(info))
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            out = subprocess.run(raw_cmd, input=script, text=True,
                                 capture_output=True, check=True).stdout
            raw.append(time.perf_counter() - t0)
            submitted.append(out.strip().split(id_sep)[0])
        row(f"submit {n}-replica app (median of {reps})", ms(statistics.median(ours)),
            f"raw {raw_cmd[0]} {ms(statistics.median(raw))}", f"1 {raw_cmd[0]}")


def print_table(header: str) -> None:
    """The rows as a markdown table under ``header`` (``| a | b |`` ...)."""
    print(f"\n{header}\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
