"""Squid 5.7 (Debian bookworm): access.log in the native ``squid`` format and cache.log.

access.log (``access_log stdio:access.log squid``), the predefined ``squid`` logformat (squid.conf.documented,
``logformat``)::

    logformat squid %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt

e.g. ``1733436121.544      3 127.0.0.1 TCP_MISS/200 412 GET http://127.0.0.1:18301/cache/a - HIER_DIRECT/127.0.0.1
text/plain``. Values, in order, separated by single spaces except where padded:

* ``%ts.%03tu``: the time as Unix epoch seconds and milliseconds (one value, ``1733436121.544``);
* ``%6tr``: the response time in milliseconds, right-aligned in a field of 6 characters (so preceded by
  runs of spaces; one number value);
* ``%>a``: the client's IP address (one value);
* ``%Ss/%03>Hs``: the Squid result code and the HTTP status sent to the client, joined by ``/``
  (``TCP_MISS/200``, ``TCP_MEM_HIT/200``, ``TCP_DENIED/407``, ``NONE_NONE/400``, ``TCP_MISS_ABORTED/000``;
  two values: a result code, whose ``_``-joined words such as ``TCP_REFRESH_UNMODIFIED`` are one value, and a
  3-digit status, ``000`` when none was sent);
* ``%<st``: the bytes sent to the client, headers included (one value);
* ``%rm``: the request method (one value, ``GET``, ``CONNECT``, ``PURGE``, ``NONE`` for an unparsable request);
* ``%ru``: the request URL (one value: ``http://host:port/path``, the query string cut to a bare ``?`` by
  the default ``strip_query_terms on``; ``host:port`` for CONNECT;
  ``error:invalid-request`` or ``error:transaction-end-before-headers`` when squid could not parse one);
* ``%[un``: the user name (from proxy authentication), ``-`` when none (one value);
* ``%Sh/%<a``: the hierarchy code and the address of the server or peer, joined by ``/`` (``HIER_DIRECT/
  127.0.0.1``, ``HIER_NONE/-``: two values, ``-`` when none);
* ``%mt``: the MIME content type of the reply (one value, ``text/html``; ``-`` when none).

cache.log (``cache_log cache.log``, ``debug_options ALL,1``): ``YYYY/MM/DD HH:MM:SS| message``, e.g.
``2024/12/05 22:02:01| Accepting HTTP Socket connections at conn3 local=127.0.0.1:18300 remote=[::] FD 11
flags=9``. Values: the date and the time (one local timestamp, no zone) followed directly by ``|``
(``squid -N`` runs a single process: no ``kidN`` name before the ``|``), then free text. Some messages
continue over several lines: indented by 4 spaces (``    current master transaction: master53``) or with no
prefix at all (``CPU Usage: 0.089 seconds = 0.067 user + 0.022 sys``; the request headers after ``WARNING:
Forwarding loop detected for:``). Some messages start with ``WARNING:``, ``ERROR:`` or ``FATAL:``. While a
debug level above 1 is configured, the timestamp has milliseconds (``22:14:05.149|``), and messages of a level
above 1 also carry the debug section and level and the source position:
``YYYY/MM/DD HH:MM:SS.mmm| 11,2| http.cc(2505) sendRequest: HTTP Server conn161 local=... remote=...``
(section,level then ``source.cc(LINE) function:``); the section-11 (HTTP) dumps done here for a few requests
are followed by the raw HTTP message, one header per line and no prefix, between ``---------`` and
``----------`` lines for client requests (``GET http://... HTTP/1.1``, ``Host: 127.0.0.1:18301``,
``HTTP/1.1 200 OK``). The output of ``squid -k parse`` on a broken configuration (stderr: the same
``YYYY/MM/DD HH:MM:SS| `` layout, ``Processing: <directive line>``, ``FATAL: Bungled ...``) is captured too.
"""

from __future__ import annotations

import base64
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

from programs._http_origin import USER_AGENTS, Origin, raw_request, request
from programs._support import read_lines, run, start, stop, wait_for_port

FORMAT_SOURCE = (
    "/usr/share/doc/squid/squid.conf.documented (logformat squid, access_log, cache_log, debug_options) "
    "= http://www.squid-cache.org/Doc/config/logformat/ ; https://wiki.squid-cache.org/SquidFaq/SquidLogs"
)
PACKAGES = ["squid", "openssl"]

PORT = 18300
ORIGIN_PORT = 18301
DEAD_PORT = 18302

CONFIG = """\
http_port 127.0.0.1:{port}
icp_port 0
htcp_port 0
pid_filename {wd}/squid.pid
cache_log {logs}/cache.log
access_log stdio:{logs}/access.log squid
cache_store_log none
netdb_filename none
coredump_dir {logs}
cache_mem 16 MB
maximum_object_size_in_memory 128 KB
shutdown_lifetime 1 seconds
read_timeout {read_timeout} seconds
connect_timeout 3 seconds
dns_nameservers 127.0.0.1
dns_timeout 3 seconds
hosts_file /etc/hosts
pinger_enable off
visible_hostname localhost
debug_options ALL,1
refresh_pattern /nocache/ 0 0% 0
refresh_pattern . 0 20% 4320

auth_param basic program /usr/lib/squid/basic_ncsa_auth {wd}/passwd
auth_param basic children 2
auth_param basic realm Corpus proxy
auth_param basic credentialsttl 2 hours

acl localnet src 127.0.0.0/8
acl SSL_ports port 443 {port_origin}
acl Safe_ports port 80 443 18000-18999
acl CONNECT method CONNECT
acl PURGE method PURGE
acl blocked dstdomain .blocked.example
acl private urlpath_regex ^/private
acl authed proxy_auth REQUIRED
{extra}

http_access allow localhost manager
http_access deny manager
http_access allow localhost PURGE
http_access deny PURGE
http_access deny !Safe_ports
http_access deny CONNECT !SSL_ports
http_access deny blocked
http_access deny private !authed
http_access allow localnet
http_access deny all
"""


def _write_config(workdir: Path, read_timeout: int = 2, extra: str = "") -> Path:
    config = workdir / "squid.conf"
    config.write_text(
        CONFIG.format(
            wd=workdir,
            logs=workdir / "logs",
            port=PORT,
            port_origin=ORIGIN_PORT,
            read_timeout=read_timeout,
            extra=extra,
        )
    )
    return config


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _traffic(rng: random.Random) -> None:
    origin = f"http://127.0.0.1:{ORIGIN_PORT}"

    def get(url: str, method: str = "GET", **kwargs: object) -> None:
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        headers.setdefault("User-Agent", rng.choice(USER_AGENTS))
        host = url.split("/")[2] if "://" in url else url
        request(PORT, url, method=method, host=host, headers=headers, timeout_s=8.0, **kwargs)  # type: ignore[arg-type]

    for path in [
        "/",
        "/index.html",
        "/cache/logo.png",
        "/cache/logo.png",
        "/cache/style.css",
        "/cache/style.css",
        "/cache/style.css?v=2",
        "/nocache/feed.xml",
        "/nocache/feed.xml",
        "/search?q=squid+proxy&lang=en",
        "/status/201",
        "/status/204",
        "/status/301",
        "/status/404",
        "/status/500",
        "/status/502",
        "/status/503",
        "/redirect",
        "/big",
        "/big",
        "/close",
        "/slow/3",
    ]:
        get(origin + path)
    get(origin + "/cache/logo.png", headers={"If-Modified-Since": "Mon, 02 Jan 2023 10:00:00 GMT"})
    get(origin + "/cache/logo.png", headers={"Cache-Control": "no-cache", "Pragma": "no-cache"})
    get(origin + "/cache/logo.png", headers={"Cache-Control": "max-age=0"})
    get(origin + "/cache/logo.png", headers={"Range": "bytes=0-10"})
    get(origin + "/cache/logo.png", method="HEAD")
    get(origin + "/api/items", method="POST", body=b'{"name": "widget"}')
    get(origin + "/api/items/3", method="PUT", body=b'{"name": "gadget"}')
    get(origin + "/api/items/3", method="DELETE")
    get(origin + "/api/items", method="OPTIONS")
    get(origin + "/cache/logo.png", method="PURGE")
    get(origin + "/cache/never-seen.png", method="PURGE")
    get(origin + "/private/report.pdf")
    get(origin + "/private/report.pdf", headers={"Proxy-Authorization": _basic("alice", "wonderland")})
    get(origin + "/private/report.pdf", headers={"Proxy-Authorization": _basic("alice", "wrong")})
    get(origin + "/private/data.csv", headers={"Proxy-Authorization": _basic("mallory", "guess")})
    get(origin + "/private/data.csv", headers={"Proxy-Authorization": _basic("bob", "builder")})
    get(f"http://127.0.0.1:{DEAD_PORT}/api/v1/items")
    get("http://127.0.0.1:25/smtp")
    get("http://www.blocked.example/ads.js")
    get("http://nonexistent.invalid/index.html")
    get(f"http://localhost:{ORIGIN_PORT}/from-hosts-file")
    get(f"127.0.0.1:{ORIGIN_PORT}", method="CONNECT")
    get(f"127.0.0.1:{DEAD_PORT}", method="CONNECT")
    get("127.0.0.1:22", method="CONNECT")
    get("ftp://127.0.0.1/pub/file.txt")
    get(f"http://localhost:{PORT}/squid-internal-mgr/info")
    get(f"http://localhost:{PORT}/squid-internal-mgr/menu")
    get(f"http://localhost:{PORT}/squid-internal-mgr/no-such-action")
    get(f"http://localhost:{PORT}/squid-internal-static/icons/SN.png")
    for data in [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # not a proxy request: squid itself as the origin
        b"GET http://127.0.0.1:18301/ HTTP/9.9\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"GET http://127.0.0.1:18301/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n",
        b"GET http://127.0.0.1:18301/%zz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET http://[::1:18301/ HTTP/1.1\r\nHost: x\r\n\r\n",
    ]:
        try:
            raw_request(PORT, data, timeout_s=4.0)
        except OSError:
            pass
    # A client that connects and sends half a request, and one that gives up before the answer.
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=5.0) as sock:
            sock.sendall(b"GET http://127.0.0.1:18301/slow/3 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", PORT), timeout=5.0) as sock:
            sock.sendall(b"GET http://127.0.0.1:18301/half")
            time.sleep(0.3)
    except OSError:
        pass


def collect(workdir: Path) -> list[str]:
    rng = random.Random(7)
    logs = workdir / "logs"
    logs.mkdir()
    workdir.chmod(0o755)  # squid drops to the "proxy" user: it must reach its logs and helper files
    shutil.chown(logs, "proxy", "proxy")
    hashed = {}
    for user, password in (("alice", "wonderland"), ("bob", "builder")):
        out = subprocess.run(["openssl", "passwd", "-apr1", password], capture_output=True, text=True, check=True)
        hashed[user] = out.stdout.strip()
    (workdir / "passwd").write_text("".join(f"{u}:{h}\n" for u, h in hashed.items()))
    (workdir / "passwd").chmod(0o644)
    config = _write_config(workdir)
    stderr_log = workdir / "stderr.log"
    process = None
    try:
        with Origin(ORIGIN_PORT):
            # A configuration check of a broken file first (its complaints go to stderr).
            broken = workdir / "broken.conf"
            broken.write_text(config.read_text() + "no_such_directive on\nhttp_access allow undefined_acl\n")
            with open(stderr_log, "ab") as err:
                subprocess.run(["squid", "-k", "parse", "-f", str(broken)], stdout=err, stderr=err, timeout=30)
            process = start(["squid", "-N", "-f", str(config)], log=stderr_log)
            wait_for_port(PORT)
            _traffic(rng)
            # Reconfigure with HTTP message dumps (debug section 11 at level 2) for a few requests, then
            # again without them (a new ACL, a longer read timeout) for a second round; rotate the logs.
            _write_config(workdir, extra="debug_options ALL,1 11,2")
            run(["squid", "-k", "reconfigure", "-f", str(config)], timeout_s=30)
            time.sleep(2.0)
            wait_for_port(PORT)
            for url, method in [
                (f"http://127.0.0.1:{ORIGIN_PORT}/cache/app.js", "GET"),
                (f"http://127.0.0.1:{ORIGIN_PORT}/cache/app.js", "GET"),
                (f"http://127.0.0.1:{ORIGIN_PORT}/status/404", "GET"),
                (f"http://127.0.0.1:{ORIGIN_PORT}/close", "GET"),
                (f"http://127.0.0.1:{DEAD_PORT}/down", "GET"),
                (f"http://127.0.0.1:{ORIGIN_PORT}/form", "POST"),
            ]:
                request(
                    PORT,
                    url,
                    method=method,
                    host=url.split("/")[2],
                    headers={"User-Agent": USER_AGENTS[0]},
                    body=b"a=1&b=2" if method == "POST" else b"",
                )
            _write_config(workdir, read_timeout=5, extra="acl office src 10.0.0.0/8")
            run(["squid", "-k", "reconfigure", "-f", str(config)], timeout_s=30)
            time.sleep(2.0)
            wait_for_port(PORT)
            _traffic(random.Random(8))
            run(["squid", "-k", "rotate", "-f", str(config)], timeout_s=30)
            time.sleep(1.0)
            run(["squid", "-k", "shutdown", "-f", str(config)], timeout_s=30)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if process is not None:
            stop(process)
    files = [stderr_log]
    for name in ("access.log", "cache.log"):
        # after -k rotate: access.log.0 is the older part, access.log the newer one
        files += sorted(logs.glob(f"{name}.*"), reverse=True) + [logs / name]
    return read_lines(files)
