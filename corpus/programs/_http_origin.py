"""A small HTTP origin server for the proxy drivers (nginx, squid, haproxy): varied answers on demand.

It runs in a thread of the driver (not a program of the corpus: it logs nothing). Paths:

* ``/status/NNN`` answers status NNN;
* ``/slow/S`` sleeps S seconds (a float) before a 200;
* ``/close`` closes the connection without an answer (a proxy's "bad gateway");
* ``/big`` answers 64 KiB;
* ``/cache/...`` answers with ``Cache-Control: public, max-age=300`` (cacheable);
* ``/redirect`` answers 302 to ``/``;
* anything else answers 200 with a short text body (any method; a request body is read).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "origin/1.0"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        """Silent: the driver's output is not part of the corpus."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        status = 200
        headers: dict[str, str] = {"Content-Type": "text/plain"}
        body = f"{self.command} {path} ok\n".encode()
        if path.startswith("/status/"):
            try:
                status = int(path.split("/")[2])
            except ValueError:
                status = 400
            body = f"status {status}\n".encode()
        elif path.startswith("/slow/"):
            try:
                time.sleep(min(float(path.split("/")[2]), 10.0))
            except ValueError:
                pass
        elif path == "/close":
            self.close_connection = True
            self.connection.close()
            return
        elif path == "/big":
            body = b"x" * 65536
        elif path.startswith("/cache/"):
            headers["Cache-Control"] = "public, max-age=300"
            headers["Last-Modified"] = "Mon, 02 Jan 2023 10:00:00 GMT"
        elif path == "/redirect":
            status = 302
            headers["Location"] = "/"
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            no_body = self.command == "HEAD" or status in (204, 304) or status < 200
            self.send_header("Content-Length", "0" if no_body and status in (204, 304) else str(len(body)))
            self.end_headers()
            if not no_body:
                self.wfile.write(body)
        except OSError:
            pass

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = _answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Silent: clients (health checks, aborted proxies) that reset connections are expected."""


class Origin:
    """``with Origin(port):`` an origin server on ``127.0.0.1:port`` for the block's duration."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Origin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def raw_request(port: int, data: bytes, timeout_s: float = 5.0, read: bool = True) -> bytes:
    """Send ``data`` as is to ``127.0.0.1:port`` and read the answer (malformed requests too)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(data)
        chunks = []
        if read:
            try:
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            except OSError:
                pass
        return b"".join(chunks)


def request(
    port: int,
    path: str,
    method: str = "GET",
    host: str = "localhost",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    version: str = "HTTP/1.1",
    timeout_s: float = 5.0,
) -> bytes:
    """One HTTP request with these parts (closing the connection after it); the answer's bytes."""
    lines = [f"{method} {path} {version}", f"Host: {host}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    try:
        return raw_request(port, data, timeout_s=timeout_s)
    except OSError:
        return b""


USER_AGENTS = [
    "curl/7.88.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1",
    "Wget/1.21.3",
    "python-requests/2.28.1",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
    "Go-http-client/1.1",
    "check_http/v2.3.3 (monitoring-plugins 2.3.3)",
    "Apache-HttpClient/4.5.13 (Java/17.0.9)",
]

REFERERS = [
    "",
    "http://localhost/",
    "http://localhost/index.html",
    "https://www.example.com/search?q=log+parsing&lang=en",
    "http://127.0.0.1/blog/2023/01/hello-world/",
]
