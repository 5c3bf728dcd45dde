"""Unbound 1.17: recursive resolver (iterator module only), with query, reply and local-action logging.

Runs on 127.0.0.1:20153 with its own config (no chroot, no user switch), serving
local zones (``local-zone``/``local-data``), an authoritative zone from a zone file
(``auth-zone``), a stub to an address where nothing listens (SERVFAIL) and remote
control on 127.0.0.1:20154 (``unbound-control`` without certificates). Logging goes
to a file (``logfile:``). Two runs: the first with epoch timestamps
(``log-time-ascii: no``) and ``verbosity: 2``, the second with
``log-time-ascii: yes``, ``log-tag-queryreply: yes`` and ``verbosity: 3``.

Line layout (``util/log.c``, ``log_vmsg``)::

    [EPOCH] unbound[PID:TID] LEVEL: MESSAGE                     (log-time-ascii: no)
    Mon DD HH:MM:SS unbound[PID:TID] LEVEL: MESSAGE             (log-time-ascii: yes)

``[EPOCH]`` is seconds since 1970 in brackets (one value). The ascii time is
``strftime("%b %d %H:%M:%S")`` in local time (day zero-padded: ``Dec 05``).
``unbound[PID:TID]`` is the identity with process id and thread number joined by
``:`` inside brackets (identity, pid, thread: three values). ``LEVEL`` is one of
``info``, ``debug``, ``notice``, ``warning``, ``error``, ``fatal error``
(``query``/``reply`` for the tagged query log, see below), followed by ``:``.

Query log (``log-queries``, ``daemon/worker.c``)::

    [1700000000] unbound[1:0] info: 127.0.0.1 www.home.test. A IN

with ``log-tag-queryreply`` the level word is ``query`` instead of ``info``. Fields:
client address, query name (with trailing dot), type, class.

Reply log (``log-replies``, ``util/data/msgreply.c``, ``log_reply_info``)::

    [1700000000] unbound[1:0] info: 127.0.0.1 www.home.test. A IN NOERROR 0.000000 1 49

fields: client address, name, type, class, rcode (``NOERROR``, ``NXDOMAIN``,
``SERVFAIL``, ``REFUSED``), time to resolve in seconds (``0.000123``), from cache
(``0``/``1``), response size in bytes; the level is ``reply`` with
``log-tag-queryreply``.

Local actions (``log-local-actions``, ``services/localzone.c``)::

    info: home.test. static 127.0.0.1@39845 www.home.test. A IN
    info: blocked.test. always_nxdomain 127.0.0.1@34567 ads.blocked.test. A IN

fields: zone, local-zone type, client ``ADDR@PORT`` (one value: address and port
joined by ``@``), query name, type, class. A query refused by ``access-control``
has only a reply line, with an unparsed query: ``127.0.0.2 null TYPE0 CLASS0
REFUSED 0.000000 1 12``.

SERVFAIL reasons (``log-servfail``)::

    error: SERVFAIL <host.dead.test. A IN>: all the configured stub or forward servers failed, at zone dead.test. upstream server timeout

``<NAME TYPE CLASS>`` in angle brackets is the query triple (name, type, class).

Verbosity lines are free text, e.g. ``notice: init module 0: iterator``,
``info: start of service (unbound 1.17.1).``, ``info: service stopped (unbound
1.17.1).``, ``notice: Restart of unbound 1.17.1.``, ``info: server stats for
thread 0: 35 queries, 33 answers from cache, 2 recursions, 0 prefetch, 0 rejected
by ip ratelimiting``, ``info: server stats for thread 0: requestlist max 1 avg 0.5
exceeded 2 jostled 0``, ``info: mesh has 0 recursion states (0 with reply, 0
detached), 2 waiting replies, ...``,
``info: control cmd:  reload`` (two spaces after the colon, then the command line
as sent), ``info: resolving host.dead.test. A IN``, ``info: use stub dead.test. NS
IN`` and, at verbosity 3, ``debug:`` and ``info:`` lines of the iterator
(``debug: iterator[module 0] operate: extstate:module_wait_reply
event:module_event_noreply`` (``key:value`` pairs), ``info: processQueryTargets:
host.dead.test. A IN``, ``debug: sending to target: <dead.test.> 127.0.0.1#20159``
(zone in angle brackets, then ``ADDR#PORT``: one value), ``info:
DelegationPoint<dead.test.>: 0 names (0 missing), 1 addrs (0 result, 1 avail)
parentNS``, ``debug: cache memory msg=66072 rrset=66072 infra=8104 val=0
subnet=0``, ``debug: new control connection from 127.0.0.1 port 48208``,
``debug: switching log to /tmp/.../unbound-ascii.log``). Names printed by the
resolver are fully qualified with a trailing dot. Lines logged before the log
file is opened (``debug: chdir to ...``) go to stderr with the same layout.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from programs._support import read_lines, run, start, stop, wait_for_port

FORMAT_SOURCE = "unbound.conf(5) (logfile, log-time-ascii, log-queries, log-replies, log-local-actions, log-servfail); https://github.com/NLnetLabs/unbound/blob/release-1.17.1/util/log.c"
PACKAGES = ["unbound", "bind9-dnsutils"]

PORT = 20153
CONTROL_PORT = 20154
DEAD_PORT = 20159

ZONE = """$ORIGIN example.test.
$TTL 300
@       IN SOA ns1.example.test. hostmaster.example.test. 2024010101 3600 600 86400 300
@       IN NS  ns1.example.test.
@       IN MX  10 mail.example.test.
@       IN TXT "v=spf1 mx -all"
ns1     IN A   127.0.0.1
www     IN A   192.0.2.80
www     IN AAAA 2001:db8::80
mail    IN A   192.0.2.25
ftp     IN CNAME www.example.test.
_sip._udp IN SRV 10 60 5060 www.example.test.
"""


def _config(workdir: Path, log: Path, ascii_time: bool, verbosity: int) -> str:
    yes_no = "yes" if ascii_time else "no"
    return f"""server:
    verbosity: {verbosity}
    interface: 127.0.0.1
    port: {PORT}
    do-ip6: no
    chroot: ""
    username: ""
    directory: "{workdir}"
    pidfile: "{workdir}/unbound.pid"
    logfile: "{log}"
    use-syslog: no
    log-time-ascii: {yes_no}
    log-queries: yes
    log-replies: yes
    log-tag-queryreply: {yes_no}
    log-local-actions: yes
    log-servfail: yes
    num-threads: 1
    do-not-query-localhost: no
    access-control: 127.0.0.1/32 allow
    access-control: 127.0.0.2/32 refuse
    access-control: 127.0.0.3/32 deny
    access-control: 127.0.0.4/32 allow_snoop
    module-config: "iterator"
    statistics-interval: 0
    extended-statistics: yes
    local-zone: "home.test." static
    local-data: "www.home.test. 3600 IN A 10.0.0.80"
    local-data: "www.home.test. 3600 IN AAAA fd00::80"
    local-data: "home.test. 3600 IN MX 10 mail.home.test."
    local-data: "mail.home.test. 3600 IN A 10.0.0.25"
    local-data: "info.home.test. 3600 IN TXT \\"hello world\\""
    local-data-ptr: "10.0.0.80 www.home.test."
    local-zone: "ads.blocked.test." always_nxdomain
    local-zone: "refused.blocked.test." always_refuse
    local-zone: "sink.blocked.test." redirect
    local-data: "sink.blocked.test. 60 IN A 0.0.0.0"
    local-zone: "watch.test." inform
    local-zone: "deny.test." deny
    local-zone: "transp.test." transparent
    local-data: "a.transp.test. 60 IN A 10.9.9.9"
    local-zone: "test." nodefault
    local-zone: "10.in-addr.arpa." nodefault
    domain-insecure: "test."

auth-zone:
    name: "example.test."
    zonefile: "{workdir}/example.test.zone"
    for-downstream: yes
    for-upstream: yes

stub-zone:
    name: "dead.test."
    stub-addr: 127.0.0.1@{DEAD_PORT}

stub-zone:
    name: "watch.test."
    stub-addr: 127.0.0.1@{DEAD_PORT}

forward-zone:
    name: "."
    forward-addr: 127.0.0.1@{DEAD_PORT}

remote-control:
    control-enable: yes
    control-interface: 127.0.0.1
    control-port: {CONTROL_PORT}
    control-use-cert: no
"""


def _dig(*args: str, source: str = "127.0.0.1") -> None:
    run(["dig", "@127.0.0.1", "-p", str(PORT), "-b", source, "+tries=1", "+time=3", *args], timeout_s=10)


def _control(conf: Path, *args: str) -> None:
    run(["unbound-control", "-c", str(conf), *args], timeout_s=20)


def _traffic(conf: Path) -> None:
    # Names whose servers never answer: SERVFAIL after unbound's retries, in the background.
    slow = [
        subprocess.Popen(
            ["dig", "@127.0.0.1", "-p", str(PORT), "+tries=1", "+time=25", name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in ("host.dead.test", "www.nowhere.invalid", "spy.watch.test")
    ]
    for query in [
        ("www.home.test",),
        ("www.home.test", "AAAA"),
        ("home.test", "MX"),
        ("info.home.test", "TXT"),
        ("nothing.home.test",),
        ("ads.blocked.test",),
        ("x.ads.blocked.test", "AAAA"),
        ("refused.blocked.test",),
        ("cdn.sink.blocked.test",),
        ("a.transp.test",),
        ("www.example.test",),
        ("www.example.test",),
        ("www.example.test", "AAAA"),
        ("ftp.example.test",),
        ("example.test", "MX"),
        ("example.test", "SOA"),
        ("example.test", "TXT"),
        ("_sip._udp.example.test", "SRV"),
        ("missing.example.test",),
        ("example.test", "DNSKEY"),
        ("www.home.test", "ANY"),
    ]:
        _dig(*query)
    _dig("-x", "10.0.0.80")
    _dig("+tcp", "mail.example.test")
    _dig("+dnssec", "www.example.test")
    _dig("www.example.test", source="127.0.0.2")
    _dig("www.example.test", source="127.0.0.4")
    _dig("+norec", "www.example.test", source="127.0.0.4")
    _dig("version.server", "TXT", "CH")
    _dig("id.server", "TXT", "CH")
    _dig("www.example.test", "AXFR")
    _control(conf, "status")
    _control(conf, "stats_noreset")
    _control(conf, "local_data", "new.home.test. 60 IN A 10.0.0.99")
    _dig("new.home.test")
    _control(conf, "local_zone", "temp.test.", "always_nxdomain")
    _dig("a.temp.test")
    _control(conf, "local_zone_remove", "temp.test.")
    _control(conf, "flush", "www.example.test")
    _control(conf, "flush_zone", "example.test")
    _control(conf, "dump_cache")
    _control(conf, "list_local_zones")
    _control(conf, "list_forwards")
    _control(conf, "list_stubs")
    _control(conf, "lookup", "www.example.test")
    _control(conf, "flush_infra", "all")
    _control(conf, "bogus_command")
    _dig("www.example.test")
    for process in slow:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def collect(workdir: Path) -> list[str]:
    (workdir / "example.test.zone").write_text(ZONE)
    conf = workdir / "unbound.conf"
    logs = [workdir / "unbound-epoch.log", workdir / "unbound-ascii.log"]
    for log, ascii_time, verbosity in ((logs[0], False, 2), (logs[1], True, 3)):
        conf.write_text(_config(workdir, log, ascii_time, verbosity))
        process = start(["unbound", "-d", "-c", str(conf)], log=workdir / "stderr.log")
        try:
            wait_for_port(PORT)
            _traffic(conf)
            # SIGHUP: reread config and reopen the log; then a reload through remote control.
            process.send_signal(signal.SIGHUP)
            time.sleep(1.0)
            wait_for_port(PORT)
            _dig("www.home.test")
            _control(conf, "reload")
            time.sleep(1.0)
            wait_for_port(PORT)
            _dig("www.example.test")
            _control(conf, "stats")
            _control(conf, "stop")
            process.wait(15)
        finally:
            stop(process)
    return read_lines([*logs, workdir / "stderr.log"])
