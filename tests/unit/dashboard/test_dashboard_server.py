"""The HTTP server's checks: the token, same origin, Host, the bind address, and the pages."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.dashboard.conftest import sh, wait_state
from torchx.dashboard.api import Dashboard
from torchx.dashboard.server import DashboardServer, is_loopback
from torchx.runner import Runner


@pytest.fixture
def server(dash: Dashboard) -> Iterator[DashboardServer]:
    srv = DashboardServer(dash, "127.0.0.1", 0)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    t.join(10)


def request(srv: DashboardServer, method: str, path: str, body: Any = None,
            **headers: str) -> tuple[int, Any, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    if data is not None:
        hdrs.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    ctype = resp.getheader("Content-Type", "")
    return resp.status, json.loads(raw) if "json" in ctype else raw.decode(), resp


def own(srv: DashboardServer) -> dict[str, str]:
    """What the dashboard's own page sends: its token and origin."""
    return {"X_TorchX_Token": srv.token, "Origin": f"http://127.0.0.1:{srv.port}"}


def test_pages_carry_the_token_and_a_strict_csp(server: DashboardServer) -> None:
    code, page, resp = request(server, "GET", "/")
    assert code == 200
    assert f'name="torchx-token" content="{server.token}"' in page
    csp = resp.getheader("Content-Security-Policy")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert resp.getheader("X-Frame-Options") == "DENY"
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
        assert request(server, "GET", src)[0] == 200, src
    code, job_page, _ = request(server, "GET", "/job?handle=x")
    assert code == 200 and server.token in job_page
    assert request(server, "GET", "/static/../api.py")[0] == 404


def test_two_servers_have_different_tokens(dash: Dashboard) -> None:
    a, b = DashboardServer(dash, "127.0.0.1", 0), DashboardServer(dash, "127.0.0.1", 0)
    try:
        assert a.token != b.token and len(a.token) >= 32
    finally:
        a.socket.close()
        b.socket.close()


def test_api_needs_the_token(server: DashboardServer) -> None:
    assert request(server, "GET", "/api/jobs")[0] == 403
    assert request(server, "GET", "/api/jobs", X_TorchX_Token="wrong")[0] == 403
    code, data, resp = request(server, "GET", "/api/jobs", X_TorchX_Token=server.token)
    assert code == 200 and "jobs" in data and resp.getheader("Cache-Control") == "no-store"


def test_an_unknown_host_name_is_refused(server: DashboardServer) -> None:
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: refused, even with a token."""
    evil = f"evil.example:{server.port}"
    assert request(server, "GET", "/", Host=evil)[0] == 403
    assert request(server, "GET", "/api/jobs", Host=evil, X_TorchX_Token=server.token)[0] == 403
    assert request(server, "GET", "/", Host=f"localhost:{server.port}")[0] == 200


def test_cancel_needs_token_and_same_origin(server: DashboardServer, runner: Runner) -> None:
    h = runner.run(sh("victim", "sleep 60"))
    wait_state(runner, h, {"RUNNING"})
    body = {"handle": h}
    port = server.port
    refused = [
        {"X_TorchX_Token": server.token, "Origin": "http://evil.example"},
        {"X_TorchX_Token": server.token, "Origin": "null"},
        {"X_TorchX_Token": server.token, "Origin": f"http://127.0.0.1:{port + 1}"},
        {"X_TorchX_Token": server.token},  # neither Origin nor Referer
        {"X_TorchX_Token": server.token, "Referer": "http://evil.example/page"},
        {"Origin": f"http://127.0.0.1:{port}"},  # same origin, no token
        {"Origin": f"http://127.0.0.1:{port}", "X_TorchX_Token": "guess"},
    ]
    for headers in refused:
        code, data, _ = request(server, "POST", "/api/cancel", body, **headers)
        assert code == 403, (headers, data)
    # a form post (no JSON) from the page itself is refused too
    code, _, _ = request(server, "POST", "/api/cancel", b"handle=x", **own(server),
                         Content_Type="application/x-www-form-urlencoded")
    assert code == 415
    assert runner.status(h).state.name == "RUNNING"
    code, data, _ = request(server, "POST", "/api/cancel", body,
                            X_TorchX_Token=server.token, Referer=f"http://127.0.0.1:{port}/job")
    assert code == 200 and data["ok"], data
    wait_state(runner, h, {"CANCELLED"})


def test_actions_answer_errors_as_json(server: DashboardServer, runner: Runner) -> None:
    code, data, _ = request(server, "POST", "/api/cancel", {"handle": "local_cwd://torchx/nope"},
                            **own(server))
    assert code == 404 and "no job" in data["error"]
    code, data, _ = request(server, "POST", "/api/delete", {"nothing": 1}, **own(server))
    assert code == 400 and "no job handle" in data["error"]
    code, data, _ = request(server, "POST", "/api/reboot", {"handle": "x"}, **own(server))
    assert code == 404
    assert request(server, "PUT", "/api/cancel", {"handle": "x"}, **own(server))[0] == 405
    code, data, _ = request(server, "GET", "/api/logs?handle=local_cwd://torchx/x&role=r&replica=zero",
                            X_TorchX_Token=server.token)
    assert code == 400 and "whole number" in data["error"]


def test_bound_to_loopback_by_default(dash: Dashboard) -> None:
    srv = DashboardServer(dash)
    try:
        assert srv.server_address[0] == "127.0.0.1"
        assert srv.url == f"http://127.0.0.1:{srv.port}/"
    finally:
        srv.socket.close()
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("example.org")


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp* shows them) listening on ``port``."""
    out = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(name):
            continue
        for line in Path(name).read_text().splitlines()[1:]:
            f = line.split()
            addr, _, p = f[1].rpartition(":")
            if int(p, 16) == port and f[3] == "0A":  # LISTEN
                out.add(addr)
    return out


def _start_cli(home: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "TORCHX_HOME": home}
    p = subprocess.Popen([sys.executable, "-m", "torchx.cli.main", "dashboard", "--port", "0", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert p.stdout is not None
    line = p.stdout.readline()
    return p, line


def _stop(p: subprocess.Popen[str]) -> str:
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    return err


def test_cli_serves_on_loopback_and_prints_its_url(home: str) -> None:
    p, line = _start_cli(home)
    try:
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, line
        assert _listening(int(m.group(1))) == {"0100007F"}  # 127.0.0.1 only
    finally:
        err = _stop(p)
    assert p.returncode == 0 and "warning" not in err


def test_cli_warns_when_asked_for_another_address(home: str) -> None:
    p, line = _start_cli(home, "--host", "0.0.0.0")
    try:
        assert re.search(r"http://127\.0\.0\.1:\d+/", line), line
    finally:
        err = _stop(p)
    assert "warning: serving on 0.0.0.0" in err and "cancel them" in err


@pytest.mark.parametrize("args,fragment", [
    (["--port", "99999"], "is not a port"),
    (["-s", "slrum"], "Did you mean `slurm`"),
    (["--host", "no.such.host.invalid"], "cannot serve on no.such.host.invalid"),
])
def test_cli_bad_input_is_one_line(home: str, args: list[str], fragment: str) -> None:
    env = {**os.environ, "TORCHX_HOME": home}
    r = subprocess.run([sys.executable, "-m", "torchx.cli.main", "dashboard", *args],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2, r.stderr
    assert fragment in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_other_commands_never_import_the_dashboard(home: str) -> None:
    probe = ("import sys\nfrom torchx.cli.main import run_cli\nrun_cli(['list'])\n"
             "print([m for m in sys.modules if m.startswith('torchx.dashboard')])")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "TORCHX_HOME": home}, check=True)
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_a_built_wheel_ships_the_pages(tmp_path: Path) -> None:
    """The static files are package data: a non-editable install serves the same pages."""
    import shutil
    import zipfile

    repo = Path(__file__).resolve().parents[3]
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(repo / name, src / name)
    shutil.copytree(repo / "torchx", src / "torchx", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(tmp_path / "wheel"), str(src)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "wheel").glob("torchx-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    static = repo / "torchx" / "dashboard" / "static"
    for f in static.iterdir():
        assert f"torchx/dashboard/static/{f.name}" in names


def test_a_refused_post_leaves_the_connection_usable(server: DashboardServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("POST", "/api/cancel", body=b'{"handle": "x"}',
                     headers={"Content-Type": "application/json", "Origin": "http://evil.example"})
        first = conn.getresponse()
        assert first.status == 403 and b"cross-origin" in first.read()
        conn.request("GET", "/api/jobs", headers={"X-TorchX-Token": server.token})
        second = conn.getresponse()
        assert second.status == 200 and "jobs" in json.loads(second.read())
    finally:
        conn.close()
    code, data, _ = request(server, "POST", "/api/cancel", b"x" * 70000, **own(server))
    assert code == 413
