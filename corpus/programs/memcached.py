"""memcached 1.6 ``-vv`` output on stderr: startup, every client command and response, and warnings.

There is no timestamp, no level and no program name: ``-vv`` writes a raw protocol trace (memcached.c,
proto_text.c, proto_bin.c, slabs.c, restart.c). Three servers are run, their outputs concatenated: the main one
(TCP and UDP, ``-o idle_timeout=3``, ``-A``), one with ASCII authentication (``-Y``), and a restartable-cache one
(``-e``) started twice. The shapes:

- slab classes at startup: ``slab class   1: chunk size        96 perslab   10922`` (class number and sizes
  right-aligned with spaces).
- listeners and connections: ``<22 server listening (auto-negotiate)``, ``<23 server listening (udp)``,
  ``<22 server listening (ascii)``, ``<23 send buffer was 212992, now 268435456``; per client ``<30 new
  auto-negotiating client connection`` (``<23 new ascii client connection.`` with ``-Y``) and ``30: Client using
  the ascii protocol`` (or ``binary``); ``<30 connection closed.`` at the end; ``Closing idle fd 25`` for an idle
  client.
- a command read from client fd 30: ``<30 set user:1 0 60 5`` -- ``<`` glued to the fd number (``"<%d %s"``: the
  mark is format text, the fd a value), then the command line exactly as sent: command, key(s), flags, exptime, byte
  count, ``noreply``, meta flags (``mg feed:12 v N30 R10 Oab12``). Keys are free strings without spaces, e.g.
  ``page:/api/v1/users?page=2``, ``sess:<32 hex digits>``, ``rl:203.0.113.7:login``, base64 keys (``dGVzdA==``).
- a response written to client fd 30: ``>30 STORED``, ``>30 sending key user:1``, ``>30 END``, ``>30 NOT_FOUND``,
  ``>30 NOREPLY STORED`` (a ``noreply`` command's suppressed answer), ``>30 15`` (a counter value), ``>30 ERROR``,
  ``>30 CLIENT_ERROR bad data chunk``, ``>30 SERVER_ERROR object too large for cache``, ``>30 NOSPARE source
  class has no spare pages``, ``>30 MN``, ``>30 VERSION 1.6.18``.
- binary protocol: ``<31 Read binary protocol data:`` followed by the 24 header bytes, four a line, as
  ``<31    0x80 0x01 0x00 0x05`` (four spaces after the fd), and ``>31 Writing bin response:`` followed by
  ``>31   0x81 0x01 0x00 0x00`` lines (three spaces); decoded lines ``<31 SET bin:1 Value len is 5``, ``<31 GET
  bin:1``, ``<31 TOUCH bin:1``, ``>31 Writing an error: Not found``, and a few lines without any fd:
  ``incr bin:ctr 1, 7, 0`` (key, delta, initial, expiry), ``Deleting bin:1``, ``Value len is 5``.
- other free-text lines: ``CAS:  failure: expected 2, got 999999`` (two spaces after the colon), ``maxbytes
  adjusted to 32m``, ``Error while preallocating slab memory!``.
- shutdown: ``Gracefully stopping``, ``stopped assoc``, ``asking workers to stop``, ``stopped lru crawler``,
  ``closing connections``, ``reaping worker threads``, ``all background threads stopped``, ``Exiting normally``;
  restartable cache: ``[restart] no metadata save file, starting with a clean cache``, ``[restart] restart
  incompatible due to setting for [stop_time] [old value: 1796508952]`` (a bracketed tag, then text with
  bracketed values).
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from programs._support import read_lines, start, stop, wait_for_port

FORMAT_SOURCE = (
    "https://github.com/memcached/memcached/blob/1.6.18/proto_text.c (and memcached.c, proto_bin.c); man memcached"
)
PACKAGES = ["memcached"]

PORT = 19211
AUTH_PORT = 19212
RESTART_PORT = 19213

ASCII_SESSION = [
    b"version\r\n",
    b"set user:1 0 60 5\r\nalice\r\n",
    b"set user:2 3 0 3\r\nbob\r\n",
    b"get user:1\r\n",
    b"get user:1 user:2 user:3\r\n",
    b"gets user:2\r\n",
    b"add user:1 0 0 1\r\nx\r\n",
    b"add user:9 0 0 1\r\nx\r\n",
    b"replace user:404 0 0 1\r\nx\r\n",
    b"append user:1 0 0 4\r\n-ext\r\n",
    b"prepend user:1 0 0 3\r\npre\r\n",
    b"cas user:2 0 0 3 999999\r\nbad\r\n",
    b"set counter 0 0 1\r\n5\r\n",
    b"incr counter 10\r\n",
    b"decr counter 100\r\n",
    b"incr user:1 1\r\n",
    b"incr nosuch 1\r\n",
    b"touch user:2 120\r\n",
    b"gat 30 user:2\r\n",
    b"gats 30 user:1\r\n",
    b"delete user:9\r\n",
    b"delete user:9\r\n",
    b"set user:3 0 0 2\r\ntoolong\r\n",
    b"bogus command here\r\n",
    b"get " + b"k" * 260 + b"\r\n",
    b"mn\r\n",
    b"ms meta:1 5 T60 F7\r\nhello\r\n",
    b"mg meta:1 v t f s k\r\n",
    b"mg meta:nope v\r\n",
    b"ma counter MI D3\r\n",
    b"md meta:1 q\r\n",
    b"mg meta:1 v\r\n",
    b"me user:2\r\n",
    b"stats\r\n",
    b"stats slabs\r\n",
    b"stats items\r\n",
    b"stats settings\r\n",
    b"stats detail dump\r\n",
    b"verbosity 2\r\n",
    b"lru_crawler metadump all\r\n",
    b"flush_all 0\r\n",
    b"get user:2\r\n",
    b"quit\r\n",
]


ADMIN_SESSION = [
    b"stats reset\r\n",
    b"stats cachedump 1 10\r\n",
    b"stats conns\r\n",
    b"stats sizes\r\n",
    b"slabs reassign 1 2\r\n",
    b"slabs automove 1\r\n",
    b"lru_crawler crawl all\r\n",
    b"lru_crawler sleep 50\r\n",
    b"lru mode segmented\r\n",
    b"cache_memlimit 32\r\n",
    b"verbosity\r\n",
    b"misbehave\r\n",
    b"debugtime\r\n",
    b"quit\r\n",
]


def _webapp(seed: int) -> list[bytes]:
    """A web application's cache traffic: page and session lookups, misses filled in, rate-limit counters."""
    rng = random.Random(seed)
    out: list[bytes] = []
    for _ in range(25):
        kind = rng.choice(["page", "session", "ratelimit", "user", "meta", "multi"])
        if kind == "page":
            path = rng.choice(
                [
                    "/",
                    "/about",
                    f"/api/v1/users?page={rng.randint(1, 9)}",
                    f"/blog/{rng.randint(10, 99)}-hello-world",
                    f"/static/app.{rng.getrandbits(24):x}.js",
                ]
            )
            key = f"page:{path}".replace(" ", "_")
            out.append(f"get {key}\r\n".encode())
            body = f"<html>{rng.randint(1, 999)}</html>"
            out.append(f"set {key} 0 300 {len(body)} noreply\r\n{body}\r\n".encode())
        elif kind == "session":
            sid = f"{rng.getrandbits(128):032x}"
            out.append(f"gets sess:{sid}\r\n".encode())
            data = f'{{"uid":{rng.randint(1, 5000)},"csrf":"{rng.getrandbits(32):x}"}}'
            out.append(f"add sess:{sid} 1 1800 {len(data)}\r\n{data}\r\n".encode())
            out.append(f"touch sess:{sid} 3600\r\n".encode())
        elif kind == "ratelimit":
            ip = f"203.0.113.{rng.randint(1, 254)}"
            out.append(f"incr rl:{ip}:login 1\r\n".encode())
            out.append(f"add rl:{ip}:login 0 60 1\r\n1\r\n".encode())
            out.append(f"decr rl:{ip}:login 1\r\n".encode())
        elif kind == "user":
            uid = rng.randint(1, 5000)
            out.append(f"get user:{uid}:profile user:{uid}:prefs\r\n".encode())
            out.append(f"delete user:{uid}:profile noreply\r\n".encode())
        elif kind == "meta":
            key = f"feed:{rng.randint(1, 99)}"
            out.append(f"mg {key} s v t c\r\n".encode())
            out.append(f"ms {key} 2 T90 I\r\nok\r\n".encode())
            out.append(f"mg {key} v N30 R10 O{rng.getrandbits(16):x}\r\n".encode())
            out.append(f"md {key} I T30\r\n".encode())
            out.append(f"ma hits:{key} N0 J13 MI\r\n".encode())
        else:
            keys = " ".join(f"item:{rng.randint(1, 300)}" for _ in range(rng.randint(2, 5)))
            out.append(f"get {keys}\r\n".encode())
    return out


def _talk(port: int, chunks: list[bytes], pause: float = 0.01) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        for chunk in chunks:
            sock.sendall(chunk)
            time.sleep(pause)
            try:
                sock.settimeout(0.2)
                sock.recv(1 << 20)
            except OSError:
                pass


def _bin(opcode: int, key: bytes = b"", value: bytes = b"", extras: bytes = b"") -> bytes:
    body = extras + key + value
    header = bytes([0x80, opcode]) + len(key).to_bytes(2, "big") + bytes([len(extras), 0, 0, 0])
    return header + len(body).to_bytes(4, "big") + b"\0\0\0\0" + b"\0" * 8 + body


def _memcached(port: int, *extra: str) -> list[str]:
    return ["memcached", "-vv", "-u", "memcache", "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "16", *extra]


def collect(workdir: Path) -> list[str]:
    shutil.chown(workdir, "memcache", "memcache")  # the auth file and the memory file are read as memcache
    workdir.chmod(0o755)
    log = workdir / "memcached.log"
    auth_log = workdir / "memcached-auth.log"
    restart_log = workdir / "memcached-restart.log"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        main = start(_memcached(PORT, "-o", "idle_timeout=3", "-A") + ["-U", str(PORT)], log)
        procs.append(main)
        wait_for_port(PORT)
        _talk(PORT, ASCII_SESSION)
        for seed in range(4):
            _talk(PORT, _webapp(seed), pause=0.002)
        _talk(
            PORT,
            [
                b"mg dGVzdA== b v\r\n",
                b"ms dGVzdA== 2 b\r\nhi\r\n",
                b"mg dGVzdA== b v k\r\n",
                b"mg not/base64! b v\r\n",
                b"mg " + b"x" * 300 + b" v\r\n",
            ],
        )
        _talk(PORT, ADMIN_SESSION)
        _talk(PORT, [b"set big 0 0 2000000\r\n", b"x" * 2000000 + b"\r\n", b"get big\r\n"])
        # the binary protocol: set, get, miss, delete, increment, version, noop, quit
        _talk(
            PORT,
            [
                _bin(0x01, b"bin:1", b"value", extras=b"\0\0\0\0\0\0\0\0"),
                _bin(0x00, b"bin:1"),
                _bin(0x00, b"bin:missing"),
                _bin(0x05, b"bin:ctr", extras=(1).to_bytes(8, "big") + (7).to_bytes(8, "big") + b"\0\0\0\0"),
                _bin(0x04, b"bin:1"),
                _bin(0x0B),
                _bin(0x0A),
                _bin(0x7F),
                _bin(0x02, b"bin:1", b"again", extras=b"\0\0\0\0\0\0\0\0"),
                _bin(0x03, b"bin:2", b"new", extras=b"\0\0\0\0\0\0\0\0"),
                _bin(0x0E, b"bin:1", b"-tail"),
                _bin(0x09, b"bin:1"),
                _bin(0x0C, b"bin:1"),
                _bin(0x1C, b"bin:1", extras=(600).to_bytes(4, "big")),
                _bin(0x20),
                _bin(0x10, b"settings"),
                _bin(0x08, extras=(0).to_bytes(4, "big")),
                _bin(0x07),
            ],
        )
        # the UDP listener
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for n, cmd in enumerate([b"get user:1\r\n", b"set udp:1 0 0 2\r\nhi\r\n", b"get udp:1\r\n"]):
            udp.sendto(n.to_bytes(2, "big") + b"\0\0\0\1\0\0" + cmd, ("127.0.0.1", PORT))
            time.sleep(0.05)
        udp.close()
        # a garbage first byte, a client that vanishes mid-value, idle clients timed out
        _talk(PORT, [b"\x16\x03\x01\x00\xa5\x01\x00\x00"])
        _talk(PORT, [b"set half 0 0 100\r\nonly a part"])
        idle = socket.create_connection(("127.0.0.1", PORT))
        crowd = [socket.create_connection(("127.0.0.1", PORT)) for _ in range(4)]
        time.sleep(4.5)
        for sock in [idle, *crowd]:
            sock.close()
        # ascii authentication (-Y): a failed and a good login
        auth_file = workdir / "auth"
        auth_file.write_text("app:s3cret\n")
        auth_file.chmod(0o644)
        auth = start(_memcached(AUTH_PORT, "-Y", str(auth_file)), auth_log)
        procs.append(auth)
        wait_for_port(AUTH_PORT)
        _talk(AUTH_PORT, [b"get foo\r\n"])
        _talk(AUTH_PORT, [b"set x 0 0 9\r\napp wrong\r\n", b"get foo\r\n"])
        _talk(AUTH_PORT, [b"set x 0 0 10\r\napp s3cret\r\n", b"set foo 0 0 3\r\nbar\r\n", b"get foo\r\n"])
        stop(auth)
        # a restartable cache (-e): stopped with SIGUSR1, started again on the same memory file
        memfile = workdir / "memory_file"
        for _ in range(2):
            rst = start(_memcached(RESTART_PORT, "-e", str(memfile)) + ["-m", "64"], restart_log)
            procs.append(rst)
            wait_for_port(RESTART_PORT)
            _talk(RESTART_PORT, [b"get kept\r\n", b"set kept 0 0 4\r\nsafe\r\n"])
            rst.send_signal(signal.SIGUSR1)
            rst.wait(15)
        _talk(PORT, [b"shutdown graceful\r\n"])
        main.wait(15)
    finally:
        for proc in procs:
            stop(proc)
    return read_lines([log, auth_log, restart_log])
