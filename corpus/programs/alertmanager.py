"""Alertmanager 0.25 (Debian ``prometheus-alertmanager``): its own log on stderr, logfmt, debug level.

Two clustered instances write into one log file. Alertmanager logs through go-kit/log with
``--log.format=logfmt`` (the default, set up by ``prometheus/common/promlog``). One line is
one record of ``key=value`` pairs separated by single spaces::

    ts=2026-12-05T10:00:00.123Z caller=main.go:241 level=info msg="Starting Alertmanager" version="(version=0.25.0, branch=debian/sid, revision=0.25.0-1+b4)"
    ts=2026-12-05T10:00:01.456Z caller=dispatch.go:163 level=debug component=dispatcher msg="Received alert" alert=Disk[445f241][active]
    ts=2026-12-05T10:00:02.789Z caller=notify.go:732 level=warn component=dispatcher receiver=broken integration=webhook[0] msg="Notify attempt failed, will retry later" attempts=1 err="Post \\"http://127.0.0.1:21099/hook\\": dial tcp 127.0.0.1:21099: connect: connection refused"

- ``ts``: RFC 3339 UTC timestamp with milliseconds; ``caller``: ``file.go:line`` (one value);
  ``level``: ``debug``, ``info``, ``warn``, ``error``; then the call site's keys in its
  order: ``component`` (``cluster``, ``dispatcher``, ``configuration``, ``api``,
  ``nflog``, ``silences``), ``msg``, ``err``, ``receiver``, ``integration``, ``aggrGroup``,
  ``alerts``, ``file``, ``peer``, ``node``, ``addr``, ``duration`` ... Some lines have no
  ``msg`` (``level=debug externalURL=http://vm:21093``, ``received=NotifyJoin node=...``).

What is ONE value: a logfmt value is quoted with ``"`` when it contains a space, ``=``,
``"`` or a control character, with ``\\"``, ``\\\\`` and ``\\n`` escapes inside; the
quoted value is one value, spaces and all (``msg="Completed loading of configuration
file"``, ``err="..."``, ``aggrGroup="{}/{team=\\"db\\"}:{alertname=\\"Queue\\", severity=\\"critical\\"}"``
- the route's matchers then the group's labels -, ``silence="silence:<id:\\"...\\"
matchers:<name:\\"alertname\\" pattern:\\"Cpu\\" > ..."`` - a protobuf text dump -). An
unquoted value runs to the next space: ``addr=127.0.0.1:21194`` (host:port),
``integration=webhook[0]`` (a name and its index), ``alert=Disk[445f241][active]`` and
``alerts=[Disk[445f241][active]]`` (alert name, fingerprint prefix and state, printed by
Go as one string; a list of several alerts is quoted), ``node=01M944669TPFNMS4SW767AC1XK``
(a ULID peer name), ``duration=1.2ms``, ``elapsed=2.00073525s``, ``now=2026-12-05T22:11:33.745033529Z``,
``file=/tmp/.../alertmanager.yml``. The cluster's memberlist library writes its own log
lines through the same logger as one quoted ``memberlist`` value that holds Go's standard
log prefix and a trailing escaped newline (``memberlist="2026/12/05 22:11:26 [DEBUG]
memberlist: Stream connection from=127.0.0.1:54238\\n"``).
"""

from __future__ import annotations

import http.server
import json
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from programs._support import http_get, run, start, stop, wait_for_port

FORMAT_SOURCE = "https://github.com/go-kit/log/blob/main/logfmt_logger.go (via https://github.com/prometheus/common/blob/main/promlog/log.go)"
PACKAGES = ["prometheus-alertmanager"]

PORTS = (21093, 21193)
CLUSTER = (21194, 21195)
CONFIG = """\
global:
  resolve_timeout: 10s
route:
  receiver: broken
  group_by: [alertname, severity]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 5s
  routes:
    - matchers: ['severity="info"']
      receiver: blackhole
    - matchers: ['team="db"']
      receiver: notfound
      continue: true
    - matchers: ['severity="critical"']
      receiver: flaky
inhibit_rules:
  - source_matchers: ['severity="page"']
    target_matchers: ['severity="warning"']
    equal: [alertname]
receivers:
  - name: broken
    webhook_configs:
      - url: http://127.0.0.1:21099/hook
        max_alerts: 2
  - name: notfound
    webhook_configs:
      - url: http://127.0.0.1:21098/status/404
  - name: flaky
    webhook_configs:
      - url: http://127.0.0.1:21098/status/500
      - url: http://127.0.0.1:21098/ok
        send_resolved: true
  - name: blackhole
"""


def _post(port: int, path: str, body: object) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if not isinstance(body, bytes) else body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
    except (urllib.error.URLError, OSError):
        pass


def _alerts(names: list[str], severity: str, **labels: str) -> list[dict[str, object]]:
    return [
        {
            "labels": {"alertname": name, "severity": severity, "instance": f"host{i}:9100", **labels},
            "annotations": {"summary": f"{name} on host{i} is bad"},
            "generatorURL": "http://127.0.0.1:21090/graph",
        }
        for i, name in enumerate(names)
    ]


class _Webhook(http.server.BaseHTTPRequestHandler):
    """The webhook receiver the notifications go to: ``/status/<code>`` answers that code."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        code = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
        pass


def collect(workdir: Path) -> list[str]:
    log = workdir / "alertmanager.log"
    config = workdir / "alertmanager.yml"
    config.write_text(CONFIG)
    processes = []
    webhook = http.server.ThreadingHTTPServer(("127.0.0.1", 21098), _Webhook)
    threading.Thread(target=webhook.serve_forever, daemon=True).start()

    def argv(index: int) -> list[str]:
        peer = CLUSTER[1 - index]
        return [
            "prometheus-alertmanager",
            f"--config.file={config}",
            f"--storage.path={workdir / f'data{index}'}",
            f"--web.listen-address=127.0.0.1:{PORTS[index]}",
            f"--cluster.listen-address=127.0.0.1:{CLUSTER[index]}",
            f"--cluster.advertise-address=127.0.0.1:{CLUSTER[index]}",
            f"--cluster.peer=127.0.0.1:{peer}",
            "--cluster.settle-timeout=5s",
            "--cluster.peer-timeout=2s",
            "--cluster.pushpull-interval=5s",
            "--data.maintenance-interval=10s",
            "--log.level=debug",
        ]

    amtool = ["amtool", f"--alertmanager.url=http://127.0.0.1:{PORTS[0]}"]
    try:
        for index in range(2):
            processes.append(start(argv(index), log))
        for port in PORTS:
            wait_for_port(port)
        time.sleep(6)
        _post(PORTS[0], "/api/v2/alerts", _alerts(["Disk", "Cpu", "Memory"], "page"))
        _post(PORTS[0], "/api/v2/alerts", _alerts(["Disk"], "warning"))
        _post(PORTS[1], "/api/v2/alerts", _alerts(["Backup"], "info"))
        for port in PORTS:
            _post(port, "/api/v2/alerts", _alerts(["Replication"], "critical", team="db"))
        _post(PORTS[0], "/api/v2/alerts", b'[{"labels": {}}]')
        _post(PORTS[0], "/api/v2/alerts", b"not json")
        _post(PORTS[0], "/api/v1/alerts", _alerts(["Legacy"], "page"))
        for path in ["/api/v2/status", "/api/v2/alerts/groups", "/api/v2/silences", "/nope", "/-/ready"]:
            http_get(PORTS[0], path)
        run([*amtool, "silence", "add", "alertname=Cpu", "--comment=maintenance", "--author=corpus", "--duration=1m"])
        run([*amtool, "silence", "add", "alertname=~Mem.*", "--comment=noise", "--author=corpus"])
        time.sleep(6)
        run([*amtool, "silence", "expire", "$(not-an-id)"])
        _post(PORTS[0], "/api/v2/silences", {"matchers": [], "comment": "empty", "createdBy": "x"})
        # Resolve some alerts (endsAt in the past).
        resolved = _alerts(["Disk"], "page")
        resolved[0]["endsAt"] = "2020-01-01T00:00:00Z"
        _post(PORTS[0], "/api/v2/alerts", resolved)
        time.sleep(4)
        # A config that does not parse, one with an unknown receiver, then the good one again.
        config.write_text(CONFIG + "  - name: [bad\n")
        _post(PORTS[0], "/-/reload", b"")
        config.write_text(CONFIG.replace("receiver: blackhole", "receiver: ghost"))
        processes[1].send_signal(signal.SIGHUP)
        time.sleep(1)
        config.write_text(CONFIG)
        _post(PORTS[0], "/-/reload", b"")
        processes[1].send_signal(signal.SIGHUP)
        time.sleep(3)
        # One peer goes away and comes back: the cluster notices both.
        stop(processes[1])
        time.sleep(4)
        processes[1] = start(argv(1), log)
        wait_for_port(PORTS[1])
        _post(PORTS[1], "/api/v2/alerts", _alerts(["AfterRestart", "Network"], "page"))
        for port in PORTS:
            _post(port, "/api/v2/alerts", _alerts(["Queue", "Latency"], "critical", team="db"))
        time.sleep(7)
        # A second server on a port that is taken fails at once.
        taken = start([*argv(0)[:3], f"--web.listen-address=127.0.0.1:{PORTS[1]}", "--cluster.listen-address="], log)
        try:
            taken.wait(15)
        except Exception:  # noqa: BLE001 - it is stopped below either way
            pass
        finally:
            stop(taken)
    finally:
        for process in processes:
            stop(process)
        webhook.shutdown()
        webhook.server_close()
    return log.read_text(encoding="utf-8", errors="replace").splitlines()
