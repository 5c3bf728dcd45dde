"""Memory soak: three minutes of ever new log lines, and the daemon's memory stays bounded.

A real ``logdelim run`` subprocess with its default model settings (tagging
process on, the default ``model.cache_max_bytes``) reads lines that are all new
to its caches: realistic ``synth`` lines, each with a word of its own, so every
line is a new cache key and a new shape and the caches fill and keep evicting.
Every few seconds the test reads the resident memory of the daemon and of every
process below it (the tagging process, multiprocessing's helper). The whole
daemon must stay within 1 GiB, and the tagging process, once its caches are full,
within its resident size at start plus what the byte bound allows.

The series is written to ``rss-series.jsonl`` in the test's tmp dir; a summary is
printed and appended to the fault report (``fault_support.record_figures``).

Run: ``.venv/bin/python -m pytest tests/daemon/test_memory_soak.py -q -s`` (marked
slow and broker).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fault_support import is_tagging_process, record_figures, rss_mb
from shared_support import distinct_word

from logdelim.daemon.config import ModelConfig
from logdelim.tools.daemon_process import descendants

pytestmark = [pytest.mark.slow, pytest.mark.broker]

SEED = 20261122
SOAK_S = 180.0
SAMPLE_EVERY_S = 5.0
TOTAL_RSS_LIMIT_MB = 1024.0
PARTITIONS = 2
# The producer keeps about this many lines waiting for the daemon, in chunks: enough that it
# never runs dry, few enough that the test's own memory and the broker's stay small.
CHUNK_LINES = 10_000
AHEAD_LINES = 30_000
# Resident memory the tagging process's caches may add per byte of their bound: the
# engine's estimate includes the allocator's rounding and counts objects its two caches
# share in both, which covers the fragmentation of caches that keep evicting; the factor
# leaves room without letting an unbounded cache pass.
RSS_PER_BOUND_BYTE = 1.2
# Besides the caches a tagging process grows by its largest batch's activations and the
# network's kernels for tile sizes its warm-up did not build.
CHILD_SLACK_MB = 128.0
# Once the caches are full (their gauge at this share of the bound), the tagging process
# may grow this much more over the last third: a plateau, not a slope.
FULL_SHARE = 0.9
PLATEAU_GROWTH_MB = 64.0


class Feeder:
    """A thread keeping about ``AHEAD_LINES`` new lines waiting in the input topic until stopped."""

    def __init__(self, kafka_io: Any, topic: str, consumed: Callable[[], float]) -> None:
        from logdelim.model.synth import generate

        self.pool = [row["line"] for row in generate(20_000, seed=SEED)]
        self.kafka_io, self.topic, self.consumed = kafka_io, topic, consumed
        self.produced = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-feeder", daemon=True)

    def lines(self, count: int) -> list[bytes]:
        """The next ``count`` lines: a pool line and a word of its own, so no two are alike to the caches."""
        pool = self.pool
        return [
            f"{pool[i % len(pool)]} user={distinct_word(i)}".encode()
            for i in range(self.produced, self.produced + count)
        ]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self.produced - self.consumed() < AHEAD_LINES:
                    self.kafka_io.produce(self.topic, self.lines(CHUNK_LINES))
                    self.produced += CHUNK_LINES
                else:
                    self._stop.wait(0.5)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test body
            self.error = exc


def sample(daemon: Any, started: float) -> dict[str, Any]:
    """The daemon's and its descendants' resident memory (MiB), with its progress and cache gauge."""
    pid = daemon.process.pid
    children = {child: rss_mb(child) for child in descendants(pid)}
    tagging = [child for child in children if is_tagging_process(child)]
    parent = rss_mb(pid)
    return {
        "t_s": round(time.monotonic() - started, 1),
        "daemon_mb": round(parent, 1),
        "tagging_mb": round(sum(children[c] for c in tagging), 1),
        "others_mb": round(sum(mb for c, mb in children.items() if c not in tagging), 1),
        "total_mb": round(parent + sum(children.values()), 1),
        "tagging_pids": tagging,
        "consumed": int(daemon.metric("logdelim_lines_consumed_total")),
        "cache_bytes": int(daemon.metric("logdelim_cache_bytes")),
    }


def test_memory_stays_bounded_under_ever_new_lines(
    make_topic, kafka_io, unique_name, start_daemon, tmp_path: Path
) -> None:
    bound_bytes = ModelConfig().cache_max_bytes  # the default the daemon runs with
    bound_mb = bound_bytes / 2**20
    source, output, dead = (
        make_topic("soak-in", PARTITIONS),
        make_topic("soak-out", PARTITIONS),
        make_topic("soak-dead"),
    )
    daemon = start_daemon(
        input_topics=[source], output_topic=output, dead_letter_topic=dead, group_id=unique_name("soak")
    )
    feeder = Feeder(kafka_io, source, lambda: daemon.metric("logdelim_lines_consumed_total"))
    started = time.monotonic()
    at_start = sample(daemon, started)
    assert at_start["tagging_pids"], f"no tagging process below the daemon: {at_start}"
    series = [at_start]
    series_path = tmp_path / "rss-series.jsonl"
    feeder.start()
    try:
        with series_path.open("w", encoding="utf-8") as out:
            out.write(json.dumps(at_start) + "\n")
            while time.monotonic() - started < SOAK_S:
                time.sleep(SAMPLE_EVERY_S)
                assert daemon.process.poll() is None, f"daemon exited:\n{daemon.log()}"
                assert feeder.error is None, feeder.error
                series.append(sample(daemon, started))
                out.write(json.dumps(series[-1]) + "\n")
                out.flush()
    finally:
        feeder.stop()
    restarts = daemon.metric("logdelim_tagging_process_restarts_total")
    rc, _ = daemon.stop()

    third = len(series) // 3
    before_last, last = series[: len(series) - third], series[len(series) - third :]
    tagging_start = at_start["tagging_mb"]
    plateau_mb = tagging_start + RSS_PER_BOUND_BYTE * bound_mb + CHILD_SLACK_MB
    full_at_two_thirds = before_last[-1]["cache_bytes"] >= FULL_SHARE * bound_bytes
    growth_mb = max(s["tagging_mb"] for s in last) - max(s["tagging_mb"] for s in before_last)
    consumed = series[-1]["consumed"]
    figures = {
        "soak_s": SOAK_S,
        "cache_max_bytes": bound_bytes,
        "lines_consumed": consumed,
        "lines_per_s": round(consumed / (series[-1]["t_s"] or 1.0)),
        "daemon_start_mb": at_start["daemon_mb"],
        "daemon_peak_mb": max(s["daemon_mb"] for s in series),
        "tagging_start_mb": tagging_start,
        "tagging_peak_mb": max(s["tagging_mb"] for s in series),
        "tagging_last_third_max_mb": max(s["tagging_mb"] for s in last),
        "tagging_plateau_bound_mb": round(plateau_mb),
        "tagging_last_third_growth_mb": round(growth_mb, 1),
        "total_peak_mb": max(s["total_mb"] for s in series),
        "total_limit_mb": TOTAL_RSS_LIMIT_MB,
        "cache_bytes_last": series[-1]["cache_bytes"],
        "tagging_restarts": int(restarts),
        "series": str(series_path),
    }
    record_figures("memory_soak", **figures)
    print(
        f"memory soak: {consumed:,} lines in {series[-1]['t_s']:.0f} s; whole daemon peak "
        f"{figures['total_peak_mb']:.0f} MiB (limit {TOTAL_RSS_LIMIT_MB:.0f}); daemon {at_start['daemon_mb']:.0f} -> "
        f"{figures['daemon_peak_mb']:.0f} MiB; tagging process {tagging_start:.0f} -> {figures['tagging_peak_mb']:.0f} "
        f"MiB (bound-implied plateau {plateau_mb:.0f}, last-third growth {growth_mb:+.0f}); cache gauge "
        f"{series[-1]['cache_bytes'] / 2**20:.0f} of {bound_mb:.0f} MiB; series in {series_path}"
    )

    assert rc == 0, daemon.log()
    assert restarts == 0, f"the tagging process was replaced {restarts:.0f} times (killed for memory?)"
    assert last[-1]["consumed"] > last[0]["consumed"], "the daemon kept reading new lines to the end"
    over = [s for s in series if s["total_mb"] > TOTAL_RSS_LIMIT_MB]
    assert not over, f"the daemon and its processes held more than {TOTAL_RSS_LIMIT_MB:.0f} MiB: {over[:3]}"
    assert figures["tagging_last_third_max_mb"] <= plateau_mb, (
        f"tagging process at {figures['tagging_last_third_max_mb']:.0f} MiB in the last third, above its start "
        f"{tagging_start:.0f} MiB + {RSS_PER_BOUND_BYTE} x {bound_mb:.0f} MiB bound + {CHILD_SLACK_MB:.0f} MiB"
    )
    if series[-1]["cache_bytes"]:  # the gauge is exported: the caches keep to their bound
        assert max(s["cache_bytes"] for s in series) <= bound_bytes
    if full_at_two_thirds:
        assert growth_mb <= PLATEAU_GROWTH_MB, f"the tagging process grew {growth_mb:.0f} MiB with its caches full"
