r"""nginx 1.22 (Debian bookworm): the access log in the ``combined`` format and the error log at ``info`` level.

Access log (``access_log access.log combined;``), the predefined format::

    log_format combined '$remote_addr - $remote_user [$time_local] '
                        '"$request" $status $body_bytes_sent '
                        '"$http_referer" "$http_user_agent"';

e.g. ``127.0.0.1 - alice [05/Dec/2024:22:02:01 +0000] "GET /index.html HTTP/1.1" 200 612 "-" "curl/7.88.1"``.
Values, in order:

* ``$remote_addr``: the client's IP address (one value);
* ``-``: a literal dash (the format writes it; one value, always ``-``);
* ``$remote_user``: the user name given with HTTP basic authentication (one value), ``-`` when there is none;
* ``[$time_local]``: the local time in the Common Log Format, ``dd/Mon/yyyy:HH:MM:SS +zzzz``, inside
  brackets; the brackets delimit one timestamp value (the ``+0000`` offset is part of it);
* ``"$request"``: the full original request line inside double quotes, normally three values separated by
  single spaces: method, request URI (path with its query string, as the client sent it, not decoded) and
  protocol (``HTTP/1.1``); a malformed request line is written as received (it can be one value, e.g.
  ``"GARBAGE"``, or empty ``""`` when the client sent nothing usable);
* ``$status``: the response status code (one value; 400/408/499 for broken or abandoned requests);
* ``$body_bytes_sent``: the bytes of the response body sent (one value, ``0`` when none);
* ``"$http_referer"``: the Referer request header inside double quotes (one value, a URL), ``"-"`` when absent;
* ``"$http_user_agent"``: the User-Agent request header inside double quotes: ONE value although it
  usually contains spaces, parentheses and semicolons; ``"-"`` when absent.

Variable values are escaped in the access log (``escape=default``): ``"``, ``\`` and bytes below 32 or
above 126 are written ``\xHH`` (so a TLS handshake sent to the plain port appears as ``"\x16\x03\x01..."``).

Error log (``error_log error.log info;``), written by ``ngx_log_error_core()`` (src/core/ngx_log.c)::

    YYYY/MM/DD HH:MM:SS [level] PID#TID: *CID message[ (errno: strerror)][, client: ADDR, server: NAME,
    request: "REQUEST LINE", upstream: "URL", host: "HOST"[, referrer: "URL"]]

e.g. ``2024/12/05 22:02:01 [error] 1234#1234: *7 open() "/tmp/x/html/nope" failed (2: No such file or
directory), client: 127.0.0.1, server: localhost, request: "GET /nope HTTP/1.1", host: "localhost"``.
Values: the date and the time (one timestamp, local time, no zone), the level in brackets (``debug``,
``info``, ``notice``, ``warn``, ``error``, ``crit``, ``alert``, ``emerg``), ``PID#TID:`` (the process
id and the thread id, two numbers joined by ``#``), then, for lines about a connection, ``*CID`` (the
connection's serial number, one value). The message is free text; the system error, when there is one,
follows in parentheses as ``(errno: strerror text)``. Lines about a request end with the context as
``, name: value`` pairs: ``client:`` an IP address, ``server:`` the server_name, ``request:`` the quoted
request line (method, URI, protocol: three values inside one pair of quotes), ``upstream:`` the quoted
upstream URL, ``host:`` the quoted Host header, ``referrer:`` the quoted Referer. File paths in messages are
quoted (``open() "/path" failed``); process lifecycle lines (``start worker process 1235``, ``signal 1
(SIGHUP) received from 1240, reconfiguring``, ``worker process 1235 exited with code 0``) have no
connection number. ``[emerg]`` lines about the configuration end with ``in /path/nginx.conf:LINE``.
The error log does not escape: a request line or header value is copied as the client sent it (quotes,
backslashes, raw non-ASCII bytes, shown here after lenient UTF-8 decoding). The nginx stdout/stderr is captured
as well (empty in practice: everything goes to the error log).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import time
from pathlib import Path

from programs._http_origin import REFERERS, USER_AGENTS, Origin, raw_request, request
from programs._support import read_lines, start, stop, wait_for_port

FORMAT_SOURCE = (
    "https://nginx.org/en/docs/http/ngx_http_log_module.html (log_format combined, escape); "
    "https://nginx.org/en/docs/ngx_core_module.html#error_log; nginx 1.22 src/core/ngx_log.c (ngx_log_error_core)"
)
PACKAGES = ["nginx"]

PORT = 18080
ORIGIN_PORT = 18081
DEAD_PORT = 18082  # nothing listens: connect() refused
BLACKHOLE_PORT = 18083  # listens, never answers: upstream timed out

CONFIG = """\
user root root;
worker_processes 2;
pid {wd}/nginx.pid;
error_log {wd}/error.log info;

events {{
    worker_connections 128;
}}

http {{
    access_log {wd}/access.log combined;
    types {{
        text/html html;
        text/plain txt;
        application/json json;
        image/png png;
    }}
    default_type application/octet-stream;
    client_body_temp_path {wd}/tmp/body;
    proxy_temp_path {wd}/tmp/proxy;
    fastcgi_temp_path {wd}/tmp/fastcgi;
    uwsgi_temp_path {wd}/tmp/uwsgi;
    scgi_temp_path {wd}/tmp/scgi;
    client_max_body_size 2k;
    client_header_timeout 2s;
    keepalive_timeout 2s;
    large_client_header_buffers 2 1k;
    rewrite_log on;
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;
    limit_conn_zone $binary_remote_addr zone=addr:1m;
    {extra}

    upstream app {{
        server 127.0.0.1:{origin};
    }}
    upstream dead {{
        server 127.0.0.1:{dead} max_fails=1 fail_timeout=5s;
    }}

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {wd}/html;

        location / {{
            index index.html;
        }}
        location /files/ {{
            autoindex on;
        }}
        location /private/ {{
            auth_basic "Restricted area";
            auth_basic_user_file {wd}/htpasswd;
        }}
        location /limited/ {{
            limit_req zone=one burst=1 nodelay;
        }}
        location /app/ {{
            proxy_pass http://app/;
            proxy_read_timeout 1s;
        }}
        location /api/ {{
            proxy_pass http://dead/;
        }}
        location /hang/ {{
            proxy_pass http://127.0.0.1:{blackhole}/;
            proxy_connect_timeout 1s;
            proxy_read_timeout 1s;
        }}
        location /old/ {{
            rewrite ^/old/(.*)$ /new/$1 permanent;
        }}
        location /new/ {{
            rewrite ^/new/(.*)\\.htm$ /$1.html last;
        }}
        location = /teapot {{
            return 418;
        }}
        location = /moved {{
            return 302 /index.html;
        }}
        location /admin/ {{
            allow 10.0.0.0/8;
            deny all;
        }}
        location = /nginx_status {{
            stub_status;
        }}
    }}
}}
"""


def _write_config(workdir: Path, extra: str = "") -> Path:
    config = workdir / "nginx.conf"
    config.write_text(
        CONFIG.format(wd=workdir, port=PORT, origin=ORIGIN_PORT, dead=DEAD_PORT, blackhole=BLACKHOLE_PORT, extra=extra)
    )
    return config


def _site(workdir: Path) -> None:
    html = workdir / "html"
    for sub in ("files/docs", "files/empty", "private", "limited", "nolisting", "admin"):
        (html / sub).mkdir(parents=True, exist_ok=True)
    (html / "index.html").write_text("<html><body>hello</body></html>\n" * 10)
    (html / "about.html").write_text("<html><body>about us</body></html>\n" * 5)
    (html / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    (html / "data.json").write_text('{"items": [1, 2, 3]}\n')
    (html / "logo.png").write_bytes(bytes(range(256)) * 20)
    (html / "files/readme.txt").write_text("read me\n")
    (html / "files/docs/guide.txt").write_text("guide\n" * 100)
    (html / "private/secret.txt").write_text("secret\n")
    (html / "limited/index.html").write_text("limited\n")
    (html / "nolisting/a.txt").write_text("a\n")
    (html / "admin/index.html").write_text("admin\n")
    (workdir / "htpasswd").write_text("alice:{PLAIN}wonderland\nbob:{PLAIN}builder\n")
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / "tmp" / sub).mkdir(parents=True, exist_ok=True)


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _traffic(rng: random.Random) -> None:
    def get(path: str, method: str = "GET", **kwargs: object) -> None:
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        headers.setdefault("User-Agent", rng.choice(USER_AGENTS))
        referer = rng.choice(REFERERS)
        if referer:
            headers.setdefault("Referer", referer)
        request(PORT, path, method=method, headers=headers, **kwargs)  # type: ignore[arg-type]

    for path in [
        "/",
        "/index.html",
        "/about.html",
        "/robots.txt",
        "/data.json",
        "/logo.png",
        "/favicon.ico",
        "/wp-login.php",
        "/.env",
        "/.git/config",
        "/cgi-bin/test.cgi",
        "/files/",
        "/files/docs/",
        "/files/docs/guide.txt",
        "/files/readme.txt",
        "/files/empty/",
        "/nolisting/",
        "/search?q=nginx+logs&page=2",
        "/index.html?utm_source=newsletter&utm_medium=email",
        "/blog/2023/01/hello%20world",
        "/caf%C3%A9/menu.html",
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/teapot",
        "/moved",
        "/old/page.htm",
        "/old/about.htm",
        "/new/missing.htm",
        "/admin/",
        "/nginx_status",
        "/app/",
        "/app/users/42?expand=true",
        "/app/status/201",
        "/app/status/204",
        "/app/status/404",
        "/app/status/500",
        "/app/status/503",
        "/app/redirect",
        "/app/big",
        "/app/close",
        "/app/slow/2",
        "/api/v1/items",
        "/api/v1/items/7",
        "/hang/request",
    ]:
        get(path)
    get("/index.html", method="HEAD")
    get("/index.html", method="POST", body=b"a=1&b=2")
    get("/index.html", method="PUT", body=b"{}")
    get("/index.html", method="DELETE")
    get("/index.html", method="OPTIONS")
    get("/files/", method="PROPFIND")
    get("/app/items", method="POST", body=b'{"name": "widget"}')
    get("/app/items/3", method="PUT", body=b'{"name": "gadget"}')
    get("/app/items/3", method="DELETE")
    get("/app/items/3", method="PATCH", body=b'{"price": 3}')
    get("/app/upload", method="POST", body=b"x" * 5000)  # 413
    get("/index.html", headers={"Range": "bytes=0-99"})
    get("/index.html", headers={"Range": "bytes=99999-"})
    get("/index.html", headers={"If-Modified-Since": "Thu, 01 Jan 2037 00:00:00 GMT"})
    get("/index.html", headers={"Accept-Encoding": "gzip, deflate, br"})
    get("/private/secret.txt")
    get("/private/secret.txt", headers={"Authorization": _basic("alice", "wonderland")})
    get("/private/secret.txt", headers={"Authorization": _basic("alice", "wrong")})
    get("/private/secret.txt", headers={"Authorization": _basic("mallory", "guess")})
    get("/private/", headers={"Authorization": _basic("bob", "builder")})
    get("/private/secret.txt", headers={"Authorization": "Basic !!!notbase64"})
    for _ in range(4):
        get("/limited/")
    request(PORT, "/index.html", version="HTTP/1.0")
    request(PORT, "/index.html", host="www.example.com")
    request(PORT, "/index.html", headers={"X-Long": "y" * 1500})  # 400: header too large
    request(PORT, "/" + "a" * 1500)  # 414
    for data in [
        b"GARBAGE\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: localhost\r\n\r\n",
        b"GET /index.html HTTP/1.1\r\n\r\n",  # no Host
        b"get /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /index.html\r\n",  # HTTP/0.9
        # TLS to a plain port (a ClientHello's first bytes, without NUL bytes: the error log copies them raw)
        b"\x16\x03\x01\x02\x31\x01\x02\x2d\x03\x03\xfc",
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
        b"GET /%zz HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n",
        b"POST /index.html HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b'GET /quote"and\\backslash HTTP/1.1\r\nHost: localhost\r\nUser-Agent: evil "agent"\r\n\r\n',
    ]:
        try:
            raw_request(PORT, data, timeout_s=4.0)
        except OSError:
            pass
    # A partial request the client abandons (408 after client_header_timeout) and one it closes (nothing).
    try:
        raw_request(PORT, b"GET /slow-client HTTP/1.1\r\nHost: loc", timeout_s=4.0)
    except OSError:
        pass
    # The client gives up before the upstream answers: 499.
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=5.0) as sock:
            sock.sendall(b"GET /app/slow/3 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: impatient/1.0\r\n\r\n")
            time.sleep(0.5)
    except OSError:
        pass
    # A keep-alive connection with several requests.
    try:
        data = b"".join(
            f"GET {p} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: keepalive-client/0.1\r\n\r\n".encode()
            for p in ("/", "/about.html", "/robots.txt")
        )
        raw_request(PORT, data, timeout_s=4.0)
    except OSError:
        pass


def collect(workdir: Path) -> list[str]:
    rng = random.Random(1)
    _site(workdir)
    config = _write_config(workdir)
    error_log, access_log = workdir / "error.log", workdir / "access.log"
    blackhole = socket.socket()
    blackhole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blackhole.bind(("127.0.0.1", BLACKHOLE_PORT))
    blackhole.listen(16)
    process = None
    try:
        with Origin(ORIGIN_PORT):
            argv = ["nginx", "-c", str(config), "-p", str(workdir), "-e", str(error_log), "-g", "daemon off;"]
            process = start(argv, log=workdir / "stdout.log")
            wait_for_port(PORT)
            _traffic(rng)
            # A reload with a broken configuration (refused, logged as [emerg]), then a good one.
            _write_config(workdir, extra="no_such_directive on;")
            os.kill(process.pid, signal.SIGHUP)
            time.sleep(1.0)
            _write_config(workdir, extra="server_tokens off;")
            os.kill(process.pid, signal.SIGHUP)
            time.sleep(1.5)
            wait_for_port(PORT)
            _traffic(random.Random(2))
            # Reopen the logs (SIGUSR1), as logrotate does.
            os.kill(process.pid, signal.SIGUSR1)
            time.sleep(0.5)
            request(PORT, "/after-reopen.html", headers={"User-Agent": "logrotate-check/1.0"})
            # Graceful shutdown (SIGQUIT), then the harness's SIGTERM if still running.
            os.kill(process.pid, signal.SIGQUIT)
            try:
                process.wait(10)
            except Exception:  # noqa: BLE001 - stop() below ends it
                pass
    finally:
        if process is not None:
            stop(process)
        blackhole.close()
    return read_lines([access_log, error_log, workdir / "stdout.log"])
