"""aws_batch benchmark on the moto server: submit and status of N jobs, API calls counted.

Needs ``scripts/backends/moto.sh start`` (moto on 127.0.0.1:5077; nothing reaches AWS). Prints one
table: torchx's time and Batch API calls beside the raw-boto3 floor for the same work
(``submit_job`` per job; one ``describe_jobs`` per 100 ids).

The N jobs depend on a "blocker" job (``sleep 300``), so moto keeps them PENDING and starts no
containers: the figures are the API path, not Docker. The blocker is terminated at the end, which
fails the waiting jobs without running them. Usage:
``.venv/bin/python benchmarks/bench_aws.py [--jobs 100]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.integration.aws import moto_env  # noqa: E402

BUSYBOX = "local/busybox:1"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=100)
    args = ap.parse_args()
    n = args.jobs
    if not moto_env.server_up():
        sys.exit(f"no moto server on {moto_env.ENDPOINT}: run `scripts/backends/moto.sh start`")
    moto_env.use_moto()
    moto_env.ensure_queue()
    queue = moto_env.QUEUE

    import torchx.specs as specs
    from torchx.schedulers.aws_batch_scheduler import create_scheduler

    batch = moto_env.client("batch")
    raw_calls = 0

    def raw(op: str, **kw: Any) -> Any:
        nonlocal raw_calls
        raw_calls += 1
        return getattr(batch, op)(**kw)

    jd = raw("register_job_definition", jobDefinitionName="bench-blocker", type="container",
             containerProperties={"image": BUSYBOX, "command": ["sleep", "300"], "vcpus": 1,
                                  "memory": 64})["jobDefinitionArn"]
    blocker = raw("submit_job", jobName="bench-blocker", jobQueue=queue, jobDefinition=jd)["jobId"]
    depends = [{"jobId": blocker}]
    rows: list[tuple[str, float, int, float, int]] = []

    # ---- submit N: torchx (RegisterJobDefinition + SubmitJob each) vs raw submit_job
    sched = create_scheduler("bench")
    app = specs.AppDef("bench", roles=[specs.Role("r", image=BUSYBOX, entrypoint="true")])
    infos = []
    for _ in range(n):
        info = sched.submit_dryrun(app, {"queue": queue})
        base = info.request.submit_kwargs
        info.request.submit_kwargs = lambda arn, base=base: {**base(arn), "dependsOn": depends}
        infos.append(info)
    sched.api_calls = 0
    t = time.perf_counter()
    app_ids = [sched.schedule(info) for info in infos]
    ours, ours_calls = time.perf_counter() - t, sched.api_calls
    raw_calls = 0
    t = time.perf_counter()
    raw_ids = [raw("submit_job", jobName=f"raw-{i}", jobQueue=queue, jobDefinition=jd,
                   dependsOn=depends)["jobId"] for i in range(n)]
    rows.append((f"submit {n} jobs", ours, ours_calls, time.perf_counter() - t, raw_calls))

    # ---- status of N: same scheduler (job ids known), fresh one (ids found by name)
    raw_calls = 0
    t = time.perf_counter()
    for i in range(0, n, 100):
        raw("describe_jobs", jobs=raw_ids[i:i + 100])
    floor, floor_calls = time.perf_counter() - t, raw_calls
    sched.api_calls = 0
    t = time.perf_counter()
    states = sched.describe_many(app_ids)
    rows.append((f"status of {n} (ids known)", time.perf_counter() - t, sched.api_calls, floor,
                 floor_calls))
    assert all(d is not None for d in states.values())
    fresh = create_scheduler("bench")
    t = time.perf_counter()
    states = fresh.describe_many(app_ids)
    rows.append((f"status of {n} (new process: by name)", time.perf_counter() - t,
                 fresh.api_calls, floor, floor_calls))
    assert all(d is not None for d in states.values())
    sched.api_calls = 0
    t = time.perf_counter()
    for app_id in app_ids[:10]:
        sched.describe(app_id)
    rows.append(("status of 10, one describe() each", time.perf_counter() - t, sched.api_calls,
                 floor / max(n // 10, 1), 10))

    raw("terminate_job", jobId=blocker, reason="bench done")  # the waiting jobs then fail

    print(f"moto {moto_env.ENDPOINT}, queue {queue}; floor = raw boto3 on the same server")
    print(f"{'measurement':<38} {'torchx (s)':>10} {'calls':>6} {'floor (s)':>10} {'calls':>6}")
    for name, t_ours, c_ours, t_floor, c_floor in rows:
        print(f"{name:<38} {t_ours:10.3f} {c_ours:6d} {t_floor:10.3f} {c_floor:6d}")


if __name__ == "__main__":
    main()
