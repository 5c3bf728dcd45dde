r"""lighttpd 1.4.69 (Debian bookworm): the access log (mod_accesslog's default format) and the error log.

Access log (``accesslog.filename``, ``accesslog.format`` left at its default, which is in mod_accesslog.c)::

    %h %V %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"

e.g. ``127.0.0.1 localhost alice [05/Dec/2024:22:02:01 +0000] "GET /private/ HTTP/1.1" 200 12 "-" "curl/7.88.1"``.
Values, in order:

* ``%h``: the client's IP address (one value; lighttpd never resolves names);
* ``%V``: the request's host name (the Host header / authority as sent, e.g. ``localhost`` or
  ``www.example.com:18100``; one value), ``-`` when the request had none;
* ``%u``: the user name authenticated by mod_auth (one value), ``-`` when none;
* ``%t``: the time of the request in the Common Log Format, ``[dd/Mon/yyyy:HH:MM:SS +zzzz]``; the brackets
  delimit one timestamp value;
* ``"%r"``: the request line inside double quotes: method, request target (path and query string as sent)
  and protocol, three values separated by spaces; for a request lighttpd could not parse, what it read
  (possibly empty ``""``);
* ``%>s``: the response status code (one value);
* ``%b``: the bytes of the response body sent (one value; ``0`` when none);
* ``"%{Referer}i"``: the Referer header inside double quotes (one value), ``"-"`` when absent;
* ``"%{User-Agent}i"``: the User-Agent header inside double quotes: ONE value although it usually contains
  spaces and parentheses; ``"-"`` when absent.

Values are escaped: ``"`` and ``\`` as ``\"``/``\\``, control and non-ASCII bytes as ``\xHH``.

Error log (``server.errorlog``), written by log.c (``log_error()``)::

    YYYY-MM-DD HH:MM:SS: (source.c.LINE) message

e.g. ``2024-12-05 22:02:01: (server.c.1588) server started (lighttpd/1.4.69)``. Values: the date and the time
(one local timestamp, followed by a colon), then the source file and line that logged, in parentheses, joined
by a dot (``mod_auth.c.1234``: one value), then the free-text message. With the ``debug.*`` options set here,
messages include request headers (``fd:10 rqst: GET /x HTTP/1.1``, then one line per header ``fd:10 rqst:
Host: localhost`` and an empty ``fd:10 rqst: `` line; for a rejected request ``rqst: ...`` from request.c),
file-not-found details (``-- : No such file or directory``, ``Path         : /path``, ``URI          : /x``),
request-handling traces (``-- parsed Request-URI``, ``Request-URI     : /x?a=1``, ``URI-path (clean): /x``, the
label padded with spaces before its colon; the value after ``: `` can be empty), auth failures (``password
doesn't match for /private/x username: alice IP: 127.0.0.1``), proxy backend errors (``establishing connection
failed: socket: tcp:127.0.0.1:18102: Connection refused``), rejected requests (``invalid request line (too
short) -> 400``) and lifecycle lines (``server started (lighttpd/1.4.69)``, ``[note] graceful shutdown
started``, ``server stopped by UID = 0 PID = 1234``, ``logfiles cycled UID = 0 PID = 1234``). Non-printable
bytes in values are written ``\xHH``.

lighttpd's stderr is captured too: the complaint of ``lighttpd -t`` about a broken configuration (one line
without the timestamp, e.g. ``Duplicate config variable in conditional 0 global: server.port``, then the usual
layout), and the stderr of the CGI scripts it runs, copied verbatim, one script line per log line, without any
prefix (e.g. ``broken.sh: giving up after 3 attempts``).
"""

from __future__ import annotations

import base64
import os
import random
import signal
import socket
import time
from pathlib import Path

from programs._http_origin import REFERERS, USER_AGENTS, Origin, raw_request, request
from programs._support import read_lines, start, stop, wait_for_port

FORMAT_SOURCE = (
    "https://redmine.lighttpd.net/projects/lighttpd/wiki/Docs_ModAccesslog (default accesslog.format, "
    "checked in /usr/lib/lighttpd/mod_accesslog.so); https://redmine.lighttpd.net/projects/lighttpd/wiki/"
    "DebugVariables; lighttpd 1.4.69 src/log.c"
)
PACKAGES = ["lighttpd"]

PORT = 18100
ORIGIN_PORT = 18101
DEAD_PORT = 18102
BLACKHOLE_PORT = 18103

CONFIG = """\
server.modules = ("mod_access", "mod_auth", "mod_authn_file", "mod_redirect", "mod_rewrite",
                  "mod_proxy", "mod_cgi", "mod_status", "mod_dirlisting", "mod_accesslog")
server.bind = "127.0.0.1"
server.port = {port}
server.document-root = "{wd}/html"
server.errorlog = "{wd}/error.log"
server.pid-file = "{wd}/lighttpd.pid"
server.upload-dirs = ("{wd}/upload")
server.max-request-size = 2
server.max-read-idle = 3
server.max-keep-alive-idle = 2
server.tag = "{tag}"
index-file.names = ("index.html")
mimetype.assign = (".html" => "text/html", ".txt" => "text/plain", ".json" => "application/json",
                   ".png" => "image/png")
accesslog.filename = "{wd}/access.log"
static-file.exclude-extensions = (".sh")

debug.log-request-header = "{header}"
debug.log-file-not-found = "enable"
debug.log-request-handling = "{handling}"
debug.log-request-header-on-error = "enable"
debug.log-timeouts = "enable"

status.status-url = "/server-status"
status.config-url = "/server-config"

auth.backend = "plain"
auth.backend.plain.userfile = "{wd}/users"
auth.require = ("/private/" => ("method" => "basic", "realm" => "Private area", "require" => "valid-user"),
                "/staff/" => ("method" => "basic", "realm" => "Staff", "require" => "user=bob"))

url.redirect = ("^/old/(.*)$" => "/new/$1")
url.rewrite-once = ("^/new/(.*)\\.htm$" => "/$1.html")

$HTTP["url"] =~ "^/files/" {{
    dir-listing.activate = "enable"
}}
$HTTP["url"] =~ "^/admin/" {{
    url.access-deny = ("")
}}
$HTTP["url"] =~ "^/cgi-bin/" {{
    cgi.assign = (".sh" => "/bin/sh")
}}
$HTTP["url"] =~ "^/app/" {{
    proxy.server = ("" => (("host" => "127.0.0.1", "port" => {origin})))
    proxy.header = ("map-urlpath" => ("/app/" => "/"))
}}
$HTTP["url"] =~ "^/api/" {{
    proxy.server = ("" => (("host" => "127.0.0.1", "port" => {dead})))
}}
$HTTP["url"] =~ "^/hang/" {{
    proxy.server = ("" => (("host" => "127.0.0.1", "port" => {blackhole},
                            "connect-timeout" => 1, "read-timeout" => 1)))
}}
"""

CGI_SCRIPTS = {
    "hello.sh": 'printf "Content-Type: text/plain\\r\\n\\r\\nhello from cgi, query=%s\\n" "$QUERY_STRING"\n',
    "broken.sh": 'echo "broken.sh: cannot open database /var/lib/app/data.db: No such file or directory" >&2\n'
    'echo "broken.sh: giving up after 3 attempts" >&2\nexit 1\n',
    "noheader.sh": 'echo "this is not a header"\n',
    "status.sh": 'printf "Status: 503 Service Unavailable\\r\\nContent-Type: text/plain\\r\\n\\r\\nbusy\\n"\n'
    'echo "status.sh: WARNING load average 12.5 above threshold 8" >&2\n',
}


def _write_config(workdir: Path, tag: str = "lighttpd", handling: str = "disable", header: str = "disable") -> Path:
    config = workdir / "lighttpd.conf"
    config.write_text(
        CONFIG.format(
            wd=workdir,
            port=PORT,
            origin=ORIGIN_PORT,
            dead=DEAD_PORT,
            blackhole=BLACKHOLE_PORT,
            tag=tag,
            handling=handling,
            header=header,
        )
    )
    return config


def _site(workdir: Path) -> None:
    html = workdir / "html"
    for sub in ("files/docs", "private", "staff", "admin", "cgi-bin", "nolisting"):
        (html / sub).mkdir(parents=True, exist_ok=True)
    (workdir / "upload").mkdir(exist_ok=True)
    (html / "index.html").write_text("<html><body>hello</body></html>\n" * 10)
    (html / "about.html").write_text("<html><body>about</body></html>\n")
    (html / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    (html / "data.json").write_text('{"ok": true}\n')
    (html / "logo.png").write_bytes(bytes(range(256)) * 8)
    (html / "files/readme.txt").write_text("read me\n")
    (html / "files/docs/guide.txt").write_text("guide\n" * 50)
    (html / "private/secret.txt").write_text("secret\n")
    (html / "staff/index.html").write_text("staff\n")
    (html / "admin/index.html").write_text("admin\n")
    (html / "nolisting/a.txt").write_text("a\n")
    for name, text in CGI_SCRIPTS.items():
        (html / "cgi-bin" / name).write_text(text)
    (workdir / "users").write_text("alice:wonderland\nbob:builder\ncarol:secret\n")


def _basic(user: str, password: str) -> str:
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
        "/files/",
        "/files/docs/",
        "/files/docs/guide.txt",
        "/files/missing.txt",
        "/nolisting/",
        "/search?q=lighttpd+logs&page=3",
        "/index.html?utm_source=feed",
        "/blog/2023/01/hello%20world",
        "/caf%C3%A9/menu.html",
        "/../../etc/passwd",
        "/old/about.htm",
        "/old/nothing.htm",
        "/admin/",
        "/server-status",
        "/server-status?auto",
        "/server-config",
        "/cgi-bin/hello.sh?name=world",
        "/cgi-bin/broken.sh",
        "/cgi-bin/noheader.sh",
        "/cgi-bin/status.sh",
        "/cgi-bin/missing.sh",
        "/app/",
        "/app/users/42?expand=true",
        "/app/status/201",
        "/app/status/404",
        "/app/status/500",
        "/app/redirect",
        "/app/big",
        "/app/close",
        "/api/v1/items",
        "/hang/request",
    ]:
        get(path)
    get("/index.html", method="HEAD")
    get("/index.html", method="POST", body=b"a=1&b=2")
    get("/index.html", method="PUT", body=b"{}")
    get("/index.html", method="DELETE")
    get("/index.html", method="OPTIONS")
    get("/index.html", method="PROPFIND")
    get("/app/items", method="POST", body=b'{"name": "widget"}')
    get("/app/items/3", method="DELETE")
    get("/app/upload", method="POST", body=b"x" * 5000)  # 413: over server.max-request-size (2 KiB)
    get("/index.html", headers={"Range": "bytes=0-99"})
    get("/index.html", headers={"Range": "bytes=99999-"})
    get("/index.html", headers={"If-Modified-Since": "Thu, 01 Jan 2037 00:00:00 GMT"})
    get("/index.html", headers={"Accept-Encoding": "gzip, deflate, br", "Cookie": "session=abc123; theme=dark"})
    get("/private/secret.txt")
    get("/private/secret.txt", headers={"Authorization": _basic("alice", "wonderland")})
    get("/private/secret.txt", headers={"Authorization": _basic("alice", "wrong")})
    get("/private/secret.txt", headers={"Authorization": _basic("mallory", "guess")})
    get("/staff/", headers={"Authorization": _basic("carol", "secret")})
    get("/staff/", headers={"Authorization": _basic("bob", "builder")})
    get("/private/secret.txt", headers={"Authorization": "Basic !!!notbase64"})
    get("/private/secret.txt", headers={"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"})
    request(PORT, "/index.html", version="HTTP/1.0")
    request(PORT, "/index.html", host="www.example.com:18100")
    request(PORT, "/index.html", headers={"X-Long": "y" * 70000})
    for data in [
        b"GARBAGE\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: localhost\r\n\r\n",
        b"GET /index.html HTTP/1.1\r\n\r\n",  # no Host
        b"GET /index.html HTTP/1.1\r\nHost: bad host name\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"GET /%zz HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n",
        b"POST /index.html HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
        b'GET /quote"and\\backslash HTTP/1.1\r\nHost: localhost\r\nUser-Agent: evil "agent"\r\n\r\n',
        b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nBroken header line\r\n\r\n",
    ]:
        try:
            raw_request(PORT, data, timeout_s=4.0)
        except OSError:
            pass
    # A partial request the client abandons (read timeout), and a client that gives up before the upstream.
    try:
        raw_request(PORT, b"GET /slow-client HTTP/1.1\r\nHost: loc", timeout_s=5.0)
    except OSError:
        pass
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=5.0) as sock:
            sock.sendall(b"GET /app/slow/2 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: impatient/1.0\r\n\r\n")
            time.sleep(0.3)
    except OSError:
        pass
    try:
        data = b"".join(
            f"GET {p} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: keepalive-client/0.1\r\n\r\n".encode()
            for p in ("/", "/about.html", "/robots.txt")
        )
        raw_request(PORT, data, timeout_s=4.0)
    except OSError:
        pass


def collect(workdir: Path) -> list[str]:
    rng = random.Random(3)
    _site(workdir)
    config = _write_config(workdir)
    error_log, access_log, stderr_log = workdir / "error.log", workdir / "access.log", workdir / "stderr.log"
    blackhole = socket.socket()
    blackhole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blackhole.bind(("127.0.0.1", BLACKHOLE_PORT))
    blackhole.listen(16)
    process = None
    try:
        with Origin(ORIGIN_PORT):
            # A configuration check of a broken file first (its complaint goes to stderr).
            broken = workdir / "broken.conf"
            broken.write_text(config.read_text() + 'server.no-such-option = "x"\nserver.port = "abc"\n')
            start(["lighttpd", "-t", "-f", str(broken)], log=stderr_log).wait(30)
            process = start(["lighttpd", "-D", "-f", str(config)], log=stderr_log)
            wait_for_port(PORT)
            _traffic(rng)
            # Reopen the logs (SIGHUP); a graceful restart (SIGUSR1) with request-header and request-handling
            # traces on for a few requests; another one with them off again for a second round.
            os.kill(process.pid, signal.SIGHUP)
            time.sleep(0.5)
            _write_config(workdir, tag="lighttpd/traced", handling="enable", header="enable")
            os.kill(process.pid, signal.SIGUSR1)
            time.sleep(1.5)
            wait_for_port(PORT)
            for path, method, headers in [
                ("/index.html?lang=en", "GET", {"User-Agent": USER_AGENTS[1], "Accept-Language": "en-US,en;q=0.5"}),
                ("/files/", "GET", {"User-Agent": USER_AGENTS[0]}),
                ("/nothing/here.php", "GET", {"User-Agent": USER_AGENTS[6]}),
                ("/private/secret.txt", "GET", {"Authorization": _basic("bob", "builder")}),
                ("/app/users?id=7", "POST", {"Content-Type": "application/json"}),
                ("/cgi-bin/hello.sh?x=1", "GET", {}),
                ("/admin/", "GET", {"X-Forwarded-For": "203.0.113.7"}),
            ]:
                request(PORT, path, method=method, headers=headers, body=b"{}" if method == "POST" else b"")
            _write_config(workdir, tag="lighttpd/reloaded")
            os.kill(process.pid, signal.SIGUSR1)
            time.sleep(1.5)
            wait_for_port(PORT)
            _traffic(random.Random(4))
    finally:
        if process is not None:
            os.kill(process.pid, signal.SIGINT) if process.poll() is None else None
            try:
                process.wait(10)
            except Exception:  # noqa: BLE001 - stop() below ends it
                pass
            stop(process)
        blackhole.close()
    return read_lines([stderr_log, access_log, error_log])
