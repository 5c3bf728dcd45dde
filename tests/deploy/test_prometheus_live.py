"""Acceptance test of deploy/: a real Prometheus scraping a real daemon on the embedded broker.

Prometheus (the Debian binary) runs with deploy/prometheus/prometheus.yml, its
scrape and rule-evaluation intervals cut to 1 s and its target pointed at the
daemon, loading deploy/prometheus/rules.yml. After a few thousand lines (and a
few lines the daemon must dead-letter) have gone through, every Grafana panel
query and every recording rule must return data, and every alert must evaluate
without error.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import PROMETHEUS_DIR, RULES, panel_queries, rules, tool

from logdelim.tools.broker import free_port

pytestmark = [pytest.mark.slow, pytest.mark.broker, pytest.mark.timeout(180)]

LINES = 3000
WAVES = 5
WAVE_GAP_S = 1.5
# rate(...[1m]) keeps the waves visible for a minute: every query must show data before.
DEADLINE_S = 45.0


class Prometheus:
    """A Prometheus server process and its HTTP API."""

    def __init__(self, process: subprocess.Popen, url: str, log_path: Path) -> None:
        self.process = process
        self.url = url
        self.log_path = log_path

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; returns ``data``, raising on an API error."""
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query: the result vector."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        return data["result"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[[str], Prometheus]]:
    """``start_prometheus("127.0.0.1:9108")``: the shipped config, 1 s intervals, that target."""
    binary = tool("prometheus")
    started: list[Prometheus] = []

    def start(target: str) -> Prometheus:
        config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
        config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
        config["rule_files"] = [str(RULES)]
        (job,) = config["scrape_configs"]
        job.pop("scrape_timeout", None)
        job["static_configs"] = [{"targets": [target]}]
        config_path = tmp_path / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        port = free_port()
        log_path = tmp_path / "prometheus.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        prometheus = Prometheus(process, f"http://127.0.0.1:{port}", log_path)
        started.append(prometheus)
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"prometheus exited:\n{prometheus.log()}"
            try:
                with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return prometheus
            except (urllib.error.URLError, OSError):
                pass
            assert time.monotonic() < deadline, f"prometheus not ready:\n{prometheus.log()}"
            time.sleep(0.2)

    yield start
    for prometheus in started:
        prometheus.process.terminate()
        try:
            prometheus.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            prometheus.process.kill()
            prometheus.process.wait()


def log_lines(count: int) -> list[bytes]:
    """Plausible log lines, a third of them repeated (so the engine's cache gets hits)."""
    unique = [
        f"2026-11-22 00:{i % 60:02d}:{i % 59:02d},{i % 1000:03d} INFO [worker-{i % 8}] "
        f"dfs.DataNode$PacketResponder: Received block blk_{1000 + i} of size {64 * i} from /10.0.{i % 250}.{i % 7}"
        for i in range(count * 2 // 3)
    ]
    return [line.encode() for line in (unique + unique[: count - len(unique)])]


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, details: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{details()}"
        time.sleep(0.5)


def has_data(result: list[dict[str, Any]]) -> bool:
    """At least one sample with a real number (histogram_quantile over nothing gives NaN)."""
    return any(math.isfinite(float(sample["value"][1])) for sample in result)


def test_prometheus_scrapes_the_daemon_and_every_query_returns_data(
    make_topic: Callable[..., str],
    start_daemon: Callable[..., Any],
    kafka_io: Any,
    unique_name: Callable[[str], str],
    start_prometheus: Callable[[str], Prometheus],
) -> None:
    source = make_topic("live-in", partitions=2)
    output = make_topic("live-out")
    dead = make_topic("live-dead")
    daemon = start_daemon(
        input_topics=[source],
        output_topic=output,
        dead_letter_topic=dead,
        group_id=unique_name("live-group"),
        batching={"max_lines": 128, "max_wait_ms": 20},
    )
    prometheus = start_prometheus(f"127.0.0.1:{daemon.metrics_port}")
    details = lambda: f"daemon log:\n{daemon.log()}\nprometheus log:\n{prometheus.log()}"  # noqa: E731

    # Nothing may happen before Prometheus holds a first sample: rate() only sees increases
    # between two scrapes.
    wait_until(
        lambda: [s["value"][1] for s in prometheus.query('up{job="logdelim"}')] == ["1"],
        30,
        "the first scrape of the daemon",
        details,
    )
    # Good lines in waves over a few scrape intervals, plus some the daemon must dead-letter:
    # a null value, bytes that are not UTF-8, and a line over input.max_line_bytes.
    bad = [None, b"\xff\xfe not utf-8", b"x" * 70_000]
    lines = log_lines(LINES)
    for wave in range(WAVES):
        kafka_io.produce(source, lines[wave::WAVES] + ([bad[wave]] if wave < len(bad) else []))
        time.sleep(WAVE_GAP_S)
    wait_until(
        lambda: (
            daemon.metric("logdelim_lines_consumed_total") >= LINES + len(bad)
            and daemon.metric("logdelim_dead_letters_total") >= len(bad)
        ),
        60,
        "the daemon to consume every line",
        details,
    )

    queries = [(f"panel {where}", expr) for where, expr in panel_queries()]
    queries += [(f"recording rule {rule['record']}", rule["record"]) for rule in rules("record")]
    pending = dict(queries)

    def all_have_data() -> bool:
        for where, expr in list(pending.items()):
            if has_data(prometheus.query(expr)):
                del pending[where]
        return not pending

    wait_until(
        all_have_data,
        DEADLINE_S,
        "every query to return data",
        lambda: f"no data yet: {json.dumps(pending, indent=1)}\n{details()}",
    )

    # The daemon's own numbers made it through: lines in, one target up, model identified.
    consumed = prometheus.query(f'sum(logdelim_lines_consumed_total{{topic="{source}"}})')
    assert float(consumed[0]["value"][1]) == LINES + len(bad)
    assert [s["value"][1] for s in prometheus.query('up{job="logdelim"}')] == ["1"]
    (info,) = prometheus.query("logdelim_model_info")
    assert info["metric"]["model_id"] and info["metric"]["device"] == "cpu"
    partitions = prometheus.query(f'job_topic_partition:logdelim_consumer_lag_messages:max{{topic="{source}"}}')
    assert sorted(s["metric"]["partition"] for s in partitions) == ["0", "1"]
    reasons = {s["metric"]["reason"] for s in prometheus.query("job_reason:logdelim_dead_letters:rate1m > 0")}
    assert {"null_value", "invalid_utf8", "too_long"} <= reasons

    # Every rule, alerts included, has been evaluated and evaluated without error.
    def all_evaluated() -> bool:
        return all(
            rule["health"] != "unknown" for group in prometheus.api("rules")["groups"] for rule in group["rules"]
        )

    wait_until(all_evaluated, 30, "every rule to be evaluated", details)
    evaluated = {rule["name"]: rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]}
    expected = {rule.get("record") or rule["alert"] for rule in rules("record") + rules("alert")}
    assert expected <= evaluated.keys()
    broken = {name: rule.get("lastError") for name, rule in evaluated.items() if rule["health"] != "ok"}
    assert not broken, broken
    for rule in rules("alert"):
        prometheus.query(rule["expr"])  # raises on an API error
    # A healthy daemon that kept up trips no alert (all have a "for", none may even be pending
    # except the dead-letter ratio, which this test provokes on purpose).
    active = {a["labels"]["alertname"] for a in prometheus.api("alerts")["alerts"]}
    assert active <= {"LogdelimDeadLetterRateHigh"}, active
