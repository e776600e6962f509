"""MLflow tracker cost beside the raw MLflow client doing the same writes and reads.

    .venv/bin/python benchmarks/bench_mlflow.py [--n 50]

A sqlite store in a throwaway directory. Rows: one ``add_metadata`` of 2 keys (the tracker finds
the run by tag, reads its params, then writes tags and params: floor = one raw ``log_batch`` of
the same params to a run whose id the caller already holds), ``metadata`` of a run (floor: one
raw ``get_run``), ``run_ids`` over N runs (floor: one raw ``search_runs``), and the import of
``torchx.tracker.mlflow`` (which must not import mlflow) beside ``import mlflow``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable


def median_ms(fn: Callable[[int], object], n: int) -> float:
    times = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def import_ms(stmt: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", stmt], check=True)
    return (time.perf_counter() - t) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50)
    n = parser.parse_args().n
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    from torchx.tracker.mlflow import MLflowTracker

    with tempfile.TemporaryDirectory() as d:
        uri = f"sqlite:///{d}/mlflow.db"
        t = MLflowTracker("bench", tracking_uri=uri)
        client = MlflowClient(tracking_uri=uri)
        raw = client.create_run(t.experiment_id).info.run_id
        t.add_metadata("bench://warm", a=0)
        rows = [
            ("add_metadata (2 keys)",
             median_ms(lambda i: t.add_metadata(f"bench://{i}", lr=i, step=i), n),
             median_ms(lambda i: client.log_batch(raw, params=[Param(f"lr{i}", "1"),
                                                              Param(f"s{i}", "1")]), n),
             "raw log_batch"),
            ("metadata(run)", median_ms(lambda i: t.metadata(f"bench://{i}"), n),
             median_ms(lambda i: client.get_run(raw), n), "raw get_run"),
            (f"run_ids() over {n} runs", median_ms(lambda i: list(t.run_ids()), 5),
             median_ms(lambda i: client.search_runs([t.experiment_id]), 5), "raw search_runs"),
        ]
    rows.append(("import torchx.tracker.mlflow", import_ms("import torchx.tracker.mlflow"),
                 import_ms("pass"), "python -c pass"))
    rows.append(("import mlflow (for scale)", import_ms("import mlflow"), import_ms("pass"),
                 "python -c pass"))
    print(f"{'measure':32} {'torchx ms':>10} {'floor ms':>10}  floor")
    for name, ours, floor, what in rows:
        print(f"{name:32} {ours:10.1f} {floor:10.1f}  {what}")


if __name__ == "__main__":
    main()
