"""Prometheus server 2.42 (Debian ``prometheus``): its own log on stderr, logfmt, debug level.

Prometheus logs through go-kit/log with ``--log.format=logfmt`` (the default), set up by
``prometheus/common/promlog``. One line is one record of ``key=value`` pairs separated by
single spaces, for example::

    ts=2026-12-05T10:00:00.123Z caller=main.go:585 level=info msg="Starting Prometheus Server" mode=server version="(version=2.42.0+ds, branch=debian/sid, revision=2.42.0+ds-5+deb12u1)"

- ``ts``: RFC 3339 UTC timestamp with milliseconds (``2006-01-02T15:04:05.000Z07:00``).
- ``caller``: ``file.go:line`` of the call site (one value; the ``:`` joins file and line).
- ``level``: ``debug``, ``info``, ``warn`` or ``error``.
- then, in the order the call site gives them: ``component`` (``tsdb``, ``web``,
  ``"scrape manager"``, ``"rule manager"``, ``"discovery manager scrape"``, ``notifier``,
  ``remote`` ...), ``msg``, and further keys (``err``, ``file``, ``scrape_pool``,
  ``target``, ``group``, ``duration``, ``remote_name``, ``url`` ...). Loggers built with
  extra context put it first, so the remote-write lines read ``caller=dedupe.go:112
  component=remote level=warn remote_name=nowhere url=http://... msg="..."``. Some lines
  have no ``msg`` at all (``level=info fd_limits="(soft=20000, hard=20000)"``).

What is ONE value: logfmt quotes a value with double quotes when it contains a space,
``=``, ``"`` or a control character, and escapes ``"``, ``\\`` and control characters
inside it (``\\"``, ``\\\\``, ``\\n``); such a quoted value is one value, spaces and all
(``msg="Server is ready to receive web requests."``, ``err="open /x: no such file or
directory"``, ``component="scrape manager"``, a whole rule printed as YAML
``rule="alert: Broken\\nexpr: label_replace(up, \\"x\\", ...)\\n"``). An unquoted value runs
to the next space (``duration=1.234ms``, ``target=http://127.0.0.1:21091/metrics``,
``address=127.0.0.1:21090``, ``paths=[/tmp/x/targets/*.json]``, ``subs=[missing]`` - a
Go slice printed in brackets, quoted as a whole once it holds a space:
``subs="[html notfound limited prometheus]"``). A key may have an empty value
(``lastCheckpoint=`` followed by a space). Values that Go formats from structs stay one
value inside their quotes, e.g. ``version="(version=2.42.0+ds, branch=..., revision=...)"``.
Durations are Go ``time.Duration`` strings (``1.5s``, ``812.3µs``, ``15d``); sizes are
plain integers or ``0B``.

A server that cannot start can die with a Go panic instead of a log line: ``panic: Unable
to create mmap-ed active query log``, ``goroutine 1 [running]:``, then stack frames, each a
function line (``main.main()``) followed by a tab-indented ``path/file.go:613 +0x6a93``.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from programs._support import http_get, start, stop, wait_for_port

FORMAT_SOURCE = "https://github.com/go-kit/log/blob/main/logfmt_logger.go (via https://github.com/prometheus/common/blob/main/promlog/log.go)"
PACKAGES = ["prometheus"]

PORT = 21090
GOOD_RULES = """\
groups:
  - name: example
    interval: 1s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: TargetDown
        expr: up == 0
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} is down"
      - record: bad:many_to_many
        expr: up * on() group_left prometheus_build_info
      - alert: Broken
        expr: label_replace(up, "x", "$1", "job", "(")
"""
BAD_RULES = """\
groups:
  - name: broken
    rules:
      - record: bad name
        expr: sum(up
"""


def _config(workdir: Path, extra_rules: list[str]) -> str:
    rules = "".join(f"  - {path}\n" for path in [str(workdir / "good.rules.yml"), *extra_rules])
    return f"""\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels:
    monitor: corpus
rule_files:
{rules}alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:21093"]
remote_write:
  - url: http://127.0.0.1:21094/api/v1/write
    name: nowhere
    queue_config:
      max_backoff: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{PORT}"]
  - job_name: missing
    scrape_timeout: 500ms
    static_configs:
      - targets: ["127.0.0.1:21091", "127.0.0.1:21092"]
  - job_name: files
    file_sd_configs:
      - files: ["{workdir}/targets/*.json"]
        refresh_interval: 1s
  - job_name: html
    metrics_path: /graph
    static_configs:
      - targets: ["127.0.0.1:{PORT}"]
  - job_name: notfound
    metrics_path: /nope
    static_configs:
      - targets: ["127.0.0.1:{PORT}"]
  - job_name: limited
    sample_limit: 5
    static_configs:
      - targets: ["127.0.0.1:{PORT}"]
"""


def _reload(port: int) -> None:
    try:
        http_get(port, "/-/reload", method="POST")
    except OSError:
        pass


def collect(workdir: Path) -> list[str]:
    log = workdir / "prometheus.log"
    (workdir / "targets").mkdir()
    (workdir / "good.rules.yml").write_text(GOOD_RULES)
    (workdir / "bad.rules.yml").write_text(BAD_RULES)
    config = workdir / "prometheus.yml"
    config.write_text(_config(workdir, []))
    argv = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{PORT}",
        "--web.enable-lifecycle",
        "--web.enable-admin-api",
        "--log.level=debug",
        "--storage.remote.flush-deadline=2s",
        "--storage.tsdb.min-block-duration=5m",
        "--storage.tsdb.max-block-duration=5m",
    ]
    for run_index in range(2):
        process = start(argv, log)
        try:
            wait_for_port(PORT)
            time.sleep(4)
            for path in ["/", "/graph", "/api/v1/query?query=up", "/api/v1/query?query=sum(", "/nope", "/-/healthy"]:
                http_get(PORT, path)
            (workdir / "targets" / "a.json").write_text(
                '[{"targets": ["127.0.0.1:21095", "localhost:21096"], "labels": {"env": "test"}}]'
            )
            time.sleep(3)
            (workdir / "targets" / "b.json").write_text("[{not json")
            time.sleep(3)
            # A rule file that does not parse: the reload fails and says why.
            config.write_text(_config(workdir, [str(workdir / "bad.rules.yml")]))
            _reload(PORT)
            time.sleep(1)
            process.send_signal(signal.SIGHUP)
            time.sleep(1)
            # A rule file that does not exist, then a config that does not parse.
            config.write_text(_config(workdir, [str(workdir / "absent.rules.yml")]))
            _reload(PORT)
            config.write_text("global:\n  scrape_interval: often\n")
            _reload(PORT)
            time.sleep(1)
            config.write_text(_config(workdir, []))
            process.send_signal(signal.SIGHUP)
            time.sleep(3)
            if run_index == 0:
                # Second servers that fail to start: the port is taken, the data path is unusable.
                for flags in (
                    [f"--storage.tsdb.path={workdir / 'data2'}", f"--web.listen-address=127.0.0.1:{PORT}"],
                    ["--storage.tsdb.path=/proc/corpus-nope", "--web.listen-address=127.0.0.1:21097"],
                ):
                    second = start([argv[0], argv[1], *flags, *argv[4:]], log)
                    try:
                        second.wait(20)
                    except subprocess.TimeoutExpired:
                        pass
                    finally:
                        stop(second)
                for path in [
                    "/api/v1/admin/tsdb/snapshot",
                    "/api/v1/admin/tsdb/delete_series?match[]=up",
                    "/api/v1/admin/tsdb/clean_tombstones",
                ]:
                    http_get(PORT, path, method="POST")
                time.sleep(2)
                stop(process)
            else:
                http_get(PORT, "/-/quit", method="POST")
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            stop(process)
    return log.read_text(encoding="utf-8", errors="replace").splitlines()
