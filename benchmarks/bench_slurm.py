"""Benchmark the slurm scheduler on the real cluster; prints a table with the floor beside each.

    bash scripts/backends/slurm.sh start && .venv/bin/python benchmarks/bench_slurm.py [--quick]

- submit overhead: ``SlurmScheduler.schedule`` of a 1- and a 2-replica app (median of N) against
  a raw ``sbatch --parsable`` of the very same script (the floor); submitted held (``--hold``
  added to the first component) so nothing runs and the cluster stays idle.
- status of 100 apps: ``describe_many`` of 100 live (held) jobs against one raw
  ``squeue --json`` call; the naive loop of 100 ``describe`` calls; and the same 100 as if
  squeue had forgotten them (cancelled, then squeue's answer emptied; sacct / the jobcomp log
  read for real).
  Slurm calls are counted at the scheduler's ``_run`` seam.
Every job it submits is scancelled at the end.
"""

from __future__ import annotations

import subprocess
import sys
import time

# _batch first: importing it puts the repository root on sys.path
from _batch import app as _app
from _batch import ms, print_table, row, submit_overhead

from torchx.schedulers.slurm_scheduler import SlurmScheduler
from torchx.specs import AppDef, AppDryRunInfo


def app(n: int) -> AppDef:
    return _app(n, 128)


def held(info: AppDryRunInfo[object]) -> AppDryRunInfo[object]:
    info.request.replicas[0].sbatch.append("--hold")  # type: ignore[attr-defined]
    return info


def main() -> None:
    quick = "--quick" in sys.argv
    reps = 5 if quick else 15
    sched = SlurmScheduler("bench")
    submitted: list[str] = []
    try:
        submit_overhead(sched, held, app, ["sbatch", "--parsable"], ";", reps, submitted)

        # 100 live apps: held jobs, never run
        info = held(sched.submit_dryrun(app(1), {}))  # type: ignore[arg-type]
        script = info.request.materialize()  # type: ignore[attr-defined]
        live = []
        for _ in range(100 - len(submitted) if len(submitted) < 100 else 0):
            out = subprocess.run(["sbatch", "--parsable"], input=script, text=True,
                                 capture_output=True, check=True).stdout
            live.append(out.strip().split(";")[0])
        submitted += live
        ids = submitted[:100]
        t0 = time.perf_counter()
        subprocess.run(["squeue", "--json", "--states=all"], capture_output=True, check=True)
        floor = time.perf_counter() - t0

        def timed(fn: object, *args: object) -> tuple[float, int]:
            sched.calls = 0
            t = time.perf_counter()
            fn(*args)  # type: ignore[operator]
            return time.perf_counter() - t, sched.calls

        sched._slurm_config()  # cached once per scheduler, as in any long-lived process
        t, calls = timed(sched.describe_many, ids)
        row("status of 100 live apps (describe_many)", ms(t), f"1 squeue --json {ms(floor)}",
            f"{calls} call(s)")
        t, calls = timed(lambda: [sched.describe(i) for i in ids])
        row("status of 100 live apps (100 x describe)", ms(t), f"1 squeue --json {ms(floor)}",
            f"{calls} call(s)")
        # the same 100 jobs as if slurmctld had purged them (squeue answers no jobs): their
        # records then come from sacct or the jobcomp log, parsed for real
        real_run = sched._run

        def forgotten(cmd: list[str], input: str | None = None) -> str:
            return '{"jobs": []}' if cmd[0] == "squeue" else real_run(cmd, input)

        # cancel them so they end (the jobcomp log records ended jobs only), wait for the records
        subprocess.run(["scancel", *ids], capture_output=True, check=True)
        sched._run = forgotten  # type: ignore[method-assign]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and None in sched.describe_many(ids).values():
            time.sleep(0.5)
        sched.calls = 0
        t0 = time.perf_counter()
        got = sched.describe_many(ids)
        t = time.perf_counter() - t0
        sched._run = real_run  # type: ignore[method-assign]
        acct = "sacct" if "slurmdbd" in sched._slurm_config().get("AccountingStorageType", "") \
            else "jobcomp log"
        found = sum(d is not None for d in got.values())
        row(f"status of 100 apps squeue forgot ({acct}; {found} found)", ms(t),
            f"1 squeue --json {ms(floor)}", f"{sched.calls + 1} call(s)")
    finally:
        if submitted:
            subprocess.run(["scancel", *submitted], capture_output=True)

    print_table("| measure | torchx slurm | floor | Slurm calls |")


if __name__ == "__main__":
    main()
