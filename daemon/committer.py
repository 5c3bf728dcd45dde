"""The pipeline's committer: offset commits, and the consumer group's rebalances.

Commits the acknowledged prefix of each partition (``offsets``) every
``commit_interval_ms``; at the in-flight bound, as soon as something is
acknowledged, since only commits let fetching go on then. A failed commit is
retried at the next interval.

Rebalances come through aiokafka's listener (:meth:`Committer.listener`): a
partition this member loses is finished first (its queued lines tagged, sent and
acknowledged, up to ``drain_timeout_s``) and committed, so its next owner starts
where this one stopped; a new assignment starts with fresh offset state (positions
come from the committed offsets). Between the two no commit is taken.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from logdelim.daemon.health import PipelineHealth
from logdelim.daemon.intake import Intake
from logdelim.daemon.metrics import Metrics
from logdelim.daemon.offsets import OffsetTracker

# The pipeline's components log as one logger, the name operators' log filters know.
logger = logging.getLogger("logdelim.daemon.pipeline")


def _named(partitions: Iterable[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)


def _named_offsets(offsets: dict[Any, int]) -> dict[str, int]:
    return {f"{tp.topic}[{tp.partition}]": offset for tp, offset in offsets.items()}


class Committer:
    """Commits what was acknowledged, and keeps the offset state in step with the assignment.

    Args:
        consumer: the pipeline's consumer (commits, assignment).
        tracker: the offsets of the lines in flight, shared with the intake.
        intake: flushed on revocation, told of assignments; its backpressure speeds commits up.
        health: told of rebalances and assignments; no commit while it says rebalancing.
        acked: set by each acknowledgement (the emitter's).
        metrics: the lines-in-flight gauge.
        commit_interval_ms: the commit cadence.
        drain_timeout_s: how long a revoked partition's lines may take to be acknowledged.
    """

    def __init__(
        self,
        consumer: Any,
        tracker: OffsetTracker,
        intake: Intake,
        health: PipelineHealth,
        acked: asyncio.Event,
        metrics: Metrics,
        *,
        commit_interval_ms: int,
        drain_timeout_s: float,
    ) -> None:
        self.consumer = consumer
        self.tracker = tracker
        self.intake = intake
        self.health = health
        self.acked = acked
        self.metrics = metrics
        self.commit_interval_s = commit_interval_ms / 1000
        self.drain_timeout_s = drain_timeout_s

    def listener(self) -> ConsumerRebalanceListener:
        """The rebalance listener to subscribe with."""
        return _Rebalance(self)

    async def run(self) -> None:
        """Commit at the cadence until cancelled."""
        while True:
            if self.intake.backpressure:
                # At the in-flight bound only commits let fetching go on: commit as soon as
                # something is acknowledged rather than waiting out the interval.
                self.acked.clear()
                try:
                    await asyncio.wait_for(self.acked.wait(), self.commit_interval_s)
                except asyncio.TimeoutError:
                    pass
            else:
                await asyncio.sleep(self.commit_interval_s)
            if not self.health.rebalancing:
                await self.commit(self.consumer.assignment())
            self.metrics.lines_in_flight.set(self.tracker.in_flight)

    async def commit(self, partitions: Any) -> None:
        """Commit the acknowledged prefix of ``partitions`` that moved since the last commit."""
        offsets = self.tracker.to_commit(partitions)
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:
            logger.warning("commit of %s failed: %r (retried at the next interval)", _named_offsets(offsets), exc)
            return
        self.tracker.committed(offsets)
        logger.debug("committed %s", _named_offsets(offsets))
        if self.intake.backpressure:
            self.intake.apply_backpressure()  # commits are what bring in-flight lines down

    async def wait_acked(self, partitions: Any, deadline: float) -> None:
        """Wait until ``partitions`` (None: all) have nothing unacknowledged, or until ``deadline``."""
        while self.tracker.pending(partitions) > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.warning("drain deadline passed with %d lines unacknowledged", self.tracker.pending(partitions))
                return
            self.acked.clear()
            try:
                await asyncio.wait_for(self.acked.wait(), timeout=min(remaining, 0.1))
            except asyncio.TimeoutError:
                pass

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Finish and commit the lines of partitions this member loses."""
        self.health.rebalance_started()
        if not revoked:
            return
        self.intake.batcher.flush()
        await self.wait_acked(revoked, time.monotonic() + self.drain_timeout_s)
        await self.commit(revoked)
        for tp in revoked:
            self.tracker.forget(tp)
        self.intake.revoked(revoked)
        self.health.revoked(revoked)
        logger.info("revoked %s", _named(revoked))

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Start the new assignment with fresh offset state (positions come from the committed offsets)."""
        for tp in assigned:
            self.tracker.forget(tp)
        self.intake.assigned(assigned)
        self.health.assignment(assigned)
        logger.info("assigned %s", _named(assigned))


class _Rebalance(ConsumerRebalanceListener):
    """aiokafka's hook into :meth:`Committer.on_revoked` / :meth:`Committer.on_assigned`."""

    def __init__(self, committer: Committer) -> None:
        self.committer = committer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.committer.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.committer.on_assigned(set(assigned))
