"""ray benchmark: submit -> RUNNING and submit -> SUCCEEDED of 1- and 4-replica apps.

Needs a running Ray cluster (``scripts/backends/ray.sh start``; the address is ``$RAY_ADDRESS``
or the one the script recorded). Beside each figure is the floor: a raw
``JobSubmissionClient.submit_job`` of the same ``sleep 1`` as a bare entrypoint (no working_dir,
no driver, no actors), polled the same way. Every app runs ``sleep 1``, so SUCCEEDED includes
that second on both sides. The 4 replicas ask for half a CPU each (the test cluster has 2).
Usage: ``.venv/bin/python benchmarks/bench_ray.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from pathlib import Path

POLL = 0.05


def address() -> str:
    addr = os.environ.get("RAY_ADDRESS")
    if not addr:
        env = Path(os.environ.get("TORCHX_RAY_STATE", "/tmp/torchx-ray")) / "env"
        lines = env.read_text().splitlines()
        addr = next(ln.split("=", 1)[1] for ln in lines if ln.startswith("RAY_ADDRESS="))
    return addr if "://" in addr else f"http://{addr}"


def torchx_app(url: str, replicas: int) -> tuple[float, float, float]:
    """(schedule() returned, RUNNING seen, SUCCEEDED seen), seconds after the submit began."""
    from torchx import specs
    from torchx.schedulers.ray_scheduler import create_scheduler

    sched = create_scheduler("bench")
    role = specs.Role("r", image="bench:none", entrypoint="sleep", args=["1"],
                      num_replicas=replicas,
                      resource=specs.Resource(cpu=1 if replicas == 1 else 0.5,  # type: ignore[arg-type]
                                              gpu=0, memMB=64))
    t0 = time.perf_counter()
    app_id = sched.schedule(sched.submit_dryrun(specs.AppDef("bench", [role]),
                                                {"dashboard_address": url}))
    submitted = time.perf_counter() - t0
    running = None
    while True:
        d = sched.describe(app_id)
        assert d is not None
        now = time.perf_counter() - t0
        if running is None and d.state in (specs.AppState.RUNNING, specs.AppState.SUCCEEDED):
            running = now
        if d.state.is_terminal():
            assert d.state == specs.AppState.SUCCEEDED, d.msg
            sched.delete(app_id)
            return submitted, running or now, now
        time.sleep(POLL)


def raw_job(url: str) -> tuple[float, float, float]:
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(url)
    t0 = time.perf_counter()
    sid = client.submit_job(entrypoint="sleep 1", submission_id=f"bench-raw-{uuid.uuid4().hex}")
    submitted = time.perf_counter() - t0
    running = None
    while True:
        status = client.get_job_status(sid)
        now = time.perf_counter() - t0
        if running is None and status in (JobStatus.RUNNING, JobStatus.SUCCEEDED):
            running = now
        if status.is_terminal():
            assert status == JobStatus.SUCCEEDED, status
            client.delete_job(sid)
            return submitted, running or now, now
        time.sleep(POLL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    url = address()
    raw = [raw_job(url) for _ in range(args.repeat)]
    rows = []
    for n in (1, 4):
        runs = [torchx_app(url, n) for _ in range(args.repeat)]
        rows.append((n, runs))

    def med(xs: list[tuple[float, float, float]], i: int) -> float:
        return statistics.median(x[i] for x in xs)

    print(f"ray benchmark against {url} (median of {args.repeat}; seconds)")
    print(f"{'figure':<46}{'torchx':>9}{'floor':>9}")
    for n, runs in rows:
        for i, what in ((0, "submit returned"), (1, "submit -> RUNNING"),
                        (2, "submit -> SUCCEEDED (sleep 1)")):
            print(f"{f'{n} replica(s): {what}':<46}{med(runs, i):>9.2f}{med(raw, i):>9.2f}")
    print("floor: raw JobSubmissionClient.submit_job('sleep 1'), polled every 50 ms")


if __name__ == "__main__":
    main()
