"""Benchmark the gridengine scheduler on the real cluster; prints a table with the floor beside each.

    bash scripts/backends/gridengine.sh start && .venv/bin/python benchmarks/bench_gridengine.py [--quick]

- submit overhead: ``GridEngineScheduler.schedule`` of a 1- and a 2-replica app (median of N)
  against a raw ``qsub -terse`` of the very same script (the floor); submitted on hold (``-h``
  added to the directives) so nothing runs.
- status of 50 apps: ``describe_many`` of 50 queued (held) apps, with and without pending
  reasons; the naive loop of 50 ``describe`` calls; and 50 finished apps (their tasks ran
  ``true``; read from ``qacct`` once accounting has them). The floor is one raw ``qstat -xml``
  (plus one raw ``qacct -j`` for the finished). Grid Engine calls are counted at ``_run``.
Job records go to a throwaway ``TORCHX_HOME``; every job it submits is qdel'ed at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

# _batch first: importing it puts the repository root on sys.path
from _batch import app as _app
from _batch import ms, print_table, row, submit_overhead

from torchx.schedulers.gridengine_scheduler import GridEngineScheduler
from torchx.specs import AppDef, AppDryRunInfo, AppState


def app(n: int) -> AppDef:
    return _app(n, 16)


def held(info: AppDryRunInfo[object]) -> AppDryRunInfo[object]:
    info.request.directives.append("-h")  # type: ignore[attr-defined]
    return info


def timed(sched: GridEngineScheduler, fn: object, *args: object) -> tuple[float, int]:
    sched.calls = 0
    t = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - t, sched.calls


def main() -> None:
    quick = "--quick" in sys.argv
    reps = 5 if quick else 15
    os.environ["TORCHX_HOME"] = tempfile.mkdtemp(prefix="bench-ge-")
    os.chdir(os.environ["TORCHX_HOME"])
    sched = GridEngineScheduler("bench")
    submitted: list[str] = []
    try:
        submit_overhead(sched, held, app, ["qsub", "-terse"], ".", reps, submitted)

        # 50 queued apps (held, never run), submitted through the scheduler so each has a record
        info = held(sched.submit_dryrun(app(2), {}))  # type: ignore[arg-type]
        live = [sched.schedule(info) for _ in range(50)]  # type: ignore[arg-type]
        submitted += live
        t0 = time.perf_counter()
        subprocess.run(["qstat", "-xml", "-g", "d", "-u", "*"], capture_output=True, check=True)
        floor = time.perf_counter() - t0
        t, calls = timed(sched, lambda: sched.describe_many(live, reasons=False))
        row("status of 50 queued apps (describe_many)", ms(t), f"1 qstat -xml {ms(floor)}",
            f"{calls} call(s)")
        t, calls = timed(sched, sched.describe_many, live)
        row("... with pending reasons", ms(t), f"1 qstat -xml {ms(floor)}", f"{calls} call(s)")
        t, calls = timed(sched, lambda: [sched.describe(a) for a in live])
        row("status of 50 queued apps (50 x describe)", ms(t), f"1 qstat -xml {ms(floor)}",
            f"{calls} call(s)")
        subprocess.run(["qdel", *submitted], capture_output=True)

        # 50 finished apps: run them, wait until accounting has every task
        done = [sched.schedule(sched.submit_dryrun(app(1), {})) for _ in range(50)]  # type: ignore[arg-type]
        submitted += done
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            states = {d.state for d in sched.describe_many(done).values() if d}
            if states == {AppState.SUCCEEDED}:
                break
            time.sleep(2)
        t0 = time.perf_counter()
        subprocess.run(["qstat", "-xml", "-g", "d", "-u", "*"], capture_output=True, check=True)
        subprocess.run(["qacct", "-j"], capture_output=True, check=True)
        floor = time.perf_counter() - t0
        t, calls = timed(sched, sched.describe_many, done)
        ok = sum(d is not None and d.state == AppState.SUCCEEDED
                 for d in sched.describe_many(done).values())
        row(f"status of 50 finished apps (describe_many; {ok} SUCCEEDED)", ms(t),
            f"qstat + qacct {ms(floor)}", f"{calls} call(s)")
    finally:
        if submitted:
            subprocess.run(["qdel", *submitted], capture_output=True)

    print_table("| measure | torchx gridengine | floor | Grid Engine calls |")


if __name__ == "__main__":
    main()
