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
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from torchx.schedulers.gridengine_scheduler import GridEngineScheduler  # noqa: E402
from torchx.specs import AppDef, AppDryRunInfo, AppState, Resource, Role  # noqa: E402

rows: list[tuple[str, str, str, str]] = []


def row(what: str, value: str, floor: str, calls: str = "") -> None:
    rows.append((what, value, floor, calls))
    print(f"  {what}: {value} (floor {floor}) {calls}", file=sys.stderr)


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def app(n: int) -> AppDef:
    return AppDef("bench", [Role("r", image="/tmp", entrypoint="true", num_replicas=n,
                                 resource=Resource(cpu=1, gpu=0, memMB=16))])


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
        for n in (1, 2):
            info = held(sched.submit_dryrun(app(n), {}))  # type: ignore[arg-type]
            script = info.request.materialize()  # type: ignore[attr-defined]
            ours, raw = [], []
            for _ in range(reps):
                t0 = time.perf_counter()
                submitted.append(sched.schedule(info))  # type: ignore[arg-type]
                ours.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                out = subprocess.run(["qsub", "-terse"], input=script, text=True,
                                     capture_output=True, check=True).stdout
                raw.append(time.perf_counter() - t0)
                submitted.append(out.strip().split(".")[0])
            row(f"submit {n}-replica app (median of {reps})", ms(statistics.median(ours)),
                f"raw qsub {ms(statistics.median(raw))}", "1 qsub")

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

    print("\n| measure | torchx gridengine | floor | Grid Engine calls |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
