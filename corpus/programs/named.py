"""BIND 9.18 named: authoritative and recursive (forward-only) server with query logging.

Runs in the foreground (``named -f``) on 127.0.0.1:20253 with its own named.conf in
the work directory: primary zones (one with a bad record, one whose file is
missing, one DNSSEC-signed by ``dnssec-policy default``, one accepting dynamic
updates), a secondary zone whose primary does not answer, forwarding only to a
loopback port where nothing listens (so recursion fails without leaving the
machine), response rate limiting, and ``rndc`` on 127.0.0.1:20254. A first run
with a broken config under ``named -g`` (log to stderr) records the startup banner
and the fatal error. Traffic: ``dig`` queries of many types, zone transfers
(allowed and denied), refused clients, ``nsupdate`` updates (accepted, denied,
failed prerequisite, not authoritative), a query burst that is rate-limited, and
``rndc`` commands (querylog, stats, dumpdb, flush, freeze/thaw, reload, reconfig,
trace, an unknown command, stop).

Three ``logging`` channels are collected, each with its own layout
(ARM "logging Block": ``print-time``, ``print-category``, ``print-severity``)::

    named.log  (print-time local; print-category yes; print-severity yes)
    05-Dec-2026 22:09:25.292 zoneload: info: zone dyn.test/IN: loaded serial 3
    debug.log  (print-time yes; print-severity yes; severity dynamic)
    05-Dec-2026 22:09:25.484 debug 3: client @0x7f65ddd0a098 127.0.0.1#50263: UDP request
    queries.log (print-time iso8601-utc; no category, no severity)
    2026-12-05T22:09:24.232Z client @0x7f65df06e098 127.0.0.1#55678 (www.example.test): query: www.example.test IN AAAA +E(0)K (127.0.0.1)

and stderr of ``named -g`` (time and message only)::

    05-Dec-2026 22:09:24.076 loading configuration from '/tmp/.../bad.conf'

The local time is ``DD-Mon-YYYY HH:MM:SS.mmm`` (one timestamp: date and time with
milliseconds); the ISO form is ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (one value). The
category (``general``, ``zoneload``, ``dnssec``, ``security``, ``update``,
``update-security``, ``xfer-out``, ``lame-servers``, ``query-errors``,
``rate-limit``, ``network``, ``config``, ...) and the severity (``info``,
``notice``, ``warning``, ``error``, ``critical``, ``debug N``: ``debug 3`` is one
value, the word and the level) are each followed by ``:``.

Client messages start with ``client @0xPOINTER ADDR#PORT (QNAME): ``:
``@0x7f65ddd0a098`` is the client object's memory address (one value),
``127.0.0.1#55678`` the client address and port joined by ``#`` (one value:
address, port), ``(www.example.test)`` the query name in parentheses (omitted in
update messages). The query log line (``lib/ns/query.c``, ``log_query``) then has
``query: QNAME CLASS TYPE FLAGS (DESTADDR)``: class ``IN``/``CH``, type ``A``,
``AAAA``, ``AXFR``, ``IXFR``..., ``FLAGS`` one value made of ``+`` (recursion
desired) or ``-``, ``S`` (signed), ``E(0)`` (EDNS version), ``T`` (TCP), ``D``
(DO bit), ``C`` (CD bit), ``V``/``K`` (valid/other cookie), e.g. ``+E(0)DK``,
``-E(0)TK``, ``+``; ``(127.0.0.1)`` is the server address that received it; an
EDNS client subnet adds ``[ECS 192.0.2.0/24/0]`` (address/source prefix/scope
prefix: one value).

Other values inside messages: zones are written ``NAME/CLASS``
(``zone dyn.test/IN:``, ``'example.test/IN'``) and ``zone signed.test/IN
(signed):``; query triples ``'www.outside.test/A/IN'`` (name/type/class, quoted)
and ``www.nowhere.invalid/IN/A`` (name/class/type in query-errors lines, followed
by ``at query.c:7916``: source file and line joined by ``:``); servers
``127.0.0.1#20259`` and ``(source 0.0.0.0#0)``; keys
``signed.test/ECDSAP256SHA256/8566 (CSK)`` (zone/algorithm/key tag, role in
parentheses); update RRs ``'host1.dyn.test' TXT "added by nsupdate"`` (quoted
owner name, type, RDATA with a quoted string); rate-limit netblocks
``127.0.0.0/24`` and a hash in parentheses ``(47dacb9f)``; zone-file positions
``broken.test.zone:4:`` (file and line); transfer statistics ``1 messages, 13
records, 407 bytes, 0.001 secs (407000 bytes/sec) (serial 2024010101)``; rndc
commands quoted ``'flushname www.outside.test'``; next key events with a local
timestamp ``06-Dec-2026 00:14:39.908``; the startup banner (``-g``) has ``built
with '--build=x86_64-linux-gnu' '--prefix=/usr' ...`` (a list of quoted configure
arguments), library version lines and a boxed notice text.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from programs._support import read_lines, run, start, stop, wait_for_port

FORMAT_SOURCE = "https://bind9.readthedocs.io/en/v9.18.28/reference.html#logging-block (channel print-time/print-category/print-severity, categories); lib/ns/query.c (query log line)"
PACKAGES = ["bind9", "bind9-utils", "bind9-dnsutils"]

PORT = 20253
CONTROL_PORT = 20254
DEAD_PORT = 20259

ZONE = """$ORIGIN example.test.
$TTL 300
@       IN SOA ns1.example.test. hostmaster.example.test. ( {serial} 3600 600 86400 300 )
@       IN NS  ns1.example.test.
@       IN MX  10 mail.example.test.
@       IN TXT "v=spf1 mx -all"
ns1     IN A   127.0.0.1
www     IN A   192.0.2.80
www     IN AAAA 2001:db8::80
mail    IN A   192.0.2.25
ftp     IN CNAME www.example.test.
_sip._udp IN SRV 10 60 5060 www.example.test.
sub     IN NS  ns.sub.example.test.
ns.sub  IN A   127.0.0.1
{extra}
"""

REVERSE = """$TTL 300
@   IN SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 300
@   IN NS  ns1.example.test.
80  IN PTR www.example.test.
25  IN PTR mail.example.test.
"""

DYNAMIC = """$TTL 60
@   IN SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 60
@   IN NS  ns1.example.test.
"""

BROKEN = """$TTL 300
@   IN SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 300
@   IN NS  ns1.example.test.
www IN A   999.1.2.3
bad IN CNAME
"""


def _config(workdir: Path) -> str:
    return f"""include "{workdir}/rndc.key";
controls {{ inet 127.0.0.1 port {CONTROL_PORT} allow {{ 127.0.0.1; }} keys {{ "rndc-key"; }}; }};
options {{
    directory "{workdir}";
    pid-file "{workdir}/named.pid";
    session-keyfile "{workdir}/session.key";
    managed-keys-directory "{workdir}";
    dump-file "{workdir}/named_dump.db";
    statistics-file "{workdir}/named.stats";
    listen-on port {PORT} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion yes;
    allow-recursion {{ 127.0.0.1; }};
    allow-query {{ 127.0.0.1; 127.0.0.4; }};
    allow-transfer {{ 127.0.0.1; }};
    forwarders {{ 127.0.0.1 port {DEAD_PORT}; }};
    forward only;
    dnssec-validation no;
    querylog yes;
    notify no;
    resolver-query-timeout 3000;
    version "not disclosed";
    key-directory "{workdir}";
    rate-limit {{ responses-per-second 3; window 5; slip 2; }};
}};
logging {{
    channel main_log {{
        file "{workdir}/named.log";
        print-time local;
        print-category yes;
        print-severity yes;
        severity info;
    }};
    channel query_log {{
        file "{workdir}/queries.log";
        print-time iso8601-utc;
        severity info;
    }};
    channel debug_log {{
        file "{workdir}/debug.log";
        print-time yes;
        print-severity yes;
        severity dynamic;
    }};
    category default {{ main_log; debug_log; }};
    category general {{ main_log; debug_log; }};
    category queries {{ query_log; }};
    category query-errors {{ main_log; }};
    category lame-servers {{ main_log; }};
    category security {{ main_log; }};
    category update {{ main_log; }};
    category update-security {{ main_log; }};
    category xfer-out {{ main_log; }};
    category xfer-in {{ main_log; }};
    category resolver {{ main_log; }};
    category edns-disabled {{ main_log; }};
}};
zone "example.test" {{ type primary; file "example.test.zone"; allow-update {{ none; }}; }};
zone "2.0.192.in-addr.arpa" {{ type primary; file "reverse.zone"; }};
zone "dyn.test" {{ type primary; file "dyn.test.zone"; allow-update {{ 127.0.0.1; }}; }};
zone "broken.test" {{ type primary; file "broken.test.zone"; }};
zone "missing.test" {{ type primary; file "missing.test.zone"; }};
zone "signed.test" {{ type primary; file "signed.test.zone"; dnssec-policy default; inline-signing yes; }};
zone "secondary.test" {{ type secondary; file "secondary.test.zone"; primaries {{ 127.0.0.1 port {DEAD_PORT}; }}; }};
"""


def _dig(*args: str, source: str = "127.0.0.1") -> None:
    run(["dig", "@127.0.0.1", "-p", str(PORT), "-b", source, "+tries=1", "+time=4", *args], timeout_s=15)


def _rndc(workdir: Path, *args: str) -> None:
    run(["rndc", "-k", str(workdir / "rndc.key"), "-s", "127.0.0.1", "-p", str(CONTROL_PORT), *args], timeout_s=20)


def _nsupdate(script: str) -> None:
    subprocess.run(["nsupdate", "-t", "5"], input=script.encode(), capture_output=True, timeout=20, check=False)


def collect(workdir: Path) -> list[str]:
    run(["rndc-confgen", "-a", "-k", "rndc-key", "-c", str(workdir / "rndc.key")], check=True)
    (workdir / "example.test.zone").write_text(ZONE.format(serial=2024010101, extra=""))
    (workdir / "reverse.zone").write_text(REVERSE)
    (workdir / "dyn.test.zone").write_text(DYNAMIC)
    (workdir / "broken.test.zone").write_text(BROKEN)
    (workdir / "signed.test.zone").write_text(DYNAMIC.replace("@   IN NS", "www IN A 192.0.2.1\n@   IN NS"))
    conf = workdir / "named.conf"
    conf.write_text(_config(workdir))
    stderr_log = workdir / "stderr.log"
    # A configuration error first: named reports it and exits.
    bad = workdir / "bad.conf"
    bad.write_text(
        'options { directory "/nonexistent-dir"; listen-on port 20253 { 127.0.0.1; } };\nzone "x" { type bogus; };\n'
    )
    start(["named", "-g", "-c", str(bad)], log=stderr_log).wait(30)
    process = start(["named", "-f", "-n", "2", "-c", str(conf)], log=stderr_log)
    slow: list[subprocess.Popen[bytes]] = []
    try:
        wait_for_port(PORT)
        wait_for_port(CONTROL_PORT)
        slow = [
            subprocess.Popen(
                ["dig", "@127.0.0.1", "-p", str(PORT), "+tries=1", "+time=15", name],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name in ("www.nowhere.invalid", "host.outside.test")
        ]
        for query in [
            ("www.example.test",),
            ("www.example.test", "AAAA"),
            ("ftp.example.test",),
            ("example.test", "MX"),
            ("example.test", "TXT"),
            ("example.test", "SOA"),
            ("example.test", "NS"),
            ("_sip._udp.example.test", "SRV"),
            ("missing.example.test",),
            ("www.example.test", "CAA"),
            ("host.sub.example.test", "+norec"),
            ("www.broken.test",),
            ("www.missing.test",),
            ("secondary.test", "SOA"),
            ("example.test", "ANY"),
            ("www.example.test", "+dnssec"),
            ("www.example.test", "+tcp"),
            ("www.example.test", "+nocookie", "+noedns"),
            ("www.example.test", "+subnet=192.0.2.0/24"),
            ("version.bind", "TXT", "CH"),
            ("hostname.bind", "TXT", "CH"),
        ]:
            _dig(*query)
        for _ in range(12):
            _dig("burst.example.test")
        _dig("www.signed.test", "+dnssec")
        _dig("signed.test", "DNSKEY")
        _dig("nothing.signed.test", "+dnssec")
        _dig("-x", "192.0.2.80")
        _dig("-x", "192.0.2.99")
        _dig("example.test", "AXFR")
        _dig("2.0.192.in-addr.arpa", "AXFR", source="127.0.0.4")
        _dig("dyn.test", "IXFR=1")
        _dig("www.example.test", source="127.0.0.2")
        _dig("www.outside.test", source="127.0.0.4")
        _nsupdate(
            f"server 127.0.0.1 {PORT}\nzone dyn.test\nupdate add host1.dyn.test 60 A 10.0.0.1\n"
            'update add host1.dyn.test 60 TXT "added by nsupdate"\nsend\n'
            "update delete host1.dyn.test TXT\nsend\n"
            "prereq nxdomain host1.dyn.test\nupdate add host1.dyn.test 60 A 10.0.0.2\nsend\n"
        )
        _nsupdate(f"server 127.0.0.1 {PORT}\nzone example.test\nupdate add evil.example.test 60 A 10.6.6.6\nsend\n")
        _nsupdate(f"server 127.0.0.1 {PORT}\nzone nozone.test\nupdate add a.nozone.test 60 A 10.6.6.6\nsend\n")
        _dig("host1.dyn.test")
        for command in (
            ["status"],
            ["querylog", "off"],
            ["querylog", "on"],
            ["stats"],
            ["dumpdb", "-all"],
            ["flush"],
            ["flushname", "www.outside.test"],
            ["freeze", "dyn.test"],
            ["thaw", "dyn.test"],
            ["sync", "-clean", "dyn.test"],
            ["zonestatus", "example.test"],
            ["retransfer", "secondary.test"],
            ["refresh", "secondary.test"],
            ["notify", "example.test"],
            ["reload", "nozone.test"],
            ["trace", "3"],
        ):
            _rndc(workdir, *command)
        _dig("www.example.test")
        _dig("www.outside.test")
        _rndc(workdir, "notrace")
        # A new zone serial and a reload, a config reload, then an unknown rndc command.
        (workdir / "example.test.zone").write_text(ZONE.format(serial=2024010102, extra="new     IN A   192.0.2.99\n"))
        _rndc(workdir, "reload", "example.test")
        _rndc(workdir, "reload")
        _rndc(workdir, "reconfig")
        time.sleep(1.0)
        _dig("new.example.test")
        _rndc(workdir, "bogus")
        for process_slow in slow:
            try:
                process_slow.wait(20)
            except subprocess.TimeoutExpired:
                process_slow.kill()
                process_slow.wait()
        _rndc(workdir, "stop")
        process.wait(20)
    finally:
        for process_slow in slow:
            if process_slow.poll() is None:
                process_slow.kill()
                process_slow.wait()
        stop(process)
    return read_lines([workdir / "named.log", workdir / "queries.log", workdir / "debug.log", stderr_log])
