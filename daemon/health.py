"""How the daemon is doing: liveness of its event loop (``/healthz``) and readiness of its pipeline (``/readyz``).

Liveness (:class:`LoopHeartbeat`): a process that is alive but whose event loop is
stuck (a blocking call on the loop, a deadlock) fetches, commits and heartbeats
nothing. A task stamps the time every ``interval_s``; the HTTP server's threads
compare that stamp with the clock, so a loop that has not run the task for
``stall_s`` answers 503 and the liveness probe restarts the pod.

Readiness (:class:`PipelineHealth`) means making progress: partitions assigned,
broker reachable, not rebalancing or stopping, and no tagging call unanswered for
longer than ``tagger_stall_s`` (a stuck tagger takes the pod out of service while
it is replaced; see ``tagging``). The pipeline's components report the events it
is made of; once a second its monitor checks that the broker answers and, while
it does, refreshes the consumer-lag gauges.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from logdelim.daemon.lag import HighWatermarkProbe
from logdelim.daemon.metrics import Metrics

# The pipeline's components log as one logger, the name operators' log filters know.
logger = logging.getLogger("logdelim.daemon.pipeline")

HEARTBEAT_INTERVAL_S = 0.5
MONITOR_INTERVAL_S = 1.0
# A metadata request slower than this marks the broker unreachable (/readyz turns 503).
BROKER_PROBE_TIMEOUT_S = 2.0


class LoopHeartbeat:
    """The event loop's sign of life.

    Args:
        stall_s: how long without a beat before :meth:`alive` says no.
        interval_s: how often :meth:`run` beats.
    """

    def __init__(self, stall_s: float, interval_s: float = HEARTBEAT_INTERVAL_S) -> None:
        self.stall_s = stall_s
        self.interval_s = interval_s
        self._last_beat = time.monotonic()

    async def run(self) -> None:
        """Beat until cancelled (run as a task on the loop being watched)."""
        while True:
            self._last_beat = time.monotonic()
            await asyncio.sleep(self.interval_s)

    def since_last_beat_s(self) -> float:
        """Seconds since the loop last ran the heartbeat task."""
        return time.monotonic() - self._last_beat

    def alive(self) -> bool:
        """False once the loop has not beaten for ``stall_s`` (safe to call from any thread)."""
        return self.since_last_beat_s() <= self.stall_s


class PipelineHealth:
    """Whether the pipeline makes progress (:meth:`is_ready`), and the consumer-lag gauges.

    ``ready`` follows events: the committer reports rebalances and assignments, the
    pipeline its stop, the monitor (:meth:`run`) the broker's answers. :meth:`is_ready`
    adds the tagging calls' progress (:meth:`tagging_call`), and is what the HTTP
    server's threads and the ``logdelim_ready`` gauge call.

    Args:
        consumer: the pipeline's consumer (asked for metadata, positions and watermarks).
        metrics: the ready, oldest-tagging-call and lag gauges.
        lag_probe: watermarks of paused partitions, which the consumer does not fetch (None: none).
        tagger_stall_s: a tagging call unanswered this long makes the pipeline not ready.
    """

    def __init__(
        self, consumer: Any, metrics: Metrics, lag_probe: HighWatermarkProbe | None, *, tagger_stall_s: float
    ) -> None:
        self.consumer = consumer
        self.metrics = metrics
        self.lag_probe = lag_probe
        self.tagger_stall_s = tagger_stall_s
        self.rebalancing = False
        self._assigned = False
        self._broker_reachable = True
        self._stopping = False
        # Start times of the tagging calls not answered yet (several run at once).
        self._tagging_since: dict[int, float] = {}
        self._tag_calls = itertools.count(1)  # next() on it is atomic: tagging threads call it at once
        self._lag_reported: set[TopicPartition] = set()
        metrics.ready.set_function(lambda: 1.0 if self.is_ready() else 0.0)
        metrics.oldest_tagging_age.set_function(self.oldest_tagging_age_s)

    # ------------------------------------------------------------------ events

    def rebalance_started(self) -> None:
        """The group rebalances: not ready (nor committing, nor measuring lag) until the next assignment."""
        self.rebalancing = True

    def assignment(self, assigned: set[TopicPartition]) -> None:
        """The rebalance ended with ``assigned`` (empty: nothing to consume, not ready)."""
        self.rebalancing = False
        self._assigned = bool(assigned)

    def revoked(self, revoked: Iterable[TopicPartition]) -> None:
        """Drop the lag series of partitions this member lost."""
        for tp in revoked:
            if tp in self._lag_reported:
                self._lag_reported.discard(tp)
                self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))

    def stopping(self) -> None:
        """The pipeline drains: not ready any more."""
        self._stopping = True

    @contextlib.contextmanager
    def tagging_call(self) -> Iterator[None]:
        """Time one tagging call while it is unanswered (from the tagging threads, several at once)."""
        call = next(self._tag_calls)
        self._tagging_since[call] = time.monotonic()
        try:
            yield
        finally:
            del self._tagging_since[call]

    # ------------------------------------------------------------------ readiness

    @property
    def ready(self) -> bool:
        """Ready as far as events tell: consuming an assignment, broker reachable, not rebalancing, not stopping."""
        return self._assigned and self._broker_reachable and not self.rebalancing and not self._stopping

    def oldest_tagging_age_s(self) -> float:
        """Seconds the oldest unanswered tagging call has waited (0.0 when none is)."""
        started = min(tuple(self._tagging_since.values()), default=None)  # a copy: the loop adds and removes
        return 0.0 if started is None else max(0.0, time.monotonic() - started)

    def is_ready(self) -> bool:
        """Ready and making progress (called from the HTTP server's threads too)."""
        return self.ready and self.oldest_tagging_age_s() <= self.tagger_stall_s

    # ------------------------------------------------------------------ monitor

    async def run(self) -> None:
        """Once a second until cancelled: is the broker reachable (for /readyz), and how far behind are we."""
        while True:
            await asyncio.sleep(MONITOR_INTERVAL_S)
            await self._probe_broker()
            if not self.rebalancing and self._broker_reachable:
                await self._refresh_lag()

    async def _probe_broker(self) -> None:
        try:
            await asyncio.wait_for(self.consumer.topics(), BROKER_PROBE_TIMEOUT_S)
            reachable = True
        except (asyncio.TimeoutError, KafkaError) as exc:
            reachable = False
            if self._broker_reachable:
                logger.warning("broker unreachable (%r): not ready until it answers again", exc)
        if reachable and not self._broker_reachable:
            logger.info("broker reachable again")
        self._broker_reachable = reachable

    async def _refresh_lag(self) -> None:
        """Lag from fetch high watermarks (Tansu's ListOffsets under-reports the log end).

        Paused partitions are not fetched, so their watermark comes from the probe.
        """
        positions = {}
        for tp in self.consumer.assignment():
            try:
                positions[tp] = await asyncio.wait_for(self.consumer.position(tp), timeout=1.0)
            except (asyncio.TimeoutError, KafkaError, AssertionError, ValueError):
                continue
        paused = {tp: p for tp, p in positions.items() if tp in self.consumer.paused()}
        probed = {}
        if paused and self.lag_probe is not None:
            try:
                probed = await self.lag_probe.highwaters(paused)
            except KafkaError as exc:
                logger.debug("high watermark probe failed: %r", exc)
        for tp, position in positions.items():
            highwater = probed.get(tp, self.consumer.highwater(tp))
            if highwater is None:
                continue
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, highwater - position))
            self._lag_reported.add(tp)
