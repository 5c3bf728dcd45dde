"""``logdelim bench``: one short run of the whole benchmark (tagger, Kafka ceiling, daemon) against the real broker."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from logdelim.tools.bench import PIPELINE_ROUNDS, SCRAPERS, SCRAPES_EACH
from logdelim.tools.broker import EmbeddedBroker

TAGGER_KEYS = ("tagger_lines_per_s", "tagger_cached_lines_per_s", "drain3_lines_per_s", "regex_lines_per_s")
PIPELINE_KEYS = ("passthrough_lines_per_s", "daemon_lines_per_s", "daemon_p50_latency_ms", "daemon_p99_latency_ms",
                 "daemon_peak_rss_mb", "daemon_vs_ceiling", "passthrough_cpu_us_per_line", "daemon_cpu_us_per_line")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.broker
def test_short_bench_reports_every_key_and_writes_the_plot(
        broker: EmbeddedBroker, model_path: str | None, loghub_lines: Callable[[int | None], list[str]],
        tmp_path: Path) -> None:
    data = tmp_path / "lines.log"
    data.write_text("\n".join(loghub_lines(3000)) + "\n", encoding="utf-8")
    out = tmp_path / "results"
    command = [sys.executable, "-m", "logdelim.daemon.cli", "bench", "--json", "--data", str(data),
               "--seconds", "0.3", "--batch-sizes", "8,64", "--pipeline-lines", "1500",
               "--latency-seconds", "1.5", "--load-fractions", "0.25,0.5", "--out", str(out),
               "--bootstrap-servers", broker.bootstrap_servers]
    if model_path is not None:
        command += ["--model", model_path]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout)

    for key in TAGGER_KEYS + PIPELINE_KEYS:
        assert isinstance(result[key], (int, float)) and result[key] > 0, (key, result[key])
    assert result["daemon_p50_latency_ms"] <= result["daemon_p99_latency_ms"]
    # Each round's ratio is its two measured rates; the headline figures are the rounds' medians.
    rounds = result["pipeline_rounds"]
    assert len(rounds) == PIPELINE_ROUNDS
    for pair in rounds:
        assert pair["ratio"] == pytest.approx(pair["daemon_lines_per_s"] / pair["passthrough_lines_per_s"])
    for key, values in (("daemon_vs_ceiling", [p["ratio"] for p in rounds]),
                        ("daemon_lines_per_s", [p["daemon_lines_per_s"] for p in rounds]),
                        ("passthrough_lines_per_s", [p["passthrough_lines_per_s"] for p in rounds])):
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
    assert set(result["targets"]) == {"daemon_vs_ceiling", "daemon_p99_latency_ms", "daemon_peak_rss_mb",
                                      "scrape_p99_ms", "scrape_errors"}
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


@pytest.mark.slow
def test_text_report_says_what_was_skipped(model_path: str | None, loghub_lines: Callable[[int | None], list[str]],
                                           tmp_path: Path) -> None:
    data = tmp_path / "lines.log"
    data.write_text("\n".join(loghub_lines(500)) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "logdelim.daemon.cli", "bench", "--no-pipeline", "--data", str(data),
               "--seconds", "0.2", "--batch-sizes", "16", "--out", str(tmp_path / "results")]
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


def test_peak_memory_counts_the_daemons_child_processes() -> None:
    import subprocess
    import time
    from types import SimpleNamespace

    from logdelim.tools.daemon_process import DaemonProcess

    # A parent holding ~60 MB whose child holds ~60 MB more, started from a thread (as the daemon
    # starts its tagging process): the figure must include both.
    script = ("import subprocess, sys, threading, time; b = bytearray(60_000_000); "
              "threading.Thread(target=lambda: subprocess.Popen([sys.executable, '-c', "
              "'b = bytearray(60_000_000); import time; time.sleep(30)'])).start(); time.sleep(30)")
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
