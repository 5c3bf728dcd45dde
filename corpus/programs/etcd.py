"""etcd 3.4 (Debian ``etcd-server``): a three-member cluster's zap JSON logs (``--logger=zap``).

Each member runs with ``--logger=zap --log-outputs=stderr`` (``m1`` at ``--log-level=debug``,
the others at ``info``); their lines are merged in time order. etcd 3.4 builds zap's production JSON encoder
(``go.uber.org/zap``, ``zap.NewProductionConfig`` with ISO 8601 time): one line is one JSON
object, keys in this order::

    {"level":"info","ts":"2026-12-05T10:00:00.123Z","caller":"etcdserver/server.go:2037","msg":"published local member to cluster through raft","local-member-id":"8e9e05c52164694d","local-member-attributes":"{Name:m1 ClientURLs:[http://127.0.0.1:21379]}","request-path":"/0/members/8e9e05c52164694d/attributes","cluster-id":"cdf818194e3a8c32","publish-timeout":"7s"}

- ``level``: ``debug``, ``info``, ``warn``, ``error``, ``panic``, ``fatal``.
- ``ts``: ISO 8601 time with milliseconds and zone (``2026-12-05T10:00:00.123Z`` or
  ``...+0000``), a JSON string.
- ``caller``: ``package/file.go:line`` (one value), then ``msg``, then the call's fields in
  order; ``error`` fields carry the Go error text. Keys may hold spaces (the debug
  ``"request stats"`` line: ``"start time"``, ``"time spent"``, ``"remote"``,
  ``"response type":"/etcdserverpb.KV/Put"``, ``"request count"``, ``"request size"``,
  ``"response count"``, ``"response size"``, ``"request content"``); a key is one JSON
  string like any value.

What is ONE value: each JSON string value is one value, spaces, colons, brackets and all
(``"msg":"applied incoming Raft snapshot"``, ``"address":"127.0.0.1:21380"``, ``"error":"dial
tcp 127.0.0.1:21580: connect: connection refused"``, ``"took":"1.234ms"`` - a Go duration -,
``"local-member-attributes":"{Name:m1 ClientURLs:[http://127.0.0.1:21379]}"``; JSON escapes
``\\"`` and ``\\n`` stay inside it). JSON numbers (``"revision":12``, ``"term":3``,
``"index":57``) and booleans are one value each; a JSON array of strings
(``"listen-client-urls":["http://127.0.0.1:21379"]``) is a list of values, one per element.
Member and cluster IDs are 16 hex digits (``"8e9e05c52164694d"``). The raft library's own
messages come through zap as one ``msg`` string with the member ID and term inside it
(``"msg":"8e9e05c52164694d became leader at term 2"``). Requests that took too long are
logged with the request and response rendered as one string each (``"request":"key:\\"/a\\"
range_end:\\"/b\\" "``), as are failed requests (``"msg":"failed to apply
request","took":"4.879µs","request":"header:<ID:14652921293921473309 > put:<key:\\"/bad\\"
value_size:1 lease:305441741 >","response":"","error":"..."``).

Besides the zap lines, the gRPC library writes a few lines of its own to stderr through Go's
standard logger: ``WARNING: 2026/12/05 22:18:43 [core] grpc: Server.Serve failed to create
ServerTransport:  connection error: desc = "transport: ..."`` - a severity word and a
colon, ``YYYY/MM/DD HH:MM:SS`` local time, ``[core]``, then free text (the ``desc = "..."``
part is one quoted value).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from programs._support import read_lines, run, start, stop, wait_for_port

FORMAT_SOURCE = (
    "https://etcd.io/docs/v3.4/op-guide/configuration/#logging-flags; "
    "https://github.com/etcd-io/etcd/blob/release-3.4/pkg/logutil/zap.go (zap production JSON encoder)"
)
PACKAGES = ["etcd-server", "etcd-client"]

MEMBERS = {"m1": (21379, 21380), "m2": (21479, 21480), "m3": (21579, 21580)}
CLUSTER = ",".join(f"{name}=http://127.0.0.1:{peer}" for name, (_, peer) in MEMBERS.items())


def collect(workdir: Path) -> list[str]:
    processes = {}
    env = {**os.environ, "ETCDCTL_API": "3"}

    def argv(name: str, state: str = "new") -> list[str]:
        client, peer = MEMBERS[name]
        return [
            "etcd",
            f"--name={name}",
            f"--data-dir={workdir / name}",
            f"--listen-client-urls=http://127.0.0.1:{client}",
            f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster={CLUSTER}",
            f"--initial-cluster-state={state}",
            "--initial-cluster-token=corpus",
            "--snapshot-count=50",
            "--logger=zap",
            "--log-outputs=stderr",
            f"--log-level={'debug' if name == 'm1' else 'info'}",
        ]

    def launch(name: str, state: str = "new") -> None:
        processes[name] = start(argv(name, state), workdir / f"{name}.log")

    endpoints = ",".join(f"http://127.0.0.1:{client}" for client, _ in MEMBERS.values())

    def ctl(*args: str, endpoint: str = endpoints, timeout_s: float = 20.0) -> int:
        return run(
            ["etcdctl", f"--endpoints={endpoint}", "--dial-timeout=2s", "--command-timeout=5s", *args],
            env=env,
            timeout_s=timeout_s,
        )

    one = f"http://127.0.0.1:{MEMBERS['m1'][0]}"
    try:
        for name in MEMBERS:
            launch(name)
        for client, _ in MEMBERS.values():
            wait_for_port(client)
        time.sleep(3)
        for i in range(40):
            ctl("put", f"/app/config/key{i}", f"value {i} with spaces")
        ctl("get", "/app/config/", "--prefix")
        ctl("get", "/missing")
        ctl("del", "/app/config/key1")
        ctl("del", "/app/config/", "--prefix")
        ctl("txn", endpoint=one)
        ctl("lease", "grant", "5")
        ctl("lease", "revoke", "694d77aa9e38260f")
        ctl("put", "/bad", "x", "--lease=1234abcd")
        ctl("member", "list")
        ctl("endpoint", "status")
        ctl("endpoint", "health")
        ctl("snapshot", "save", str(workdir / "snap.db"), endpoint=one)
        ctl("compaction", "20", endpoint=one)
        ctl("compaction", "10", endpoint=one)  # already compacted
        ctl("compaction", "99999", endpoint=one)  # future revision
        ctl("defrag", endpoint=one)
        ctl("alarm", "list")
        ctl("move-leader", "0000000000000001", endpoint=one)
        # One member goes away: the others lose its stream and keep trying; it catches up.
        stop(processes["m3"])
        for i in range(60):
            ctl("put", f"/while-down/{i}", "v", endpoint=one)
        time.sleep(2)
        launch("m3", "existing")
        wait_for_port(MEMBERS["m3"][0])
        time.sleep(3)
        # The leader is killed without a goodbye: an election follows.
        processes["m1"].send_signal(signal.SIGKILL)
        processes["m1"].wait()
        time.sleep(4)
        ctl("put", "/after-election", "v", endpoint=f"http://127.0.0.1:{MEMBERS['m2'][0]}")
        launch("m1", "existing")
        wait_for_port(MEMBERS["m1"][0])
        time.sleep(3)
        # Authentication: a root user, auth on, then a request without and with bad credentials.
        ctl("user", "add", "root:rootpw")
        ctl("role", "add", "reader")
        ctl("user", "add", "alice:alicepw")
        ctl("user", "grant-role", "alice", "reader")
        ctl("auth", "enable")
        ctl("put", "/secured", "v")
        ctl("put", "/secured", "v", "--user=alice:wrong")
        ctl("put", "/secured", "v", "--user=alice:alicepw")
        ctl("put", "/secured", "v", "--user=root:rootpw")
        ctl("auth", "disable", "--user=root:rootpw")
        time.sleep(1)
    finally:
        for process in processes.values():
            stop(process)
    # The members' lines in time order: a stable sort on the "ts" string, which all share;
    # a line that is not JSON (gRPC's own stderr lines) keeps the time of the line before it.
    keyed: list[tuple[str, str]] = []
    for name in MEMBERS:
        last = ""
        for line in read_lines([workdir / f"{name}.log"]):
            last = _timestamp(line) or last
            keyed.append((last, line))
    return [line for _, line in sorted(keyed, key=lambda item: item[0])]


def _timestamp(line: str) -> str:
    try:
        return str(json.loads(line).get("ts", ""))
    except (ValueError, AttributeError):
        return ""
