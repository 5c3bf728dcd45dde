r"""HAProxy 2.6 (Debian bookworm): the HTTP log format (``option httplog``), logged raw to stdout.

``log stdout format raw local0`` writes each log message to stdout as is, one per line: no syslog header,
no timestamp, no ``haproxy[pid]:`` tag (the ``raw`` format). ``option httplog`` is this log-format
(configuration.txt, 8.2.3 "HTTP log format")::

    %ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r

e.g. ``127.0.0.1:51334 [05/Dec/2024:22:02:01.544] fe_main be_app/app1 0/0/0/1/1 200 178 - - ----
1/1/0/0/0 0/0 {localhost:18400|curl/7.88.1} "GET /index.html HTTP/1.1"``. Values, in order:

* ``%ci:%cp``: client IP address and port joined by ``:`` (two values);
* ``[%tr]``: the date the request was received, ``dd/Mon/yyyy:HH:MM:SS.mmm`` with milliseconds and no
  zone, inside brackets (one timestamp value);
* ``%ft``: the frontend name (one value; a ``~`` is appended for an SSL frontend);
* ``%b/%s``: backend name and server name joined by ``/`` (two values); ``<NOSRV>`` when the request
  never reached a server (denied, redirected, bad request), ``<STATS>`` for the stats page;
* ``%TR/%Tw/%Tc/%Tr/%Ta``: five timers in milliseconds joined by ``/`` (request, queue, connect, response,
  total; five values, ``-1`` when the step was not reached);
* ``%ST``: the HTTP status code (one value; ``-1`` when none);
* ``%B``: bytes sent to the client, headers included (one value);
* ``%CC %CS``: captured request and response cookies (one value each, ``-`` when not captured);
* ``%tsc``: the termination state, four characters (one value; ``----`` normal, ``CD--`` client aborted
  in data phase, ``sH--`` server timeout before headers, ``SC--`` server refused the connection, ``PR--``
  denied by the proxy, ``LR--`` answered locally, ``cR--`` client timeout during the request, ``PT--``
  tarpitted, ``SH--`` server aborted before headers, ``CR--`` client aborted during the request);
* ``%ac/%fc/%bc/%sc/%rc``: active connections process-wide, on the frontend, on the backend, on the server,
  and the retries, joined by ``/`` (five values; a retries count may be prefixed ``+`` when redispatched);
* ``%sq/%bq``: server and backend queue lengths (two values);
* ``%hr``: the captured request headers in braces, separated by ``|`` (``{localhost:18400|curl/7.88.1}``:
  here the Host and the User-Agent, each one value, the User-Agent keeping its spaces, truncated to the
  capture length, 64 characters here; an absent header leaves its slot empty: ``{localhost|}``);
* ``%hs``: the captured response headers in braces (``{text/plain}``: the Content-Type, one value; ``{}``
  when absent). The two brace groups are missing when the request was not parsed (``<BADREQ>``) or for a
  proxy without captures (the stats listener);
* ``%{+Q}r``: the request line in double quotes: method, URI, protocol (three values); ``"<BADREQ>"`` for an
  unparsable request (one value).

A TCP listener (``mode tcp``, ``option tcplog``) logs the TCP format::

    %ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq

(``%Tt`` total time, ``%ts`` the two-character termination state, e.g. ``--`` or ``cD``; no captures and
no request line). Besides, haproxy logs events as plain sentences with no prefix, e.g. ``Server be_app/app2 is
DOWN, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms. 1 active and 0
backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.``, ``backend be_dead has no server
available!``, ``Server be_app/app1 is going DOWN for maintenance. ...``, ``Server be_app/app2 enters drain
state. ...``, ``Proxy fe_main stopped (cumulated conns: FE: 108, BE: 0).``.

HAProxy's stderr is captured in the same file. It repeats those events and adds the master-worker and
configuration messages, each as ``[LEVEL]`` padded with spaces to 11 characters, the pid in parentheses,
`` : `` and the message: ``[NOTICE]   (21766) : New worker (22254) forked``, ``[WARNING]  (22254) : Server
be_app/app2 is UP, reason: Layer7 check passed, code: 200, ...``, ``[ALERT]    (21766) : config : parsing
[/path/haproxy.cfg:39] : unknown keyword 'no_such_keyword' in 'frontend' section`` (the bracketed
``file:line`` is one value), ``[WARNING]  (21766) : Loading failure!``.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

from programs._http_origin import REFERERS, USER_AGENTS, Origin, raw_request, request
from programs._support import read_lines, start, stop, wait_for_port

FORMAT_SOURCE = (
    "/usr/share/doc/haproxy/configuration.txt.gz (8.2.3 HTTP log format, 8.2.2 TCP log format, 8.5 Session "
    "state at disconnection; log ... format raw) = https://docs.haproxy.org/2.6/configuration.html#8.2.3"
)
PACKAGES = ["haproxy"]

PORT = 18400
APP1_PORT = 18401
APP2_PORT = 18402
DEAD_PORT = 18403
STATS_PORT = 18404
TCP_PORT = 18405

CONFIG = """\
global
    log stdout format raw local0 info
    stats socket {wd}/admin.sock mode 600 level admin
    pidfile {wd}/haproxy.pid

userlist users
    user alice insecure-password wonderland
    user bob insecure-password builder

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 3s
    timeout server 2s
    timeout http-request 2s
    timeout tarpit 1s
    timeout check 1s

frontend fe_main
    bind 127.0.0.1:{port}
    capture request header Host len 32
    capture request header User-Agent len 64
    capture response header Content-Type len 32
    capture cookie session len 32
    acl is_admin path_beg /admin
    acl authed http_auth(users)
    http-request deny if is_admin
    http-request deny deny_status 429 if {{ path_beg /limited }}
    http-request tarpit if {{ path_beg /wp-login.php }}
    http-request redirect location /new-home code 301 if {{ path /old-home }}
    http-request redirect scheme https code 302 if {{ path_beg /secure }}
    http-request return status 200 content-type text/plain string "ok" if {{ path /health }}
    http-request auth realm Restricted if {{ path_beg /private }} !authed
    use_backend be_dead if {{ path_beg /api }}
    use_backend be_stats if {{ path_beg /stats }}
    default_backend be_app
    {extra}

backend be_app
    balance roundrobin
    option httpchk GET /status/200
    http-request set-header X-Forwarded-Proto http
    server app1 127.0.0.1:{app1} check inter 1s fall 2 rise 1
    server app2 127.0.0.1:{app2} check inter 1s fall 2 rise 1

backend be_dead
    retries 1
    server dead1 127.0.0.1:{dead} check inter 1s fall 1 rise 1

backend be_stats
    stats enable
    stats uri /stats
    stats refresh 10s

listen stats_page
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /

listen tcp_relay
    mode tcp
    option tcplog
    bind 127.0.0.1:{tcp}
    timeout client 2s
    server app1 127.0.0.1:{app1}
"""


def _write_config(workdir: Path, extra: str = "") -> Path:
    config = workdir / "haproxy.cfg"
    config.write_text(
        CONFIG.format(
            wd=workdir,
            port=PORT,
            app1=APP1_PORT,
            app2=APP2_PORT,
            dead=DEAD_PORT,
            stats=STATS_PORT,
            tcp=TCP_PORT,
            extra=extra,
        )
    )
    return config


def _admin(workdir: Path, command: str) -> None:
    """One command on the stats socket (admin level)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5.0)
            sock.connect(str(workdir / "admin.sock"))
            sock.sendall(command.encode() + b"\n")
            while sock.recv(65536):
                pass
    except OSError:
        pass


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
        "/favicon.ico",
        "/search?q=haproxy+logs&page=2",
        "/users/42?expand=true",
        "/status/201",
        "/status/204",
        "/status/404",
        "/status/500",
        "/status/503",
        "/redirect",
        "/big",
        "/cache/logo.png",
        "/close",
        "/slow/3",
        "/slow/0.5",
        "/admin/",
        "/admin/users",
        "/limited/resource",
        "/wp-login.php",
        "/old-home",
        "/secure/account",
        "/health",
        "/api/v1/items",
        "/api/v1/items/7",
        "/stats",
        "/caf%C3%A9/menu.html",
    ]:
        get(path)
    get("/", headers={"Cookie": "session=abc123def456; theme=dark"})
    get("/index.html", method="HEAD")
    get("/items", method="POST", body=b'{"name": "widget"}')
    get("/items/3", method="PUT", body=b'{"name": "gadget"}')
    get("/items/3", method="DELETE")
    get("/items", method="OPTIONS")
    get("/items/3", method="PATCH", body=b'{"price": 3}')
    get("/private/report.pdf")
    get("/private/report.pdf", headers={"Authorization": _basic("alice", "wonderland")})
    get("/private/report.pdf", headers={"Authorization": _basic("alice", "wrong")})
    get("/private/data.csv", headers={"Authorization": _basic("bob", "builder")})
    get("/", port=STATS_PORT)
    get("/;csv", port=STATS_PORT)
    request(PORT, "/index.html", version="HTTP/1.0")
    request(PORT, "/index.html", host="www.example.com")
    request(PORT, "/index.html")  # no User-Agent
    for data in [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: localhost\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n",
        b"GET /bad path HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nBroken header line\r\n\r\n",
    ]:
        try:
            raw_request(PORT, data, timeout_s=4.0)
        except OSError:
            pass
    # A client that never completes its request (408), one that connects and sends nothing, one that gives up.
    try:
        raw_request(PORT, b"GET /partial HTTP/1.1\r\nHost: loc", timeout_s=4.0)
        raw_request(PORT, b"", timeout_s=4.0)
        with socket.create_connection(("127.0.0.1", PORT), timeout=5.0) as sock:
            sock.sendall(b"GET /slow/1.5 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: impatient/1.0\r\n\r\n")
            time.sleep(0.3)
    except OSError:
        pass
    # The TCP relay: an HTTP request through it, and a connection that idles until the client timeout.
    try:
        raw_request(TCP_PORT, b"GET /via-tcp HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        raw_request(TCP_PORT, b"", timeout_s=4.0)
    except OSError:
        pass


def collect(workdir: Path) -> list[str]:
    rng = random.Random(9)
    config = _write_config(workdir)
    out_log = workdir / "haproxy.log"
    # A configuration check of a broken file first (its complaints go to stderr).
    broken = workdir / "broken.cfg"
    broken.write_text(config.read_text() + "    no_such_keyword on\n    use_backend be_missing if { path /x }\n")
    with open(out_log, "ab") as out:
        subprocess.run(["haproxy", "-c", "-f", str(broken)], stdout=out, stderr=out, timeout=30)
    process = None
    try:
        with Origin(APP1_PORT):
            process = start(["haproxy", "-W", "-db", "-f", str(config)], log=out_log)
            wait_for_port(PORT)
            time.sleep(2.5)  # health checks: app2 and dead1 go DOWN
            _traffic(rng)
            # app2 comes up (checks pass), then maintenance through the admin socket.
            with Origin(APP2_PORT):
                time.sleep(2.0)
                _traffic(random.Random(10))
                _admin(workdir, "disable server be_app/app1")
                _admin(workdir, "set server be_app/app2 weight 50")
                for path in ("/during-maintenance", "/users/7", "/status/202"):
                    request(PORT, path, headers={"User-Agent": USER_AGENTS[0]})
                _admin(workdir, "enable server be_app/app1")
                _admin(workdir, "set server be_app/app2 state drain")
                _admin(workdir, "set server be_app/app2 state ready")
                _admin(workdir, "shutdown sessions server be_app/app2")
            time.sleep(2.5)  # app2 goes DOWN again
            # Reload (SIGUSR2 to the master) with a changed configuration.
            _write_config(workdir, extra="http-response set-header X-Reloaded yes")
            os.kill(process.pid, signal.SIGUSR2)
            time.sleep(2.0)
            wait_for_port(PORT)
            _traffic(random.Random(11))
            # A reload with a broken configuration (refused by the master; the old worker goes on).
            _write_config(workdir, extra="no_such_keyword on")
            os.kill(process.pid, signal.SIGUSR2)
            time.sleep(2.0)
            request(PORT, "/after-failed-reload", headers={"User-Agent": USER_AGENTS[1]})
            # Soft stop (SIGUSR1 to the master) lets the workers finish, then the harness's SIGTERM.
            os.kill(process.pid, signal.SIGUSR1)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if process is not None:
            stop(process)
    return read_lines([out_log])
