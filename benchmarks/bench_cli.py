"""CLI latency: wall time of whole ``torchx`` invocations, the interpreter's floor beside each.

    .venv/bin/python benchmarks/bench_cli.py [--repeat 15]

Each figure is the median wall time of running the console script (``.venv/bin/torchx``) in
a fresh process with a throwaway TORCHX_HOME. The floor is ``python -c pass`` (the venv's
interpreter with its site-packages, as the console script starts), timed in alternation with
each row's command so both see the same machine load; the ratio is figure/floor.
Targets (issue 4): ``--help`` within 3x of the floor, ``run --dryrun utils.echo`` under
120 ms, a whole ``run utils.echo`` (launch, wait, stream the output) under 250 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.path.dirname(sys.executable)
TORCHX = os.path.join(BIN, "torchx")


def wall(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {p.stderr.decode()[-500:]}")
    return dt


def paired_ms(
    cmd: list[str], floor: list[str], env: dict[str, str], cwd: str, repeat: int
) -> tuple[float, float]:
    """Medians (ms) of ``cmd`` and ``floor``, run alternately so load spikes hit both alike."""
    wall(cmd, env, cwd)  # warm the page cache and .pyc files
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        times[0].append(wall(cmd, env, cwd))
        times[1].append(wall(floor, env, cwd))
    return statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TORCHX_HOME=os.path.join(tmp, "home"),
                   PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
        env.pop("TORCHXCONFIG", None)
        handle = subprocess.run(
            [TORCHX, "run", "--detach", "utils.echo"], env=env, cwd=tmp, check=True,
            capture_output=True, text=True,
        ).stdout.strip()
        floor = [sys.executable, "-c", "pass"]
        rows: list[tuple[str, float, float, str]] = []
        cases: list[tuple[str, list[str], str]] = [
            ("torchx --help", ["--help"], "3x floor"),
            ("torchx --version", ["--version"], ""),
            ("torchx builtins", ["builtins"], ""),
            ("torchx runopts", ["runopts"], ""),
            ("torchx runopts local_cwd", ["runopts", "local_cwd"], ""),
            ("torchx run --dryrun utils.echo", ["run", "--dryrun", "utils.echo"], "< 120 ms"),
            ("torchx status HANDLE", ["status", handle], ""),
            ("torchx list", ["list"], ""),
            ("torchx run utils.echo (whole job)", ["run", "utils.echo"], "< 250 ms"),
        ]
        for label, argv, target in cases:
            ms, floor_ms = paired_ms([TORCHX, *argv], floor, env, tmp, args.repeat)
            rows.append((label, ms, floor_ms, target))
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"CLI latency, median of {args.repeat} runs (ms); floor = python -c pass, timed"
          f" alternately with each row; load average {load} on {os.cpu_count()} CPUs")
    print(f"{'command':<36} {'ms':>7} {'floor':>7} {'x floor':>8}  target")
    for label, ms, floor_ms, target in rows:
        print(f"{label:<36} {ms:>7.1f} {floor_ms:>7.1f} {ms / floor_ms:>8.2f}  {target}")


if __name__ == "__main__":
    main()
