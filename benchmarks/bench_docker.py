"""local_docker benchmark: workspace image builds and container start overhead.

Needs a running Docker Engine with local/busybox:1 (``scripts/backends/docker.sh start``).
Prints one table; beside each figure is the physical floor (or raw-Docker reference) for the
same work. Usage: ``.venv/bin/python benchmarks/bench_docker.py [--files 1000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BASE = "local/busybox:1"


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def median(fn: Callable[[], object], repeat: int, setup: Callable[[], object] | None = None) -> float:
    times = []
    for _ in range(repeat):
        if setup:
            setup()
        times.append(timed(fn))
    return statistics.median(times)


def make_project(root: Path, files: int) -> int:
    """``files`` small sources plus a few 2 MB blobs; returns the total size in bytes."""
    total = 0
    for i in range(files):
        p = root / f"pkg{i % 20}" / f"mod{i}.py"
        p.parent.mkdir(parents=True, exist_ok=True)
        data = (f"# module {i}\n" + "x = 1\n" * 600).encode()
        p.write_bytes(data)
        total += len(data)
    for i in range(10):
        blob = os.urandom(2 << 20)
        (root / f"weights{i}.bin").write_bytes(blob)
        total += len(blob)
    return total


def read_all(root: Path) -> None:
    for dirpath, _, names in os.walk(root):
        for n in names:
            hashlib.sha256(Path(dirpath, n).read_bytes()).digest()


def raw_build(root: Path, tag: str, copy: str = "COPY . .") -> None:
    df = root.parent / "raw.Dockerfile"
    df.write_text(f"FROM {BASE}\n{copy}\n")
    subprocess.run(["docker", "build", "-q", "-f", str(df), "-t", tag, str(root)], check=True,
                   capture_output=True)


def one_file_layer(tmp: Path, tag: str) -> None:
    """The least Docker does to add one small file as a layer."""
    ctx = tmp / "one"
    ctx.mkdir(exist_ok=True)
    (ctx / "mod0.py").write_text(str(time.time()))
    raw_build(ctx, tag, "COPY mod0.py /pkg0/")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from torchx import specs
    from torchx.schedulers.docker_scheduler import create_scheduler
    from torchx.workspace.docker_workspace import connect

    tmp = Path(tempfile.mkdtemp(prefix="torchx-bench-"))
    os.environ["TORCHX_CACHE_DIR"] = str(tmp / "cache")  # fresh build lineages
    client = connect()
    had_network = any(n.name == "torchx" for n in client.networks.list(names=["torchx"]))
    sched = create_scheduler("bench", docker_client=client)
    proj = tmp / "proj"
    size = make_project(proj, args.files)
    tags: set[str] = set()
    rows: list[tuple[str, float, float, str]] = []

    def build() -> str:
        role = specs.Role("r", image=BASE, workspace=specs.Workspace({str(proj): ""}))
        sched.build_workspaces([role], {"quiet": True}, dryrun=False)
        tags.add(role.image)
        return role.image

    def drop_ours() -> None:
        for t in list(tags):
            client.images.remove(t, force=True)
            tags.discard(t)

    def drop_raw() -> None:
        if client.images.list(name="torchx-bench-raw"):
            client.images.remove("torchx-bench-raw:1", force=True)
        client.images.prune(filters={"dangling": True})

    counter = [0]

    def touch_one() -> None:
        counter[0] += 1
        (proj / "pkg0" / "mod0.py").write_text(f"x = {counter[0]}\n")

    try:
        r = args.repeat
        cold_t: list[float] = []
        raw_t: list[float] = []
        for _ in range(r):  # interleaved, so both see the same load on a shared machine
            drop_ours()
            cold_t.append(timed(build))
            drop_raw()
            raw_t.append(timed(lambda: raw_build(proj, "torchx-bench-raw:1")))
        cold, raw_cold = statistics.median(cold_t), statistics.median(raw_t)
        rows.append(("workspace build, cold", cold, raw_cold, "raw `docker build` (FROM + COPY .)"))
        build()
        warm = median(build, r)
        floor = median(lambda: read_all(proj), r)
        rows.append(("workspace build, warm unchanged", warm, floor, "read + sha256 every file"))
        one = median(build, r, setup=touch_one)
        layer = median(lambda: one_file_layer(tmp, "torchx-bench-raw:1"), r)
        rows.append(("workspace build, one file changed", one, floor + layer,
                     "read + sha256 every file, + raw `docker build` of a 1-file layer"))
        raw_one = median(lambda: raw_build(proj, "torchx-bench-raw:1"), r, setup=touch_one)
        rows.append(("  naive full rebuild (raw docker build)", raw_one, 0.0, ""))

        app = specs.AppDef("bench", roles=[specs.Role("r", image=BASE, entrypoint="true")])

        def ours() -> None:
            app_id = sched.schedule(sched.submit_dryrun(app, {}))
            while not (d := sched.describe(app_id)) or not d.state.is_terminal():
                time.sleep(0.01)
            sched.delete(app_id)

        def raw_cli() -> None:
            subprocess.run(["docker", "run", "--rm", "--init", BASE, "true"], check=True)

        def raw_sdk() -> None:
            c = client.containers.run(BASE, ["true"], detach=True, init=True)
            c.wait()
            c.remove()

        ours()  # network created once
        rows.append(("run `true` to SUCCEEDED + delete", median(ours, r), median(raw_cli, r),
                     "raw `docker run --rm --init` (CLI)"))
        rows.append(("  same, raw SDK create/start/wait/rm", median(raw_sdk, r), 0.0, ""))
    finally:
        drop_ours()
        drop_raw()
        shutil.rmtree(tmp, ignore_errors=True)
        if not had_network:
            for net in client.networks.list(names=["torchx"]):
                if net.name == "torchx":  # the filter also matches names containing it
                    net.remove()

    print(f"workspace: {args.files} source files + 10 x 2 MB blobs = {size / 1e6:.1f} MB;"
          f" median of {args.repeat}; 2-core machine")
    print(f"{'measurement':<40} {'torchx (s)':>11} {'floor (s)':>10}  floor is")
    for name, ours_s, floor_s, what in rows:
        floor_txt = f"{floor_s:10.3f}" if what else f"{'':>10}"
        print(f"{name:<40} {ours_s:11.3f} {floor_txt}  {what}")


if __name__ == "__main__":
    main()
