"""dnsmasq 2.90: DNS forwarder/cache (DHCP off), logging every query to a file.

Two instances run on loopback: ``upstream`` (port 20054) answers for its own
records and serves an authoritative zone (``--auth-zone``), ``main`` (port 20053)
forwards to it, caches, answers from local config and blocks some names. Both log
with ``--log-facility=<file>``; ``main`` uses ``--log-queries=extra``, ``upstream``
plain ``--log-queries``. Startup errors (a second instance on a port in use) go to
stderr, which is collected too.

Line layout in the log file (``src/log.c``, ``my_syslog`` writing to a file)::

    Mon DD HH:MM:SS dnsmasq[PID]: MESSAGE

``Mon DD HH:MM:SS`` is ``ctime()`` chars 4..18 (day of month space-padded to two
characters, e.g. ``Jan  5``): a timestamp of three values (month, day, time).
``dnsmasq[PID]`` is the program name and its process id in brackets (two values).
Lines on stderr have the layout ``dnsmasq: MESSAGE`` (no time, no pid).

Query-log messages (``src/cache.c``, ``log_query``), plain ``--log-queries``::

    query[TYPE] NAME from CLIENTADDR
    forwarded NAME to SERVERADDR
    reply NAME is ANSWER
    cached NAME is ANSWER
    config NAME is ANSWER          (from --address, --mx-host, --txt-record, ...)
    /PATH/HOSTS NAME is ADDR       (from a hosts file: the file path is the source)
    auth[TYPE] NAME from CLIENTADDR
    auth NAME is ANSWER            (authoritative zone answers)

``query[TYPE]`` / ``auth[TYPE]`` is one value: the word with the record type in
brackets (``query[A]``, ``query[AAAA]``, ``query[MX]``, ``query[HTTPS]``).
``ANSWER`` is an address (``10.1.0.10``, ``fd00::10``), a host name (PTR answers,
where NAME is then the queried address, e.g. ``reply 151.101.1.5 is
ext.example.test``), a placeholder in angle brackets (``<CNAME>``, ``<MX>``,
``<TXT>``, ``<SRV>``, ``<PTR>``, ``<SOA>``, ``<NS>``: one value each), a word
(``NXDOMAIN``, ``NODATA``, ``NODATA-IPv6``), or, for a forwarded TXT reply, the
TXT text itself with its spaces (``reply example.test is v=spf1 -all``: the text
after ``is`` is one value). Errors read ``reply error is REFUSED``, ``config error
is REFUSED (EDE: not ready)``, ``config hostname.bind is not implemented (EDE:
unknown)``: a return code, then an optional parenthesised Extended DNS Error text.
``SERVERADDR`` is ``ADDR#PORT`` (``127.0.0.1#20054``: one value, address and port
joined by ``#``); ``CLIENTADDR`` is a plain address.

With ``--log-queries=extra`` each query line is prefixed by ``SERIAL
CLIENTADDR/PORT`` (a serial number tying the lines of one query together, then
the client's address and source port joined by ``/``: one value, address and
port)::

    Dec  5 22:05:45 dnsmasq[9701]: 115 127.0.0.1/44162 reply www.upstream.test is 93.184.216.34

TCP queries are served by forked children, whose lines carry the child's pid.

Other messages are free text, e.g. ``started, version 2.90 cachesize 150``,
``compile time options: IPv6 GNU-getopt DBus no-UBus ...`` (a space-separated list
of option words, ``no-`` prefixed when absent), ``using nameserver
127.0.0.1#20054``, ``using nameserver 127.0.0.1#20999 for domain dead.test`` (with
a trailing space), ``using only locally-known addresses for lan``, ``using standard
nameservers for internal.test``, ``read /path/hosts - 9 names``, ``cleared
cache``, ``possible DNS-rebind attack detected: rebind.test``, ``ignoring zone
transfer request from 127.0.0.1``, ``exiting on receipt of SIGTERM``, and the
SIGUSR1 statistics: ``time 1796508320`` (epoch seconds), ``cache size 150, 0/3
cache insertions re-used unexpired cache entries.``, ``queries forwarded 25,
queries answered locally 20``, ``server 127.0.0.1#20054: queries sent 19, retried
0, failed 0, nxdomain replies 1, avg. latency 0ms``. With ``--log-queries`` SIGUSR1
also dumps the cache as a fixed-width table: a header ``Host Address Flags Expires
Source``, a dashed rule, then one row per entry: name, address or target name
(blank for negative entries), flag letters (``4FRI``, ``6F I``, ``CF I``, ``!F
I``, ``F   NX``: column-padded, the letters of one entry are one value even where
padded with spaces), then either the expiry time in ``ctime`` form (``Sat Dec  5
22:06:16 2026``: one timestamp) or a source (``config``, a hosts file path), and
trailing padding spaces.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from programs._support import read_lines, run, start, stop, wait_for_port

FORMAT_SOURCE = (
    "https://thekelleys.org.uk/dnsmasq/docs/dnsmasq-man.html (--log-queries, --log-facility); src/log.c, src/cache.c"
)
PACKAGES = ["dnsmasq", "bind9-dnsutils"]

MAIN_PORT = 20053
UPSTREAM_PORT = 20054
DEAD_PORT = 20999


def _dig(port: int, *args: str) -> None:
    run(["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=2", *args], timeout_s=10)


def collect(workdir: Path) -> list[str]:
    hosts = workdir / "hosts"
    hosts.write_text("10.1.0.10 fileserver\n10.1.0.11 printer printer.lan\nfd00::10 fileserver\n10.1.0.12 nas\n")
    main_log = workdir / "main.log"
    up_log = workdir / "upstream.log"
    stderr_log = workdir / "stderr.log"
    common = ["dnsmasq", "-k", "--conf-file=/dev/null", "--user=root", "--group=root", "--no-resolv", "--no-hosts"]
    common += ["--bind-interfaces", "--no-dhcp-interface=lo"]
    upstream_argv = [
        *common,
        "--listen-address=127.0.0.1,127.0.0.2",
        f"--port={UPSTREAM_PORT}",
        f"--pid-file={workdir / 'up.pid'}",
        f"--log-facility={up_log}",
        "--log-queries",
        "--address=/upstream.test/93.184.216.34",
        "--address=/rebind.test/192.168.7.7",
        "--address=/v6.upstream.test/2606:2800:220:1::10",
        "--address=/gone.test/",
        "--host-record=ext.example.test,151.101.1.5,2a04:4e42::5",
        "--mx-host=example.test,mail.example.test,10",
        "--txt-record=example.test,v=spf1 -all",
        "--cname=alias.example.test,ext.example.test",
        "--auth-zone=auth.test,44.1.2.0/24",
        "--auth-server=ns1.auth.test,127.0.0.2",
        "--host-record=www.auth.test,44.1.2.80",
        "--log-debug",
        "--local-ttl=300",
        "--auth-ttl=300",
        "--auth-soa=2024010101,hostmaster.auth.test",
    ]
    main_argv = [
        *common,
        "--listen-address=127.0.0.1",
        f"--port={MAIN_PORT}",
        f"--pid-file={workdir / 'main.pid'}",
        f"--log-facility={main_log}",
        "--log-queries=extra",
        "--cache-size=150",
        f"--server=127.0.0.1#{UPSTREAM_PORT}",
        f"--server=/dead.test/127.0.0.1#{DEAD_PORT}",
        f"--server=/auth.test/127.0.0.2#{UPSTREAM_PORT}",
        "--server=/internal.test/#",
        "--local=/lan/",
        "--domain=lan",
        "--expand-hosts",
        f"--addn-hosts={hosts}",
        "--address=/ads.blocked.test/0.0.0.0",
        "--address=/nx.blocked.test/",
        "--cname=files.lan,fileserver.lan",
        "--mx-host=lan,fileserver.lan,5",
        "--txt-record=info.lan,hello world",
        "--srv-host=_ldap._tcp.lan,fileserver.lan,389,0,100",
        "--ptr-record=5.0.1.10.in-addr.arpa,gateway.lan",
        "--host-record=router.lan,10.1.0.1,fd00::1",
        "--domain-needed",
        "--bogus-priv",
        "--stop-dns-rebind",
        "--rebind-domain-ok=/lan/",
        "--dns-loop-detect",
        "--neg-ttl=60",
    ]
    upstream = start(upstream_argv, log=stderr_log)
    main = None
    try:
        wait_for_port(UPSTREAM_PORT)
        main = start(main_argv, log=stderr_log)
        wait_for_port(MAIN_PORT)
        # A second instance on a port in use: a startup error on stderr.
        argv = [*common, "--listen-address=127.0.0.1", f"--port={MAIN_PORT}", f"--pid-file={workdir / 'x.pid'}"]
        start(argv, log=stderr_log).wait(10)
        queries = [
            ("fileserver",),
            ("fileserver.lan",),
            ("fileserver.lan", "AAAA"),
            ("printer.lan",),
            ("nas.lan", "MX"),
            ("files.lan",),
            ("lan", "MX"),
            ("info.lan", "TXT"),
            ("_ldap._tcp.lan", "SRV"),
            ("router.lan", "AAAA"),
            ("missing.lan",),
            ("ads.blocked.test",),
            ("tracker.ads.blocked.test", "AAAA"),
            ("nx.blocked.test",),
            ("www.upstream.test",),
            ("www.upstream.test",),
            ("v6.upstream.test", "AAAA"),
            ("v6.upstream.test", "A"),
            ("gone.test",),
            ("ext.example.test",),
            ("ext.example.test", "AAAA"),
            ("alias.example.test",),
            ("example.test", "MX"),
            ("example.test", "TXT"),
            ("example.test", "NS"),
            ("example.test", "SOA"),
            ("example.test", "CAA"),
            ("example.test", "HTTPS"),
            ("www.auth.test",),
            ("auth.test", "SOA"),
            ("auth.test", "NS"),
            ("nothing.auth.test",),
            ("host.internal.test",),
            ("rebind.test",),
            ("host.dead.test",),
            ("singlelabel",),
            ("example.test", "ANY"),
        ]
        for query in queries:
            _dig(MAIN_PORT, *query)
        for addr in ("10.1.0.10", "10.1.0.5", "10.1.0.99", "192.168.1.1", "151.101.1.5", "8.8.8.8"):
            _dig(MAIN_PORT, "-x", addr)
        _dig(MAIN_PORT, "+tcp", "www.upstream.test")
        _dig(MAIN_PORT, "+tcp", "printer.lan", "AAAA")
        _dig(MAIN_PORT, "+dnssec", "ext.example.test")
        _dig(MAIN_PORT, "version.bind", "TXT", "CH")
        _dig(MAIN_PORT, "hostname.bind", "TXT", "CH")
        # Directly to upstream: the plain (non-extra) query log and authoritative answers.
        for query in [("www.upstream.test",), ("host.internal.test",), ("example.test", "MX")]:
            _dig(UPSTREAM_PORT, *query)
        for query in [("www.auth.test",), ("auth.test", "SOA"), ("www.upstream.test",), ("zzz.auth.test", "AAAA")]:
            run(["dig", "@127.0.0.2", "-p", str(UPSTREAM_PORT), "+tries=1", "+time=2", *query], timeout_s=10)
        run(["dig", "@127.0.0.2", "-p", str(UPSTREAM_PORT), "+tries=1", "+time=2", "auth.test", "AXFR"], timeout_s=10)
        run(["dig", "@127.0.0.2", "-p", str(UPSTREAM_PORT), "+tries=1", "+time=2", "-x", "44.1.2.80"], timeout_s=10)
        # Cache dump and statistics, then reread hosts and clear cache, reopen the log.
        main.send_signal(signal.SIGUSR1)
        upstream.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        hosts.write_text(hosts.read_text() + "10.1.0.13 camera\n")
        main.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        _dig(MAIN_PORT, "camera.lan")
        for query in [("www.upstream.test",), ("www.upstream.test",), ("alias.example.test",), ("example.test", "MX")]:
            _dig(MAIN_PORT, *query)
        _dig(MAIN_PORT, "gone.test")
        _dig(MAIN_PORT, "-x", "151.101.1.5")
        main.send_signal(signal.SIGUSR2)
        time.sleep(0.5)
        main.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
    finally:
        if main is not None:
            stop(main)
        stop(upstream)
    return read_lines([up_log, main_log, stderr_log])
