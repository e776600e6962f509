"""The dashboard's HTTP server: two pages, their static files and the JSON API.

Standard library only (``http.server.ThreadingHTTPServer``). Checks on every request:

- ``Host`` must name the server (``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT`` when bound
  to loopback), so a DNS-rebinding page cannot read the API through another name;
- ``/api/*`` needs the per-server secret token in the ``X-TorchX-Token`` header; the token is only
  in the pages this server serves, which another site cannot read;
- ``POST`` (cancel, delete) also needs ``Origin`` (else ``Referer``) to be this server's own
  origin and a JSON body, so a form or script on another site cannot change a job.

Pages get a strict Content-Security-Policy (scripts and styles from this server only, no inline
script); job data is only ever set as text by the scripts.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import secrets
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from torchx.dashboard.api import ApiError, Dashboard, message

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-TorchX-Token"
MAX_BODY = 65536
_PAGES = {"/": "front.html", "/job": "job.html"}
_STATIC = {
    "dashboard.css": "text/css; charset=utf-8",
    "common.js": "text/javascript; charset=utf-8",
    "front.js": "text/javascript; charset=utf-8",
    "job.js": "text/javascript; charset=utf-8",
}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self';"
    " img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none';"
    " frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _static(name: str) -> bytes:
    return resources.files("torchx.dashboard").joinpath("static").joinpath(name).read_bytes()


class DashboardServer(ThreadingHTTPServer):
    """Serves one :py:class:`~torchx.dashboard.api.Dashboard` on ``host:port`` (0: a free port)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, dashboard: Dashboard, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None) -> None:
        self.dashboard = dashboard  # before binding: a failed bind calls server_close()
        if ":" in host.strip("[]"):
            self.address_family = socket.AF_INET6
        super().__init__((host.strip("[]"), port), DashboardHandler)
        self.token = token or secrets.token_urlsafe(32)
        self.bind_host = host.strip("[]")
        self.port = int(self.server_address[1])
        self.files = {name: _static(name) for name in [*_PAGES.values(), *_STATIC]}

    @property
    def url(self) -> str:
        """The address to open in a browser."""
        host = self.bind_host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1" if host != "::" else "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    def allowed_hosts(self) -> set[str] | None:
        """``Host`` headers accepted; None (any) when bound beyond loopback on request."""
        if not is_loopback(self.bind_host):
            return None
        names = {"127.0.0.1", "localhost", "[::1]", self.bind_host}
        if ":" in self.bind_host:
            names.add(f"[{self.bind_host}]")
        return {f"{n}:{self.port}" for n in names}

    def server_close(self) -> None:
        super().server_close()
        self.dashboard.close()


class DashboardHandler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"
    server_version = "torchx-dashboard"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # ---- answers

    def _send(self, code: int, body: bytes, content_type: str, cache: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=300" if cache else "no-store")
        for key, val in _SECURITY_HEADERS.items():
            self.send_header(key, val)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, data: Any) -> None:
        body = json.dumps(data, separators=(",", ":")).encode()
        self._send(code, body, "application/json; charset=utf-8")

    def _error(self, code: int, msg: str) -> None:
        self._json(code, {"error": msg})

    # ---- checks

    def _host_ok(self) -> bool:
        allowed = self.server.allowed_hosts()
        host = self.headers.get("Host", "")
        return bool(host) and (allowed is None or host.lower() in allowed)

    def _token_ok(self) -> bool:
        given = self.headers.get(TOKEN_HEADER, "")
        return hmac.compare_digest(given.encode(), self.server.token.encode())

    def _same_origin(self) -> bool:
        """``Origin`` (else ``Referer``) is this server as the browser addressed it."""
        own = f"http://{self.headers.get('Host', '')}".lower()
        origin = self.headers.get("Origin")
        if origin is not None:
            return origin.lower() == own
        referer = self.headers.get("Referer")
        if referer:
            parts = urlsplit(referer)
            return f"{parts.scheme}://{parts.netloc}".lower() == own
        return False

    # ---- routes

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._host_ok():
            return self._error(403, "unexpected Host header: open the URL `torchx dashboard` printed")
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if url.path in _PAGES:
            page = self.server.files[_PAGES[url.path]].replace(
                b"{{TOKEN}}", self.server.token.encode())
            return self._send(200, page, "text/html; charset=utf-8")
        if url.path == "/favicon.ico":
            return self._send(204, b"", "image/x-icon", cache=True)
        if url.path.startswith("/static/"):
            name = url.path[len("/static/"):]
            if name in _STATIC:
                return self._send(200, self.server.files[name], _STATIC[name], cache=True)
            return self._error(404, f"no file {name}")
        if url.path.startswith("/api/"):
            if not self._token_ok():
                return self._error(403, f"missing or wrong {TOKEN_HEADER} header")
            return self._api_get(url.path, query)
        return self._error(404, f"no page {url.path}: the dashboard has / and /job?handle=...")

    def _api_get(self, path: str, q: dict[str, str]) -> None:
        d = self.server.dashboard
        try:
            if path == "/api/jobs":
                return self._json(200, d.jobs())
            if path == "/api/job":
                return self._json(200, d.job(q.get("handle")))
            if path == "/api/logs":
                return self._json(200, d.logs(
                    q.get("handle"), q.get("role"), _int(q, "replica", 0),
                    stream=q.get("stream") or "combined", regex=q.get("regex", ""),
                    after=_int(q, "after", None), limit=_int(q, "limit", 2000) or 2000,
                    tail_id=_int(q, "tail_id", None),
                ))
            return self._error(404, f"no API {path}")
        except ApiError as e:
            return self._error(e.status, str(e))
        except Exception as e:  # a backend failure: its message, not a traceback
            log.debug("dashboard API %s failed", path, exc_info=True)
            return self._error(500, message(e))

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True  # the body is not read: the connection cannot go on
            return self._error(413 if length > MAX_BODY else 400, "bad Content-Length")
        raw = self.rfile.read(length)
        if not self._host_ok():
            return self._error(403, "unexpected Host header")
        if not self._same_origin():
            return self._error(403, "cross-origin request refused")
        if not self._token_ok():
            return self._error(403, f"missing or wrong {TOKEN_HEADER} header")
        if self.headers.get_content_type() != "application/json":
            return self._error(415, "send the body as application/json")
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return self._error(400, "the body is not JSON")
        handle = body.get("handle") if isinstance(body, dict) else None
        d = self.server.dashboard
        actions = {"/api/cancel": d.cancel, "/api/delete": d.delete}
        action = actions.get(urlsplit(self.path).path)
        if action is None:
            return self._error(404, f"no action {self.path}")
        try:
            return self._json(200, action(handle if isinstance(handle, str) else None))
        except ApiError as e:
            return self._error(e.status, str(e))
        except Exception as e:
            log.debug("dashboard action %s failed", self.path, exc_info=True)
            return self._error(500, message(e))

    def _refuse(self) -> None:
        self.close_connection = True  # any body is left unread
        self._error(405, f"{self.command} is not supported")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse


def _int(q: dict[str, str], key: str, default: int | None) -> Any:
    raw = q.get(key, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f"`{key}` must be a whole number, not `{raw}`") from None
