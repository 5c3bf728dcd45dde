"""Caddy 2.6.2 (Debian bookworm): JSON structured logs of the default logger (at DEBUG) and of access logging.

Caddy logs through zap. Both loggers here use the ``json`` encoder: one JSON object per line, keys in this
order for the common fields, then the message's own fields::

    {"level":"info","ts":1733436121.5443864,"logger":"http.log.access.log0","msg":"handled request",<fields>}

* ``level``: ``debug``, ``info``, ``warn``, ``error`` (one value, a string);
* ``ts``: the time as Unix epoch seconds with a fraction (one number value; Caddy's default ``time_format``
  for the json encoder);
* ``logger``: the dotted name of the logger (one string value), e.g. ``http.log.access.log0``,
  ``http.log.error.log0``, ``http.handlers.reverse_proxy``, ``http.handlers.reverse_proxy.health_checker.active``,
  ``admin``, ``admin.api``, ``tls.cache.maintenance``, ``http``; absent for the root logger;
* ``msg``: the message, free text (one string value, may contain spaces);
* other keys, per message: strings, numbers, booleans, nested objects and arrays (``"error":"dial tcp
  127.0.0.1:18203: connect: connection refused"``, ``"upstream":"127.0.0.1:18202"``, ``"duration":0.0012``).

The access log (site ``log`` directive, ``output file access.log``, ``format json``; logger
``http.log.access.log0``, msg ``handled request``) has these fields::

    "request":{"remote_ip":"127.0.0.1","remote_port":"51334","proto":"HTTP/1.1","method":"GET",
               "host":"localhost:18200","uri":"/index.html?x=1","headers":{"User-Agent":["curl/7.88.1"],...}},
    "user_id":"alice","duration":0.000412,"size":320,"status":200,
    "resp_headers":{"Server":["Caddy"],"Content-Type":["text/html; charset=utf-8"],...}

``request.headers`` and ``resp_headers`` map each header name to an array of strings (each string one
value; a User-Agent string is one value). ``user_id`` is the basic-auth user (``""`` when none),
``duration`` seconds (float), ``size`` the response body bytes, ``status`` the status code (``0`` when no
handler wrote a response, e.g. a request for a host no site matches). The access line's ``level`` is
``info`` below status 400 and ``error`` from 400 up. The values of the Authorization and Cookie headers are
redacted to an empty array (``"Authorization":[]``). Requests for a host no site's log covers (``Host:
www.example.com``) are logged by ``http.log.access`` (no ``log0``) to the default logger instead.
Handler errors are logged at ``debug`` by ``http.log.error.log0`` with ``request``, ``duration``, ``status``,
``err_id`` (a random ID such as ``"dckx353tg"``) and ``err_trace`` (``"reverseproxy.statusError
(reverseproxy.go:1272)"``: function name and source position); their ``msg`` can embed the ID as
``{id=i1egmnb9z} fileserver.(*FileServer).notFound (staticfiles.go:579): HTTP 404``.

The default logger (global ``log`` option, ``output file caddy.log``, ``format json``, ``level DEBUG``) logs
startup/shutdown (``using provided configuration``, ``server running``, ``serving initial configuration``,
``shutting down apps, then terminating``), admin API calls (``admin.api``, ``received request`` with method,
host, uri, remote_ip, remote_port, headers), config reloads and errors, reverse proxy round trips and
upstream failures, and health checks. The stderr of ``caddy run`` is captured too: the same JSON lines,
written before the configured logger takes over (``using provided configuration``, ``redirected default
logger``) and while a rejected config load had switched the default logger back to stderr.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import time
from pathlib import Path

from programs._http_origin import REFERERS, USER_AGENTS, Origin, raw_request, request
from programs._support import read_lines, run, start, stop, wait_for_port

FORMAT_SOURCE = (
    "https://caddyserver.com/docs/caddyfile/directives/log (format json, access log fields); "
    "https://caddyserver.com/docs/caddyfile/options#log; https://caddyserver.com/docs/json/logging/; "
    "caddy 2.6.2 modules/caddyhttp/server.go (logRequest) and modules/logging/encoders.go"
)
PACKAGES = ["caddy", "curl"]

PORT = 18200
ADMIN_PORT = 18201
ORIGIN_PORT = 18202
DEAD_PORT = 18203
SECOND_PORT = 18204

CADDYFILE = """\
{{
    admin 127.0.0.1:{admin}
    auto_https off
    storage file_system {wd}/data
    log {{
        output file {wd}/caddy.log
        format json
        level DEBUG
    }}
}}

http://localhost:{port}, http://127.0.0.1:{port} {{
    bind 127.0.0.1
    root * {wd}/site
    log {{
        output file {wd}/access.log
        format json
    }}
    encode gzip
    header /api/* X-Api-Version "1"
    request_body /upload {{
        max_size 2KB
    }}
    basicauth /private/* {{
        alice {alice}
        bob {bob}
    }}
    redir /old/* /new{{uri}} permanent
    rewrite /legacy/* /index.html
    respond /teapot "I'm a teapot" 418
    respond /health "ok" 200
    respond /forbidden/* 403
    handle_path /app/* {{
        reverse_proxy 127.0.0.1:{origin} {{
            transport http {{
                response_header_timeout 1s
            }}
        }}
    }}
    handle_path /api/* {{
        reverse_proxy 127.0.0.1:{dead} {{
            lb_try_duration 1s
            lb_try_interval 250ms
            health_uri /health
            health_interval 2s
            health_timeout 1s
        }}
    }}
    handle /upload {{
        reverse_proxy 127.0.0.1:{origin}
    }}
    handle_errors {{
        respond "{{err.status_code}} {{err.status_text}}"
    }}
    file_server browse
    {extra}
}}

http://127.0.0.1:{second} {{
    bind 127.0.0.1
    log {{
        output file {wd}/access.log
        format json
    }}
    respond "second site: {{method}} {{path}}" 200
}}
"""


def _hash(password: str) -> str:
    out = subprocess.run(
        ["caddy", "hash-password", "--plaintext", password], capture_output=True, text=True, check=True, timeout=30
    )
    return out.stdout.strip()


def _site(workdir: Path) -> None:
    site = workdir / "site"
    for sub in ("files/docs", "private", "new"):
        (site / sub).mkdir(parents=True, exist_ok=True)
    (site / "index.html").write_text("<html><body>hello caddy</body></html>\n" * 20)
    (site / "about.html").write_text("<html><body>about</body></html>\n")
    (site / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    (site / "data.json").write_text('{"ok": true}\n')
    (site / "files/readme.txt").write_text("read me\n")
    (site / "files/docs/guide.txt").write_text("guide\n" * 100)
    (site / "private/secret.txt").write_text("secret\n")
    (site / "new/page.html").write_text("new page\n")


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _traffic(rng: random.Random) -> None:
    def get(path: str, method: str = "GET", port: int = PORT, **kwargs: object) -> None:
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        headers.setdefault("User-Agent", rng.choice(USER_AGENTS))
        referer = rng.choice(REFERERS)
        if referer:
            headers.setdefault("Referer", referer)
        request(port, path, method=method, host=f"localhost:{port}", headers=headers, **kwargs)  # type: ignore[arg-type]

    for path in [
        "/",
        "/index.html",
        "/about.html",
        "/robots.txt",
        "/data.json",
        "/favicon.ico",
        "/wp-login.php",
        "/.env",
        "/files/",
        "/files/docs/",
        "/files/docs/guide.txt",
        "/files/missing.txt",
        "/search?q=caddy+logs&page=2",
        "/blog/2023/01/hello%20world",
        "/caf%C3%A9/menu.html",
        "/old/page.html",
        "/new/page.html",
        "/legacy/home.php",
        "/teapot",
        "/health",
        "/forbidden/area",
        "/app/",
        "/app/users/42?expand=true",
        "/app/status/201",
        "/app/status/404",
        "/app/status/500",
        "/app/status/503",
        "/app/redirect",
        "/app/big",
        "/app/close",
        "/app/slow/2",
        "/api/v1/items",
    ]:
        get(path)
    get("/index.html", headers={"Accept-Encoding": "gzip", "Cookie": "session=abc123"})
    get("/index.html", method="HEAD")
    get("/index.html", method="POST", body=b"a=1")
    get("/index.html", method="DELETE")
    get("/index.html", method="OPTIONS")
    get("/app/items", method="POST", body=b'{"name": "widget"}')
    get("/app/items/3", method="PUT", body=b'{"name": "gadget"}')
    get("/upload", method="POST", body=b"x" * 5000)
    get("/upload", method="POST", body=b"small upload")
    get("/index.html", headers={"Range": "bytes=0-99"})
    get("/index.html", headers={"If-Modified-Since": "Thu, 01 Jan 2037 00:00:00 GMT"})
    get("/private/secret.txt")
    get("/private/secret.txt", headers={"Authorization": _basic("alice", "wonderland")})
    get("/private/secret.txt", headers={"Authorization": _basic("alice", "wrong")})
    get("/private/secret.txt", headers={"Authorization": _basic("mallory", "guess")})
    get("/private/", headers={"Authorization": _basic("bob", "builder")})
    get("/anything/here?x=1", port=SECOND_PORT)
    get("/", method="PUT", port=SECOND_PORT, body=b"data")
    request(PORT, "/index.html", host="www.example.com")
    request(PORT, "/index.html", version="HTTP/1.0")
    for data in [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: localhost\r\n\r\n",
        b"GET /index.html HTTP/1.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET /index.html HTTP/1.1\r\nHost: localhost:18200\r\nContent-Length: abc\r\n\r\n",
    ]:
        try:
            raw_request(PORT, data, timeout_s=3.0)
        except OSError:
            pass
    # The client gives up before the upstream answers.
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=5.0) as sock:
            sock.sendall(b"GET /app/slow/3 HTTP/1.1\r\nHost: localhost:18200\r\nUser-Agent: impatient/1.0\r\n\r\n")
            time.sleep(0.5)
    except OSError:
        pass


def _admin(path: str, method: str = "GET", body: bytes = b"") -> None:
    request(
        ADMIN_PORT,
        path,
        method=method,
        host=f"127.0.0.1:{ADMIN_PORT}",
        body=body,
        headers={"Content-Type": "application/json"} if body else {},
    )


def collect(workdir: Path) -> list[str]:
    rng = random.Random(5)
    _site(workdir)
    env = dict(os.environ, HOME=str(workdir), XDG_DATA_HOME=str(workdir / "data"), XDG_CONFIG_HOME=str(workdir / "cfg"))
    hashes = {"alice": _hash("wonderland"), "bob": _hash("builder")}
    caddyfile = workdir / "Caddyfile"

    def write(extra: str = "") -> None:
        caddyfile.write_text(
            CADDYFILE.format(
                wd=workdir,
                admin=ADMIN_PORT,
                port=PORT,
                origin=ORIGIN_PORT,
                dead=DEAD_PORT,
                second=SECOND_PORT,
                alice=hashes["alice"],
                bob=hashes["bob"],
                extra=extra,
            )
        )

    write()
    stdout_log = workdir / "stdout.log"
    address = f"127.0.0.1:{ADMIN_PORT}"
    process = None
    try:
        with Origin(ORIGIN_PORT):
            process = start(
                ["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"], log=stdout_log, env=env
            )
            wait_for_port(PORT)
            _traffic(rng)
            # Admin API: read the config, an unknown path, a bad load.
            _admin("/config/")
            _admin("/config/apps/http/servers")
            _admin("/reverse_proxy/upstreams")
            _admin("/no/such/endpoint")
            bad = {"admin": {"listen": address}, "apps": {"http": {"servers": {"x": {"listen": 42}}}}}
            _admin("/load", method="POST", body=json.dumps(bad).encode())
            # A reload with a broken Caddyfile (refused), then a good one.
            write(extra="no_such_directive on")
            run(
                ["caddy", "reload", "--config", str(caddyfile), "--adapter", "caddyfile", "--address", address],
                env=env,
                timeout_s=30,
            )
            write(extra='header X-Reloaded "yes"')
            run(
                ["caddy", "reload", "--config", str(caddyfile), "--adapter", "caddyfile", "--address", address],
                env=env,
                timeout_s=30,
            )
            time.sleep(1.0)
            wait_for_port(PORT)
            _traffic(random.Random(6))
            time.sleep(2.5)  # a round of active health checks against the dead upstream
            run(["caddy", "stop", "--address", address], env=env, timeout_s=30)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if process is not None:
            stop(process)
    return read_lines([stdout_log, workdir / "caddy.log", workdir / "access.log"])
