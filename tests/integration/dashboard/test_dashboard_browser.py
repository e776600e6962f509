"""End to end: `torchx dashboard` in a real headless Chromium, over real local_cwd jobs.

Set TORCHX_DASHBOARD_SHOTS=DIR to also save screenshots of both pages there.
"""

from __future__ import annotations

import os
import shlex
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.dashboard.conftest import DashboardProcess
from torchx.runner import Runner
from torchx.specs import AppDef, Role

HOSTILE = '<img src=x onerror="window.__pwned=1;document.title=\'pwned\'">'
WAIT = 60.0


def sh(name: str, script: str, n: int = 1) -> AppDef:
    return AppDef(name, [Role(name, image="", entrypoint="sh", args=["-c", script], num_replicas=n)])


def wait_for(what: str, fn: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except Exception as e:  # the page may be mid-update: try again
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def wait_state(runner: Runner, handle: str, states: set[str]) -> str:
    def check() -> str | None:
        st = runner.status(handle)
        return st.state.name if st and st.state.name in states else None
    return str(wait_for(f"{handle} in {states}", check))


def job_url(dash: DashboardProcess, handle: str) -> str:
    return f"{dash.url}job?handle={urllib.parse.quote(handle, safe='')}"


def rows(browser: Any) -> dict[str, tuple[str, bool]]:
    """handle -> (state, shown) of every row on the front page."""
    return browser.execute_script("""
        const out = {};
        for (const tr of document.querySelectorAll('#jobs tbody tr'))
          out[tr.children[1].textContent] = [tr.children[2].textContent, !tr.hidden];
        return out;""")


def shoot(browser: Any, name: str) -> None:
    where = os.environ.get("TORCHX_DASHBOARD_SHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(where) / name))


def test_front_page_lists_jobs_and_states_and_refreshes_without_reload(
    runner: Runner, dashboard: DashboardProcess, browser: Any,
) -> None:
    ok = runner.run(sh("trainer", "echo done", n=2))
    bad = runner.run(sh("preprocess", "exit 7"))
    live = runner.run(sh("serve", "sleep 120"))
    for h, st in ((ok, "SUCCEEDED"), (bad, "FAILED"), (live, "RUNNING")):
        wait_state(runner, h, {st})
    browser.get(dashboard.url)
    want = {ok: "SUCCEEDED", bad: "FAILED", live: "RUNNING"}
    wait_for("the three jobs and their states",
             lambda: {h: s for h, (s, _) in rows(browser).items()} == want)
    text = browser.find_element("id", "jobs").text
    assert "trainer" in text and "preprocess" in text and "serve" in text
    browser.execute_script("window.__same_page = 42")
    # a job started after the page loaded appears, and a state change shows, with no reload
    later = runner.run(sh("later", "sleep 120"))
    runner.cancel(live)
    wait_for("the new job and the cancelled one",
             lambda: rows(browser).get(later, ("",))[0] in ("PENDING", "RUNNING", "SUBMITTED")
             and rows(browser)[live][0] == "CANCELLED")
    assert browser.execute_script("return window.__same_page") == 42
    # replica counts, and the filters
    replicas = browser.execute_script(
        "return [...document.querySelectorAll('#jobs tbody tr')].map(tr => tr.children[4].textContent)")
    assert "2" in replicas
    browser.find_element("css selector", "#state-filter button[data-state='FAILED']").click()
    wait_for("only the failed job shown",
             lambda: [h for h, (_, shown) in rows(browser).items() if shown] == [bad])
    browser.find_element("css selector", "#state-filter button[data-state='']").click()
    wait_for("all shown again", lambda: all(shown for _, shown in rows(browser).values()))
    sched = browser.execute_script(
        "return [...document.querySelectorAll('#schedulers .sched')].map(e => e.textContent)")
    assert sched == ["local_cwd4 jobs"]
    shoot(browser, "dashboard-front.png")


def test_log_of_a_running_job_advances_without_reload(
    runner: Runner, dashboard: DashboardProcess, browser: Any,
) -> None:
    h = runner.run(sh("ticker", "i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo tick $i; sleep 0.2; done"))
    wait_state(runner, h, {"RUNNING"})
    browser.get(job_url(dashboard, h))
    log_text: Callable[[], str] = lambda: browser.find_element("id", "log").text  # noqa: E731
    wait_for("the first lines", lambda: "tick 2" in log_text())
    browser.execute_script("window.__same_page = 7")
    seen = log_text().count("tick")
    wait_for("more lines", lambda: log_text().count("tick") >= seen + 10)
    assert browser.execute_script("return window.__same_page") == 7
    lines = [ln for ln in log_text().splitlines() if ln.startswith("tick")]
    nums = [int(ln.split()[1]) for ln in lines]
    assert nums == list(range(nums[0], nums[0] + len(nums))), "lines lost or repeated"
    # the status table: one running replica on localhost, no exit code yet
    cells = [c.text for c in browser.find_elements("css selector", "#replicas tbody td")]
    assert cells[:6] == ["ticker", "0", "RUNNING", "-", "0", "localhost"]
    # the regex filter narrows the lines (applied by the scheduler over the whole log)
    browser.find_element("id", "log-regex").send_keys(r"tick \d*5$")
    wait_for("only matching lines",
             lambda: (t := log_text().splitlines()) and all(ln.endswith("5") for ln in t)
             and len(t) >= 2)


def test_a_hostile_log_line_is_shown_as_text(
    runner: Runner, dashboard: DashboardProcess, browser: Any,
) -> None:
    h = runner.run(sh("evil", f"echo {shlex.quote(HOSTILE)}; echo '<script>window.__pwned=2</script>'; exit 1"))
    wait_state(runner, h, {"FAILED"})
    browser.get(job_url(dashboard, h))
    wait_for("the hostile line, as text", lambda: HOSTILE in browser.find_element("id", "log").text)
    assert "<script>window.__pwned=2</script>" in browser.find_element("id", "log").text
    assert browser.find_elements("css selector", "#log img, #log script, #appdef img") == []
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.title != "pwned"
    # the AppDef holds the same string as text; the exit code is in the replica table
    browser.find_element("css selector", "#appdef-box summary").click()
    assert '<img src=x onerror=\\"window.__pwned=1' in browser.find_element("id", "appdef").text
    cells = [c.text for c in browser.find_elements("css selector", "#replicas tbody td")]
    assert cells[2:4] == ["FAILED", "1"]
    shoot(browser, "dashboard-job-hostile.png")


def test_cancel_from_the_page_ends_the_job(
    runner: Runner, dashboard: DashboardProcess, browser: Any,
) -> None:
    h = runner.run(sh("victim", "echo working; echo 'step 1 of 100'; sleep 120", n=2))
    wait_state(runner, h, {"RUNNING"})
    browser.get(job_url(dashboard, h))
    wait_for("the log", lambda: "step 1 of 100" in browser.find_element("id", "log").text)
    shoot(browser, "dashboard-job.png")
    button = wait_for("the cancel button", lambda: (b := browser.find_element("id", "cancel"))
                      .is_displayed() and b)
    button.click()  # arms it
    assert "again" in button.text
    assert runner.status(h).state.name == "RUNNING"
    button.click()
    wait_state(runner, h, {"CANCELLED"})
    wait_for("the page showing CANCELLED", lambda: browser.find_element("id", "state").text == "CANCELLED")
    delete = wait_for("delete offered for the finished job",
                      lambda: (b := browser.find_element("id", "delete")).is_displayed() and b)
    assert not browser.find_element("id", "cancel").is_displayed()
    delete.click()
    delete.click()
    wait_for("the job deleted", lambda: runner.status(h) is None)
    wait_for("back on the front page", lambda: browser.current_url == dashboard.url)
    wait_for("the job gone from the list", lambda: browser.execute_script(
        "return document.body.dataset.loaded") and h not in rows(browser))


class _EvilHandler(BaseHTTPRequestHandler):
    page = ""

    def do_GET(self) -> None:
        body = self.page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def evil_site() -> Iterator[Callable[[str], str]]:
    """Another origin on this machine (127.0.0.1, another port) serving a page we choose."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _EvilHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()

    def serve(page: str) -> str:
        _EvilHandler.page = page
        return f"http://127.0.0.1:{srv.server_address[1]}/"

    yield serve
    srv.shutdown()
    srv.server_close()


def test_a_cross_origin_post_is_refused(
    runner: Runner, dashboard: DashboardProcess, browser: Any, evil_site: Callable[[str], str],
) -> None:
    h = runner.run(sh("target", "sleep 120"))
    wait_state(runner, h, {"RUNNING"})
    api = f"{dashboard.url}api/cancel"
    # 1. a script on another site tries fetch(), with and without a guessed token
    url = evil_site(f"""<!doctype html><body><script>
      window.results = [];
      async function go() {{
        for (const headers of [{{"Content-Type": "text/plain"}},
                               {{"Content-Type": "application/json", "X-TorchX-Token": "guess"}}]) {{
          try {{
            const r = await fetch({api!r}, {{method: "POST", headers, body: JSON.stringify({{handle: {h!r}}})}});
            window.results.push("status " + r.status);
          }} catch (e) {{ window.results.push("blocked " + e.name); }}
        }}
        window.done = true;
      }}
      go();
    </script></body>""")
    browser.get(url)
    results = wait_for("the evil page's fetches",
                       lambda: browser.execute_script("return window.done && window.results"))
    assert all(r.startswith("blocked") or r == "status 403" for r in results), results
    # 2. a plain form post from that site (no preflight): the server refuses it
    url = evil_site(f"""<!doctype html><body>
      <form id=f method=post action="{api}" enctype="text/plain">
        <input name='{{"handle":"{h}","x":"' value='"}}'></form>
      <script>document.getElementById("f").submit()</script></body>""")
    browser.get(url)
    wait_for("the refusal", lambda: "cross-origin request refused" in browser.page_source)
    time.sleep(1)
    assert runner.status(h).state.name == "RUNNING"
    # the same cancel from the dashboard's own page works
    browser.get(job_url(dashboard, h))
    result = browser.execute_async_script(
        "const done = arguments[0];"
        "api('/api/cancel', {handle: new URLSearchParams(location.search).get('handle')})"
        ".then(r => done(r.message), e => done('error ' + e.message));")
    assert "requested" in result
    wait_state(runner, h, {"CANCELLED"})


def test_the_server_listens_on_loopback_only(dashboard: DashboardProcess, browser: Any) -> None:
    from tests.unit.dashboard.test_dashboard_server import _listening

    assert _listening(dashboard.port) == {"0100007F"}
    browser.get(dashboard.url)
    wait_for("the page", lambda: browser.execute_script("return document.body.dataset.loaded"))
    assert "local_cwd" in browser.find_element("id", "schedulers").text


def test_a_scheduler_that_fails_shows_its_error_not_a_broken_page(
    runner: Runner, browser: Any, tmp_path: Path,
) -> None:
    """`-s slurm` where the Slurm client tools are not on PATH (as on a laptop): the slurm card
    says so, and the local jobs are listed as usual."""
    import re
    import signal
    import subprocess
    import sys

    h = runner.run(sh("fine", "true"))
    wait_state(runner, h, {"SUCCEEDED"})
    empty = tmp_path / "empty-path"
    empty.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchx.cli.main", "dashboard", "--port", "0", "-s", "slurm"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PATH": str(empty)},
    )
    try:
        assert proc.stdout is not None
        url = re.search(r"http://\S+/", proc.stdout.readline())
        assert url, "no URL printed"
        browser.get(url.group(0))
        wait_for("the local job", lambda: rows(browser).get(h, ("",))[0] == "SUCCEEDED")
        card = wait_for("the slurm error", lambda: (e := browser.find_element(
            "css selector", ".sched[data-scheduler='slurm']")).text and "not found on PATH" in e.text and e)
        assert "bad" in card.get_attribute("class")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
