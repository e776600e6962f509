"""Benchmark the Runner on local_cwd; prints a table with the physical floor beside each figure.

    .venv/bin/python benchmarks/bench_local.py [--quick]

Uses a throwaway TORCHX_HOME. Figures (median of repeats where noted):

- run() -> every replica started (state file shows no PENDING replica), for N replicas of
  /bin/true; floor: starting N bare ``subprocess.Popen`` of /bin/true.
- run() -> wait() returning SUCCEEDED for the same apps; floor: Popen + wait of N.
- app end -> wait() returning: a replica prints time.time() as its last act; floor: the same
  gap for a bare Popen + wait.
- 50 sequential ``utils.echo`` jobs run and waited; floor: 50 bare Popen of echo.
- ``torchx run utils.echo`` wall time (whole CLI); floor: ``python -c pass``.
- cancel() -> wait() returning CANCELLED for a replica that exits on SIGTERM (the stop must
  end when the tree is gone, not at the grace period); floor: SIGTERM + wait of a bare Popen.
- ``list()`` over 200 apps; floor: listing the journal and reading each state file.
- ``log_lines`` over 1,000,000 lines: time and peak RSS growth; floor: iterating the file.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from torchx.runner import Runner, get_runner  # noqa: E402
from torchx.specs import AppDef, AppState, Role, parse_app_handle  # noqa: E402

PY = sys.executable
rows: list[tuple[str, str, str, str]] = []


def row(what: str, value: str, floor: str, target: str = "") -> None:
    rows.append((what, value, floor, target))
    print(f"  {what}: {value} (floor {floor}) {target}", file=sys.stderr)


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def state_of(handle: str) -> dict[str, object]:
    app_id = parse_app_handle(handle).app_id
    path = os.path.join(os.environ["TORCHX_HOME"], "apps", app_id, "state.json")
    try:
        with open(path) as f:
            return json.load(f)  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


def bench_replicas(runner: Runner, sizes: list[int]) -> None:
    for n in sizes:
        app = AppDef("true", [Role("t", image="", entrypoint="/bin/true", num_replicas=n)])
        t0 = time.perf_counter()
        h = runner.run(app)
        while True:
            st = state_of(h)
            reps = st.get("replicas") or []
            if len(reps) == n and all(r["state"] != "PENDING" for r in reps):  # type: ignore[index]
                break
            time.sleep(0.001)
        started = time.perf_counter() - t0
        final = runner.wait(h)
        done = time.perf_counter() - t0
        assert final is not None and final.state == AppState.SUCCEEDED, final
        t0 = time.perf_counter()
        procs = [subprocess.Popen(["/bin/true"]) for _ in range(n)]
        floor_start = time.perf_counter() - t0
        for p in procs:
            p.wait()
        floor_done = time.perf_counter() - t0
        row(f"run() -> {n} replicas started", ms(started), ms(floor_start))
        row(f"run() -> {n} replicas SUCCEEDED", ms(done), ms(floor_done),
            "target < 1 s" if n == 128 else "")


def bench_wait_latency(runner: Runner, repeats: int) -> None:
    prog = "import time; time.sleep(0.2); print(repr(time.time()))"
    gaps, floors = [], []
    for _ in range(repeats):
        h = runner.run(AppDef("end", [Role("w", image="", entrypoint=PY, args=["-c", prog])]))
        runner.wait(h, wait_interval=10)
        returned = time.time()
        (line,) = runner.log_lines(h, "w", 0)
        gaps.append(returned - float(line))
        p = subprocess.Popen([PY, "-c", prog], stdout=subprocess.PIPE, text=True)
        out, _ = p.communicate()
        floors.append(time.time() - float(out))
    row(f"app end -> wait() returns (median of {repeats})", ms(statistics.median(gaps)),
        ms(statistics.median(floors)), "target < 100 ms")
    row(f"app end -> wait() returns (max of {repeats})", ms(max(gaps)), ms(max(floors)))


def bench_echo(runner: Runner, n: int) -> None:
    t0 = time.perf_counter()
    for _ in range(n):
        h = runner.run_component("utils.echo", ["--msg", "hi"])
        final = runner.wait(h)
        assert final is not None and final.state == AppState.SUCCEEDED
    total = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.Popen(["echo", "hi"], stdout=subprocess.DEVNULL).wait()
    floor = time.perf_counter() - t0
    row(f"{n} sequential utils.echo run+wait", f"{total:.2f} s ({ms(total / n)} each)",
        f"{floor:.2f} s")


def bench_cli(repeats: int) -> None:
    exe = os.path.join(os.path.dirname(PY), "torchx")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([exe, "run", "utils.echo"], env=env, capture_output=True)  # warm caches
    walls, floors = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = subprocess.run([exe, "run", "utils.echo", "--msg", "hi"], env=env,
                             capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        assert out.returncode == 0, out.stderr
        t0 = time.perf_counter()
        subprocess.run([PY, "-c", "pass"], env=env)
        floors.append(time.perf_counter() - t0)
    row(f"`torchx run utils.echo` wall (median of {repeats})", ms(statistics.median(walls)),
        ms(statistics.median(floors)), "target < 250 ms")


def bench_cancel(runner: Runner, repeats: int) -> None:
    gaps, floors = [], []
    for _ in range(repeats):
        h = runner.run(AppDef("c", [Role("s", image="", entrypoint="sleep", args=["600"])]))
        state = os.path.join(os.environ["TORCHX_HOME"], "apps", parse_app_handle(h).app_id,
                             "state.json")
        while True:  # the replica runs
            try:
                with open(state) as f:
                    if json.load(f)["replicas"][0]["state"] == "RUNNING":
                        break
            except (OSError, ValueError, KeyError, IndexError):
                pass
            time.sleep(0.005)
        t0 = time.perf_counter()
        runner.cancel(h)
        final = runner.wait(h, wait_interval=60)
        gaps.append(time.perf_counter() - t0)
        assert final is not None and final.state == AppState.CANCELLED
        p = subprocess.Popen(["sleep", "600"])
        t0 = time.perf_counter()
        p.terminate()
        p.wait()
        floors.append(time.perf_counter() - t0)
    row(f"cancel -> CANCELLED, replica exits on SIGTERM (median of {repeats})",
        ms(statistics.median(gaps)), ms(statistics.median(floors)), "grace is 5 s: far below")


def bench_list(runner: Runner, total: int) -> None:
    have = len(runner.list("local_cwd"))
    handles = [runner.run(AppDef("l", [Role("t", image="", entrypoint="/bin/true")]))
               for _ in range(max(0, total - have))]
    for h in handles:
        runner.wait(h)
    apps_dir = os.path.join(os.environ["TORCHX_HOME"], "apps")
    times, floors = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        n = len(runner.list("local_cwd"))
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for name in os.listdir(apps_dir):
            with open(os.path.join(apps_dir, name, "state.json"), "rb") as f:
                f.read()
        floors.append(time.perf_counter() - t0)
    row(f"list() over {n} apps (median of 5)", ms(statistics.median(times)),
        ms(statistics.median(floors)))


_READER = """
import resource, sys, time
sys.path.insert(0, {root!r})
mode, arg = sys.argv[1], sys.argv[2]
if mode == "torchx":
    from torchx.runner import get_runner
    r = get_runner()
    r.status(arg)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
n = 0
lines = r.log_lines(arg, "w", 0) if mode == "torchx" else open(arg)
for _ in lines:
    n += 1
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
print(n, dt, peak / 1024)
"""


def bench_log_lines(runner: Runner, n: int) -> None:
    prog = f"import sys\nw = sys.stdout.write\nfor i in range({n}):\n    w('line %d of the log\\n' % i)\n"
    h = runner.run(AppDef("million", [Role("w", image="", entrypoint=PY, args=["-c", prog])]))
    final = runner.wait(h)
    assert final is not None and final.state == AppState.SUCCEEDED
    code = _READER.format(root=ROOT)
    app_id = parse_app_handle(h).app_id
    path = os.path.join(os.environ["TORCHX_HOME"], "apps", app_id, "logs", "w", "0",
                        "combined.log")

    def measure(mode: str, arg: str) -> tuple[float, float]:
        best = (1e9, 0.0)
        for _ in range(3):
            out = subprocess.run([PY, "-c", code, mode, arg], capture_output=True, text=True)
            count, dt, peak = out.stdout.split()
            assert int(count) == n, out.stderr
            best = min(best, (float(dt), float(peak)))
        return best

    t, mem = measure("torchx", h)
    ft, fmem = measure("file", path)
    row(f"log_lines over {n:,} lines (best of 3)", ms(t), ms(ft), "target < 600 ms")
    row(f"log_lines peak RSS growth over {n:,} lines", f"{mem:.1f} MB", f"{fmem:.1f} MB",
        "target < 50 MB")


def main() -> None:
    quick = "--quick" in sys.argv
    with tempfile.TemporaryDirectory() as home:
        os.environ["TORCHX_HOME"] = home
        with get_runner() as runner:
            runner.wait(runner.run(AppDef("warmup", [Role("t", image="", entrypoint="true")])))
            bench_replicas(runner, [1, 8, 32, 128] if quick else [1, 8, 32, 128, 512])
            bench_wait_latency(runner, 5 if quick else 10)
            bench_echo(runner, 10 if quick else 50)
            bench_cli(3 if quick else 7)
            bench_cancel(runner, 5 if quick else 10)
            bench_list(runner, 200)
            bench_log_lines(runner, 1_000_000)
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    head = ("measure", "torchx", "floor", "target")
    w = [max(a, len(b)) for a, b in zip(w, head, strict=True)]
    print(f"local_cwd benchmarks ({os.cpu_count()} cores)")
    print("  ".join(h.ljust(x) for h, x in zip(head, w, strict=True)))
    print("  ".join("-" * x for x in w))
    for r in rows:
        print("  ".join(c.ljust(x) for c, x in zip(r, w, strict=True)))


if __name__ == "__main__":
    main()
