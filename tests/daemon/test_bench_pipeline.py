"""``logdelim bench``: one short run of the whole benchmark (tagger, Kafka ceiling, daemon) against the real broker."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from logdelim.tools import bench
from logdelim.tools.bench import PIPELINE_ROUNDS, SCRAPERS, SCRAPES_EACH
from logdelim.tools.broker import EmbeddedBroker

TAGGER_KEYS = ("tagger_lines_per_s", "tagger_cached_lines_per_s", "drain3_lines_per_s", "regex_lines_per_s")
PIPELINE_KEYS = (
    "passthrough_lines_per_s",
    "daemon_lines_per_s",
    "daemon_p50_latency_ms",
    "daemon_p99_latency_ms",
    "daemon_peak_rss_mb",
    "daemon_vs_ceiling",
    "passthrough_cpu_us_per_line",
    "daemon_cpu_us_per_line",
    "daemon_seen_p50_latency_ms",
    "daemon_seen_p99_latency_ms",
    "passthrough_seen_p50_latency_ms",
    "passthrough_seen_p99_latency_ms",
    "daemon_seen_p99_vs_passthrough",
    "daemon_cold_lines_per_s",
    "daemon_cold_lines",
    "tagger_uncached_cold_lines_per_s",
    "daemon_cold_vs_uncached",
    "daemon_more_workers_lines_per_s",
    "daemon_more_workers_peak_rss_mb",
    "daemon_cold_more_workers_lines_per_s",
)
COLD_LINES = 1000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.slow
@pytest.mark.broker
def test_short_bench_reports_every_key_and_writes_the_plot(
    broker: EmbeddedBroker, model_path: str | None, loghub_lines: Callable[[int | None], list[str]], tmp_path: Path
) -> None:
    data = tmp_path / "lines.log"
    data.write_text("\n".join(loghub_lines(3000)) + "\n", encoding="utf-8")
    out = tmp_path / "results"
    command = [
        sys.executable,
        "-m",
        "logdelim.daemon.cli",
        "bench",
        "--json",
        "--data",
        str(data),
        "--seconds",
        "0.3",
        "--batch-sizes",
        "8,64",
        "--pipeline-lines",
        "1500",
        "--latency-seconds",
        "1.5",
        "--load-fractions",
        "0.25,0.5",
        "--cold-lines",
        str(COLD_LINES),
        "--out",
        str(out),
        "--bootstrap-servers",
        broker.bootstrap_servers,
    ]
    if model_path is not None:
        command += ["--model", model_path]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout)

    for key in TAGGER_KEYS + PIPELINE_KEYS:
        assert isinstance(result[key], (int, float)) and result[key] > 0, (key, result[key])
    assert result["daemon_p50_latency_ms"] <= result["daemon_p99_latency_ms"]
    # The floor at half load, seen the same way as the daemon; the derived figures are those two.
    assert result["daemon_seen_p50_latency_ms"] <= result["daemon_seen_p99_latency_ms"]
    assert result["passthrough_seen_p50_latency_ms"] <= result["passthrough_seen_p99_latency_ms"]
    assert result["daemon_seen_p99_vs_passthrough"] == pytest.approx(
        result["daemon_seen_p99_latency_ms"] / result["passthrough_seen_p99_latency_ms"]
    )
    assert result["daemon_seen_p50_over_passthrough_ms"] == pytest.approx(
        result["daemon_seen_p50_latency_ms"] - result["passthrough_seen_p50_latency_ms"]
    )
    # The cold stream: a fresh daemon on lines of new shapes misses its caches, beside the uncached tagger.
    assert result["daemon_cold_lines"] == COLD_LINES
    assert 0 <= result["daemon_cold_cache_hit_ratio"] < 0.2
    # Pairs of the uncached tagger and a fresh cold daemon: each ratio its pair's, the headline figures medians.
    cold_rounds = result["cold_rounds"]
    assert len(cold_rounds) == bench.COLD_ROUNDS
    for pair in cold_rounds:
        assert pair["daemon_cold_vs_uncached"] == pytest.approx(
            pair["daemon_cold_lines_per_s"] / pair["tagger_uncached_cold_lines_per_s"]
        )
    for key in ("daemon_cold_lines_per_s", "tagger_uncached_cold_lines_per_s", "daemon_cold_vs_uncached"):
        assert result[key] == sorted(pair[key] for pair in cold_rounds)[len(cold_rounds) // 2], key
    # model.workers 2 beside the default: its peak memory counts both tagging processes.
    assert result["more_workers"] == 2
    assert result["daemon_more_workers_peak_rss_mb"] > result["daemon_peak_rss_mb"] * 1.2
    # Each round's ratio is its two measured rates; the headline figures are the rounds' medians.
    rounds = result["pipeline_rounds"]
    assert len(rounds) == PIPELINE_ROUNDS
    for pair in rounds:
        assert pair["ratio"] == pytest.approx(pair["daemon_lines_per_s"] / pair["passthrough_lines_per_s"])
    for key, values in (
        ("daemon_vs_ceiling", [p["ratio"] for p in rounds]),
        ("daemon_lines_per_s", [p["daemon_lines_per_s"] for p in rounds]),
        ("passthrough_lines_per_s", [p["passthrough_lines_per_s"] for p in rounds]),
    ):
        assert result[key] == sorted(values)[len(values) // 2], key
    # Peak memory of a Python process holding torch and a model: more than a bare interpreter, far below 24 GB.
    assert 100 < result["daemon_peak_rss_mb"] < 24_000
    assert result["daemon_exit_status"] == 0
    assert [pair["exit_status"] for pair in rounds] == [0] * (PIPELINE_ROUNDS - 1) + [None]
    assert [p["batch_size"] for p in result["batch_sweep"]] == [8, 64]
    assert all(p["lines_per_s"] > 0 for p in result["batch_sweep"])
    points = result["load_points"]
    assert [p["fraction"] for p in points] == [0.25, 0.5]
    assert all(p["complete"] and p["records"] == p["sent"] > 0 for p in points)
    assert all(p["passthrough_complete"] and p["passthrough_records"] == p["passthrough_sent"] > 0 for p in points)
    assert all(0 < p["passthrough_p50_ms"] <= p["passthrough_p99_ms"] <= p["passthrough_max_ms"] for p in points)
    half = points[1]
    assert (half["p99_ms"], half["passthrough_p99_ms"]) == (
        result["daemon_seen_p99_latency_ms"],
        result["passthrough_seen_p99_latency_ms"],
    )
    assert set(result["targets"]) == {
        "daemon_vs_ceiling",
        "daemon_p99_latency_ms",
        "daemon_peak_rss_mb",
        "scrape_p99_ms",
        "scrape_errors",
        "daemon_seen_p99_latency_ms",
        "daemon_seen_p99_vs_passthrough",
        "daemon_seen_p50_over_passthrough_ms",
        "daemon_cold_vs_uncached",
    }
    assert all(check["met"] in (True, False) for check in result["targets"].values())
    # The scrape load ran while paced lines flowed; its speed is a target, judged by the report, not here.
    assert result["scrape_requests"] == SCRAPERS * SCRAPES_EACH
    assert isinstance(result["scrape_errors"], int) and result["scrape_errors"] >= 0
    assert 0 < result["scrape_p50_ms"] <= result["scrape_p99_ms"] <= result["scrape_max_ms"]
    assert result["scrape_offered_lines_per_s"] > 0
    # Compression: what a record takes on the wire, compressed or not (zstd comes with the core install).
    assert result["record_bytes_lines"] > 0
    assert result["record_bytes_none"] > result["record_bytes_gzip"] > 0
    assert 0 < result["record_bytes_zstd"] < result["record_bytes_none"]

    import torch

    if torch.cuda.is_available():
        assert result["gpu"]["daemon_lines_per_s"] > 0
    else:
        assert result["gpu"] is None

    assert json.loads((out / "bench.json").read_text()) == result
    assert (out / "bench.png").read_bytes().startswith(PNG_MAGIC)
    # docs/gen_performance.py shows the new figures of a run that has them.
    spec = importlib.util.spec_from_file_location("gen_performance", DOCS / "gen_performance.py")
    assert spec is not None and spec.loader is not None
    gen_performance = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_performance)
    table = gen_performance.render_table(result, "x/bench.json")
    for key in (
        "passthrough_seen_p99_latency_ms",
        "daemon_seen_p99_vs_passthrough",
        "daemon_cold_lines_per_s",
        "daemon_cold_vs_uncached",
    ):
        assert f"`{key}`" in table, key


@pytest.mark.slow
def test_text_report_says_what_was_skipped(
    model_path: str | None, loghub_lines: Callable[[int | None], list[str]], tmp_path: Path
) -> None:
    data = tmp_path / "lines.log"
    data.write_text("\n".join(loghub_lines(500)) + "\n", encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "logdelim.daemon.cli",
        "bench",
        "--no-pipeline",
        "--data",
        str(data),
        "--seconds",
        "0.2",
        "--batch-sizes",
        "16",
        "--out",
        str(tmp_path / "results"),
    ]
    if model_path is not None:
        command += ["--model", model_path]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "pipeline: not measured (--no-pipeline)" in done.stdout
    assert "output bytes per record on the wire" in done.stdout and "zstd:" in done.stdout
    import torch

    assert ("GPU: skipped: no CUDA" in done.stdout) != torch.cuda.is_available()
    result = json.loads((tmp_path / "results" / "bench.json").read_text())
    assert result["daemon_lines_per_s"] is None and result["targets"]["daemon_p99_latency_ms"]["met"] is None
    assert result["scrape_p99_ms"] is None and result["targets"]["scrape_errors"]["met"] is None
    for key in (
        "passthrough_seen_p99_latency_ms",
        "daemon_seen_p99_vs_passthrough",
        "daemon_cold_lines_per_s",
        "tagger_uncached_cold_lines_per_s",
        "daemon_cold_vs_uncached",
        "cold_rounds",
        "daemon_more_workers_lines_per_s",
    ):
        assert result[key] is None, key
    assert result["targets"]["daemon_cold_vs_uncached"]["met"] is None


def test_peak_memory_counts_the_daemons_child_processes() -> None:
    import subprocess
    import time
    from types import SimpleNamespace

    from logdelim.tools.daemon_process import DaemonProcess

    # A parent holding ~60 MB whose child holds ~60 MB more, started from a thread (as the daemon
    # starts its tagging process): the figure must include both.
    script = (
        "import subprocess, sys, threading, time; b = bytearray(60_000_000); "
        "threading.Thread(target=lambda: subprocess.Popen([sys.executable, '-c', "
        "'b = bytearray(60_000_000); import time; time.sleep(30)'])).start(); time.sleep(30)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        time.sleep(2.0)  # both have touched their buffers
        total = DaemonProcess.peak_rss_mb(SimpleNamespace(process=parent))  # type: ignore[arg-type]
        with open(f"/proc/{parent.pid}/status", encoding="ascii") as f:
            own = next(int(t.split()[1]) for t in f if t.startswith("VmHWM:")) / 1024
        assert own > 55 and total > own + 55, (own, total)
    finally:
        parent.kill()
        parent.wait()


def test_cold_lines_are_reproducible_and_of_distinct_shapes() -> None:
    from logdelim.model.vocab import shape

    lines = bench.cold_lines(500)
    assert len(lines) == 500 and all(lines)
    assert len({shape(line) for line in lines}) == 500
    assert bench.cold_lines(500) == lines
    assert bench.cold_lines(200) == lines[:200]
    assert bench.cold_lines(200, seed=bench.COLD_LINES_SEED + 1) != lines[:200]


def test_cold_lines_miss_a_fresh_engines_caches(model_path: str | None) -> None:
    from logdelim.model.engine import Engine

    engine = Engine.load(model_path)
    engine.tag(bench.cold_lines(300))
    assert engine.cache_hits < 0.2 * 300


def test_target_checks_of_the_floor_and_the_cold_stream() -> None:
    result = {
        "daemon_seen_p99_latency_ms": 150.0,
        "daemon_seen_p99_vs_passthrough": 2.5,
        "daemon_seen_p50_over_passthrough_ms": 12.0,
        "daemon_cold_vs_uncached": None,
        "daemon_vs_ceiling": 0.8,
    }
    checks = bench.target_checks(result)
    assert checks["daemon_seen_p99_latency_ms"] == {"value": 150.0, "target": "<= 200", "met": True}
    assert checks["daemon_seen_p99_vs_passthrough"] == {"value": 2.5, "target": "<= 2", "met": False}
    assert checks["daemon_seen_p50_over_passthrough_ms"] == {"value": 12.0, "target": "<= 30", "met": True}
    assert checks["daemon_cold_vs_uncached"] == {"value": None, "target": ">= 0.8", "met": None}
    assert checks["daemon_vs_ceiling"]["met"] is True


def test_ratio_and_difference_say_none_when_a_figure_is_missing() -> None:
    assert bench._ratio(3.0, 2.0) == 1.5
    assert bench._ratio(3.0, None) is None and bench._ratio(None, 2.0) is None and bench._ratio(3.0, 0.0) is None
    assert bench._difference(3.0, 2.0) == 1.0
    assert bench._difference(None, 2.0) is None and bench._difference(3.0, None) is None


def test_daemon_process_get_sends_the_headers_it_is_given() -> None:
    import http.server
    import threading
    from types import SimpleNamespace

    from logdelim.tools.daemon_process import DaemonProcess

    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server method name
            seen.append(self.headers.get("Cache-Control"))
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        process = SimpleNamespace(metrics_url=f"http://127.0.0.1:{server.server_address[1]}")
        assert DaemonProcess.get(process, "/metrics") == (200, "ok")  # type: ignore[arg-type]
        assert DaemonProcess.get(process, "/metrics", 2.0, bench.FRESH_PAGE_HEADERS) == (200, "ok")  # type: ignore[arg-type]
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [None, "no-cache"]


def test_the_target_load_point_is_measured_first() -> None:
    assert bench.measuring_order((0.25, 0.5, 0.75)) == [0.5, 0.25, 0.75]
    assert bench.measuring_order((0.75, 0.25)) == [0.75, 0.25]
    assert bench.measuring_order((0.5,)) == [0.5]


def test_cold_rounds_pair_each_daemon_with_the_tagger_just_before_it_and_take_medians() -> None:
    taggers = iter([10_000.0, 8_000.0, 12_000.0])
    daemons = iter([6_000.0, 7_200.0, 6_600.0])
    calls: list[str] = []

    def uncached() -> float:
        calls.append("tagger")
        return next(taggers)

    async def daemon() -> dict:
        calls.append("daemon")
        rate = next(daemons)
        return {"daemon_cold_lines_per_s": rate, "daemon_cold_cache_hit_ratio": rate / 1e5}

    result = asyncio.run(bench.cold_rounds(uncached, daemon, rounds=3))
    assert calls == ["tagger", "daemon"] * 3
    assert [pair["daemon_cold_vs_uncached"] for pair in result["cold_rounds"]] == [0.6, 0.9, 0.55]
    # Each figure its own median; the other daemon figures are the median daemon's.
    assert result["tagger_uncached_cold_lines_per_s"] == 10_000.0
    assert result["daemon_cold_lines_per_s"] == 6_600.0 and result["daemon_cold_cache_hit_ratio"] == 0.066
    assert result["daemon_cold_vs_uncached"] == 0.6

    async def another_daemon() -> dict:
        return {"daemon_cold_lines_per_s": 5_000.0}

    without = asyncio.run(bench.cold_rounds(None, another_daemon, rounds=1))
    assert without["tagger_uncached_cold_lines_per_s"] is None and without["daemon_cold_vs_uncached"] is None
