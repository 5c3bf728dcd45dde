"""Redis 7.0 logs (``logfile``, ``loglevel verbose``): a master, its replica, a Sentinel and three cluster nodes.

Every line written by ``serverLogRaw`` (src/server.c) reads::

    12345:M 01 May 2024 12:00:00.123 * Ready to accept connections

- ``12345``: the pid of the process that wrote the line (a forked child has its own pid).
- ``:M``: the role, one letter right after the colon (no space): ``M`` master, ``S`` replica, ``C`` a forked
  child (RDB save, AOF rewrite, replication transfer), ``X`` sentinel. ``pid:role`` is TWO values joined by
  ``:``.
- ``01 May 2024 12:00:00.123``: the time, ``%d %b %Y %H:%M:%S.mmm`` (one value of four space-separated parts).
- the level, one character: ``.`` debug, ``-`` verbose, ``*`` notice, ``#`` warning.
- the message. Messages quote values in single or double quotes now and then (``'appendonly.aof.1.base.rdb'``,
  ``"localhost"``); addresses print as ``127.0.0.1:19379`` (IP and port, two values joined by ``:``); the
  ``Client closed connection``, ``Protocol error`` and ``user request from '...'`` lines carry a CLIENT LIST style record of space-separated
  ``key=value`` fields (``id=5 addr=127.0.0.1:43210 laddr=127.0.0.1:19379 fd=8 name= age=0 ... cmd=NULL
  user=default redir=-1 resp=2``), where an empty value is just ``name=``; ``DB 0: 12 keys (3 volatile) in 16
  slots HT.``, ``Fork CoW for RDB: current 0 MB, peak 0 MB, average 0 MB``, run ids are 40 hex digits,
  replication offsets plain integers (``MASTER <-> REPLICA sync: receiving 452 bytes from master to disk``).

A signal handler writes a line of another shape, with ``signal-handler`` and the Unix time in parentheses in place
of role, time and level: ``12345:signal-handler (1714564800) Received SIGTERM scheduling shutdown...``.

Sentinel (role ``X``) logs its events as ``+sdown master mymaster 127.0.0.1 19379`` or ``+slave slave
127.0.0.1:19380 127.0.0.1 19380 @ mymaster 127.0.0.1 19379``: the event name with its ``+``/``-`` sign (one value,
e.g. ``+failover-state-send-slaveof-noone``), the instance type, its name (``mymaster``, or ``ip:port`` for a
replica), its IP and port as two separate values, and after `` @ `` the master's name, IP and port; extras follow
(``#quorum 1/1``, ``new reported role is master``). Cluster nodes print node ids of 40 hex digits (``Marking node
6a1c...bd2 as failing (quorum reached).``) and cluster bus addresses (``127.0.0.1:29388``).

The lines of the master's log come first, then the replica's, the Sentinel's, the cluster nodes'. A Redis started with a broken configuration file
prints, before any log line (on stderr, no prefix), the block ``*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***``,
``Reading the configuration file, at line 4``, ``>>> 'no-such-directive yes'``, ``Bad directive or wrong number
of arguments``; it is collected last.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from programs._support import read_lines, run, start, stop, wait_for_port

FORMAT_SOURCE = "https://github.com/redis/redis/blob/7.0/src/server.c (serverLogRaw); https://redis.io/docs/latest/operate/oss_and_stack/management/config-file/"
PACKAGES = ["redis-server", "redis-tools"]

MASTER = 19379
REPLICA = 19380
SENTINEL = 19385
CLUSTER = [19386, 19387, 19388]

CONF = """
bind 127.0.0.1
port {port}
daemonize no
loglevel verbose
logfile {work}/{name}.log
dir {work}/{name}
dbfilename dump.rdb
save 60 1000
requirepass s3cret
masterauth s3cret
enable-debug-command local
enable-module-command local
repl-diskless-sync no
client-output-buffer-limit pubsub 64kb 32kb 5
maxmemory 8mb
maxmemory-policy allkeys-lru
"""

SENTINEL_CONF = """
bind 127.0.0.1
port {port}
daemonize no
loglevel verbose
logfile {work}/sentinel.log
dir {work}
sentinel monitor mymaster 127.0.0.1 {master} 1
sentinel auth-pass mymaster s3cret
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 10000
"""

CLUSTER_CONF = """
bind 127.0.0.1
port {port}
daemonize no
loglevel verbose
logfile {work}/cluster-{port}.log
dir {work}/cluster-{port}
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 1500
"""


def _cli(port: int, *args: str, password: str | None = "s3cret") -> int:
    argv = ["redis-cli", "-h", "127.0.0.1", "-p", str(port)]
    if password is not None:
        argv += ["--no-auth-warning", "-a", password]
    return run(argv + list(args), timeout_s=30)


def _raw(port: int, payload: bytes, read: bool = True) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(payload)
        if read:
            try:
                sock.recv(65536)
            except OSError:
                pass


def _write_conf(work: Path, name: str, port: int, extra: str = "") -> Path:
    (work / name).mkdir(exist_ok=True)
    path = work / f"{name}.conf"
    path.write_text(CONF.format(port=port, work=work, name=name) + extra)
    return path


def _wait_log(path: Path, text: str, timeout_s: float = 20.0, count: int = 1) -> None:
    """Wait until ``text`` occurs ``count`` times in the log at ``path`` (or ``timeout_s`` passed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text(errors="replace").count(text) >= count:
            return
        time.sleep(0.2)


def _cluster(work: Path, procs: list[subprocess.Popen[bytes]]) -> list[Path]:
    """Three cluster nodes: create the cluster, write through it, lose a node and get it back."""
    logs = []
    nodes = {}
    for port in CLUSTER:
        (work / f"cluster-{port}").mkdir()
        conf = work / f"cluster-{port}.conf"
        conf.write_text(CLUSTER_CONF.format(port=port, work=work))
        logs.append(work / f"cluster-{port}.log")
        nodes[port] = start(["redis-server", str(conf)], work / "stderr.log")
        procs.append(nodes[port])
    for port in CLUSTER:
        wait_for_port(port)
    run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in CLUSTER), "--cluster-yes"], timeout_s=60)
    _wait_log(logs[0], "Cluster state changed: ok", 10)
    for i in range(6):
        run(["redis-cli", "-c", "-h", "127.0.0.1", "-p", str(CLUSTER[0]), "SET", f"item:{i}", str(i)], timeout_s=10)
    last = CLUSTER[-1]
    nodes[last].kill()
    nodes[last].wait()
    _wait_log(logs[0], "Cluster state changed: fail", 10)
    nodes[last] = start(["redis-server", str(work / f"cluster-{last}.conf")], work / "stderr.log")
    procs.append(nodes[last])
    _wait_log(logs[0], "Cluster state changed: ok", 10, count=2)
    for port in CLUSTER:
        stop(nodes[port])
    return logs


def collect(workdir: Path) -> list[str]:
    work = workdir
    master_conf = _write_conf(work, "master", MASTER)
    replica_conf = _write_conf(work, "replica", REPLICA, f"replicaof 127.0.0.1 {MASTER}\n")
    bad_conf = work / "bad.conf"
    bad_conf.write_text("bind 127.0.0.1\nport 19381\nloglevel verbose\nno-such-directive yes\n")
    stderr_log = work / "stderr.log"
    procs: list[subprocess.Popen[bytes]] = []
    cluster_logs: list[Path] = []
    try:
        master = start(["redis-server", str(master_conf)], stderr_log)
        procs.append(master)
        wait_for_port(MASTER)
        _cli(MASTER, "PING", password=None)
        _cli(MASTER, "AUTH", "wrong")
        for i in range(4):
            _cli(MASTER, "SET", f"user:{i}", f"name-{i}")
        pipe = "".join(f"SET key:{i} {'v' * (i % 40)}\r\n" for i in range(3000))
        run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(MASTER), "--no-auth-warning", "-a", "s3cret", "--pipe"],
            input=pipe.encode(),
            timeout_s=30,
        )
        _cli(MASTER, "EXPIRE", "key:1", "1")
        _cli(MASTER, "INCR", "key:5")
        _cli(MASTER, "NOSUCHCOMMAND")
        # replica: full sync
        replica = start(["redis-server", str(replica_conf)], stderr_log)
        procs.append(replica)
        wait_for_port(REPLICA)
        _wait_log(work / "replica.log", "MASTER <-> REPLICA sync: Finished with success")
        sentinel_conf = work / "sentinel.conf"
        sentinel_conf.write_text(SENTINEL_CONF.format(port=SENTINEL, work=work, master=MASTER))
        sentinel = start(["redis-server", str(sentinel_conf), "--sentinel"], stderr_log)
        procs.append(sentinel)
        # persistence: BGSAVE, SAVE, AOF on (rewrite), BGREWRITEAOF, DEBUG RELOAD
        _cli(MASTER, "BGSAVE")
        _wait_log(work / "master.log", "Background saving terminated")
        _cli(MASTER, "SAVE")
        _cli(MASTER, "CONFIG", "SET", "appendonly", "yes")
        _wait_log(work / "master.log", "Background AOF rewrite finished successfully")
        _cli(MASTER, "BGREWRITEAOF")
        time.sleep(1)
        _cli(MASTER, "DEBUG", "RELOAD")
        _cli(MASTER, "CONFIG", "REWRITE")
        _cli(MASTER, "MODULE", "LOAD", str(work / "nosuchmodule.so"))
        # protocol errors and a slow pubsub reader that overruns its output buffer
        _raw(MASTER, b"*abc\r\n")
        _raw(MASTER, b"*1\r\n$-5\r\n")
        _raw(MASTER, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03")
        _raw(MASTER, b"GET /favicon.ico HTTP/1.1\r\nHost: localhost\r\n\r\n")
        slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", MASTER))
        slow.sendall(b"AUTH s3cret\r\nSUBSCRIBE news\r\n")
        time.sleep(0.2)
        big = "x" * 4000
        pubs = "".join(f"PUBLISH news {big}\r\n" for _ in range(1000))
        run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(MASTER), "--no-auth-warning", "-a", "s3cret", "--pipe"],
            input=pubs.encode(),
            timeout_s=30,
        )
        time.sleep(0.5)
        slow.close()
        # Lua scripts write to the server log at every level
        for level in ("LOG_WARNING", "LOG_NOTICE", "LOG_VERBOSE"):
            _cli(
                MASTER,
                "EVAL",
                f"redis.log(redis.{level}, 'script says: ' .. ARGV[1] .. ' for ' .. KEYS[1])",
                "1",
                "user:1",
                f"level {level.lower()}",
            )
        time.sleep(5.5)  # serverCron's periodic verbose lines (DB sizes, clients)
        # replica promoted and re-attached, the master restarted under it
        _cli(REPLICA, "REPLICAOF", "NO", "ONE")
        time.sleep(0.5)
        _cli(REPLICA, "REPLICAOF", "127.0.0.1", str(MASTER))
        _wait_log(work / "replica.log", "MASTER <-> REPLICA sync: Finished with success", 8, count=2)
        # the master goes away: the sentinel fails over to the replica, then turns the old master into a replica
        _cli(MASTER, "SHUTDOWN")
        master.wait(30)
        _wait_log(work / "sentinel.log", "+switch-master", 20)
        master = start(["redis-server", str(master_conf)], stderr_log)
        procs.append(master)
        wait_for_port(MASTER)
        _wait_log(work / "sentinel.log", "+convert-to-slave", 15)
        _wait_log(work / "master.log", "MASTER <-> REPLICA sync: Finished with success", 8)
        _cli(MASTER, "DBSIZE")
        _cli(SENTINEL, "SENTINEL", "RESET", "mymaster", password=None)
        time.sleep(1)
        stop(sentinel)
        # a server that refuses its configuration file
        bad = start(["redis-server", str(bad_conf)], work / "bad.log")
        bad.wait(10)
        stop(replica)
        stop(master)
        cluster_logs = _cluster(work, procs)
    finally:
        for proc in procs:
            stop(proc)
    logs = [work / "master.log", work / "replica.log", work / "sentinel.log", *cluster_logs]
    return read_lines([*logs, stderr_log, work / "bad.log"])
