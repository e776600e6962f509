"""How fast `torchx dashboard` shows 1,000 jobs in a real headless Chromium.

    .venv/bin/python benchmarks/bench_dashboard.py [--jobs N] [--runs K] [--quick]

Data: N real local_cwd jobs (default 1,000: `true`, every 10th `false`, 5 `sleep`) submitted
through the Runner into a throwaway TORCHX_HOME, so the journal, `Runner.list` and the JSON API
are the real ones. Needs chromium + chromium-driver + selenium (scripts/backends/browser.sh start).

Figures (median of K fresh page loads), each beside its floor:
- front page: navigation start -> all N rows painted (performance.now() at the second animation
  frame after the first render). Floor: a static HTML page of the same table (same CSS, the rows
  written into the HTML), navigation start -> its second animation frame.
- GET /api/jobs (N jobs, server side, cache off). Floor: `Runner.list("local_cwd")` alone.
- one refresh of the page (JS render of N unchanged rows). Floor: none (a refresh with no change).
- a state filter click -> the next painted frame. Floor: two animation frames doing nothing.
"""

from __future__ import annotations

import argparse
import html
import http.client
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900"]

PAINTED = """
const done = arguments[arguments.length - 1];
const want = arguments[0];
function check() {
  if (want ? performance.getEntriesByName(want).length : document.readyState === "complete") {
    requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now())));
  } else { setTimeout(check, 5); }
}
check();
"""


def make_jobs(n: int) -> list[str]:
    from torchx.runner import get_runner
    from torchx.specs import AppDef, Role

    def submit(i: int) -> str:
        with get_runner() as r:
            cmd = ["sleep", "600"] if i < 5 else ["false"] if i % 10 == 9 else ["true"]
            role = Role(f"job{i}", image="", entrypoint=cmd[0], args=cmd[1:],
                        num_replicas=1 + (i % 3 == 0))
            return r.run(AppDef(f"bench-{i}", [role]))

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(submit, range(n)))


def static_table(rows: list[dict[str, Any]], css: str) -> str:
    """The front page's table as plain HTML: what the browser must do at the least."""
    body = "".join(
        f'<tr><td class="name"><a href="#">{html.escape(j["name"])}</a></td>'
        f'<td class="handle">{html.escape(j["handle"])}</td>'
        f'<td><span class="state st-{j["state"].lower()}">{j["state"]}</span></td>'
        f'<td class="num">1m</td><td class="replicas">{j["replicas"]}</td></tr>'
        for j in rows
    )
    return (f'<!doctype html><html><head><meta charset="utf-8"><style>{css}</style></head><body>'
            '<main><table class="jobs"><thead><tr><th>name</th><th>handle</th><th>state</th>'
            f'<th class="num">age</th><th>replicas</th></tr></thead><tbody>{body}</tbody></table>'
            '</main></body></html>')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="200 jobs, 3 runs")
    args = ap.parse_args()
    if args.quick:
        args.jobs, args.runs = 200, 3
    for exe in ("chromium", "chromedriver"):
        if shutil.which(exe) is None:
            sys.exit(f"bench_dashboard: `{exe}` is missing: run scripts/backends/browser.sh start")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from torchx.dashboard.api import Dashboard
    from torchx.dashboard.server import DashboardServer
    from torchx.runner import get_runner

    tmp = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    os.environ["TORCHX_HOME"] = str(tmp / "home")
    (tmp / "empty.torchxconfig").write_text("")
    os.environ["TORCHXCONFIG"] = str(tmp / "empty.torchxconfig")
    print(f"submitting {args.jobs} local_cwd jobs into {tmp / 'home'} ...", file=sys.stderr)
    t0 = time.perf_counter()
    handles = make_jobs(args.jobs)
    print(f"  {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    runner = get_runner()
    dash = Dashboard(runner, ["local_cwd"], cache_ttl=0.0)
    server = DashboardServer(dash, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows = dash.jobs()["jobs"]
    static_dir = tmp / "static"
    static_dir.mkdir()
    css = server.files["dashboard.css"].decode()
    (static_dir / "table.html").write_text(static_table(rows, css))
    handler = type("Quiet", (SimpleHTTPRequestHandler,), {
        "log_message": lambda *a: None,
        "__init__": lambda self, *a, **k: SimpleHTTPRequestHandler.__init__(
            self, *a, directory=str(static_dir), **k)})
    floor_srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=floor_srv.serve_forever, daemon=True).start()

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "chromium"
    for flag in [*FLAGS, f"--user-data-dir={tmp / 'profile'}"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"),
                              options=opts)
    driver.set_script_timeout(120)
    res: dict[str, list[float]] = {k: [] for k in
                                   ("page", "floor", "api", "list", "refresh", "filter", "frames")}
    try:
        for _ in range(args.runs):
            driver.get("about:blank")
            driver.get(server.url)
            res["page"].append(driver.execute_async_script(PAINTED, "jobs-rendered"))
            n = driver.execute_script("return document.querySelectorAll('#jobs tbody tr').length")
            assert n == len(rows), f"{n} rows rendered, {len(rows)} expected"
            # one refresh of unchanged rows: the next render measure after the first
            res["refresh"].append(driver.execute_async_script("""
                const done = arguments[0];
                const seen = performance.getEntriesByName("render").length;
                (function wait() {
                  const m = performance.getEntriesByName("render");
                  if (m.length > seen) done(m[m.length - 1].duration); else setTimeout(wait, 20);
                })();"""))
            res["filter"].append(driver.execute_async_script("""
                const done = arguments[0];
                const b = document.querySelector("#state-filter button[data-state='FAILED']");
                const t = performance.now(); b.click();
                requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t)));
            """))
            res["frames"].append(driver.execute_async_script("""
                const done = arguments[0]; const t = performance.now();
                requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t)));
            """))
            driver.get("about:blank")
            driver.get(f"http://127.0.0.1:{floor_srv.server_address[1]}/table.html")
            res["floor"].append(driver.execute_async_script(PAINTED, None))
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            t = time.perf_counter()
            conn.request("GET", "/api/jobs", headers={"X-TorchX-Token": server.token,
                                                      "Host": f"127.0.0.1:{server.port}"})
            body = conn.getresponse().read()
            res["api"].append((time.perf_counter() - t) * 1000)
            conn.close()
            t = time.perf_counter()
            runner.list("local_cwd")
            res["list"].append((time.perf_counter() - t) * 1000)
    finally:
        driver.quit()
        server.shutdown()
        floor_srv.shutdown()
        with get_runner() as r:
            for h in handles[:5]:
                r.cancel(h)
        server.server_close()

    med = {k: statistics.median(v) for k, v in res.items()}
    n = len(rows)
    print(f"torchx dashboard, {n} local_cwd jobs (real journal), Chromium headless,"
          f" median of {args.runs}; /api/jobs body {len(body) // 1024} KiB")
    table = [
        ("front page: navigation -> rows painted", med["page"], f"{med['floor']:.0f} ms",
         "static HTML of the same table"),
        ("GET /api/jobs (server)", med["api"], f"{med['list']:.0f} ms", "Runner.list alone"),
        ("refresh: JS render of unchanged rows", med["refresh"], "-", "nothing changed"),
        ("state filter click -> painted", med["filter"], f"{med['frames']:.0f} ms",
         "two idle frames"),
    ]
    print(f"{'figure':<42} {'value':>9} {'floor':>9}  floor is")
    for name, val, floor, what in table:
        print(f"{name:<42} {val:>6.0f} ms {floor:>9}  {what}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
