"""The pipeline's emitter: records and dead letters to the producer, and their acknowledgements.

Each tagged batch becomes one record (or dead letter) per message. Records go in
producer batches, one per output partition (the partition of their source's
number): one future and acknowledgement callback per batch instead of per record,
since per-record sends were most of the event loop's work per line. Dead letters,
large records and records for a partition the output topic lacks go one by one.

The producer has one request in flight to a broker at a time and takes a
partition's next batch only once the one before it went out, so a batch handed
over per tagged batch made the tagging stage wait on every request. Instead each
partition's records collect in an open producer batch that a flusher task of that
partition hands over whenever the producer has room: while a request is out, the
next batch grows, and the tagging stage never waits on the broker.

Each acknowledgement marks its input offset done (``offsets``), which is what the
committer may commit. A record whose delivery fails is resent, alone, up to
``produce_retries`` times with a growing delay; after that it stays
unacknowledged, so commits of its partition stop before it (a restart retries
it), and its partition is held paused: logged with topic, partition and offset.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from logdelim.daemon import inputs
from logdelim.daemon.intake import Pending
from logdelim.daemon.metrics import Metrics
from logdelim.daemon.records import dead_letter_headers, fit_dead_letter, output_partition, record_key

# The pipeline's components log as one logger, the name operators' log filters know.
logger = logging.getLogger("logdelim.daemon.pipeline")

RETRY_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
# How long startup waits for an output topic's metadata before calling it missing.
TOPIC_METADATA_TIMEOUT_S = 15.0

Headers = list[tuple[str, bytes]]


class MissingTopicError(RuntimeError):
    """An output or dead-letter topic does not exist (the daemon does not create topics)."""


@dataclass
class _Outgoing:
    """One output partition's producer batches (with their records' messages), oldest first, and its flusher."""

    batches: deque[tuple[Any, list[tuple[Pending, bytes]]]]
    wake: asyncio.Event
    flusher: asyncio.Task


class Emitter:
    """Sends the output of tagged batches and turns acknowledgements into done offsets.

    Args:
        producer: a started ``AIOKafkaProducer`` (acks=all).
        metrics: where to count.
        output_topic: where records go.
        dead_letter_topic: where dead letters go (keyed by their source, always).
        max_message_bytes: the largest message the producer may send.
        produce_retries: resends of a message whose delivery failed before giving up on it.
        input_key: records keep the input message's key (``output.key: input``), not their source's.
        on_give_up: called with the input partition of a message given up on (the intake holds it paused).
    """

    def __init__(
        self,
        producer: Any,
        metrics: Metrics,
        *,
        output_topic: str,
        dead_letter_topic: str,
        max_message_bytes: int,
        produce_retries: int,
        input_key: bool,
        on_give_up: Callable[[TopicPartition], None],
    ) -> None:
        self.producer = producer
        self.metrics = metrics
        self.output_topic = output_topic
        self.dead_letter_topic = dead_letter_topic
        self.max_message_bytes = max_message_bytes
        self.produce_retries = produce_retries
        self.input_key = input_key
        self.on_give_up = on_give_up
        # Set by every acknowledgement (the committer waits on it).
        self.acked = asyncio.Event()
        self._partition_counts: dict[str, int] = {}
        self._retry_tasks: set[asyncio.Task] = set()
        # Per output partition: its producer batches waiting to go out and their flusher.
        self._outgoing: dict[int, _Outgoing] = {}
        # Looked up once, and exported at 0 from the start (as the intake's lines-consumed series).
        self._records_produced = metrics.records_produced.labels(output_topic)
        self._dead_letters = {reason: metrics.dead_letters.labels(reason) for reason in inputs.DEAD_LETTER_REASONS}
        self._produce_errors = {
            topic: metrics.produce_errors.labels(topic) for topic in (output_topic, dead_letter_topic)
        }

    async def start(self) -> None:
        """Learn the partition counts of the output and dead-letter topics.

        Raises:
            MissingTopicError: one has no metadata within ``TOPIC_METADATA_TIMEOUT_S``.
        """
        for topic in (self.output_topic, self.dead_letter_topic):
            try:
                partitions = await asyncio.wait_for(self.producer.partitions_for(topic), TOPIC_METADATA_TIMEOUT_S)
            except asyncio.TimeoutError:
                partitions = None
            if not partitions:
                raise MissingTopicError(
                    f"topic {topic!r} not found within {TOPIC_METADATA_TIMEOUT_S:.0f} s; create it first"
                )
            self._partition_counts[topic] = len(partitions)

    def cancel_retries(self) -> None:
        """Stop the resends still waiting and the flushers (the pipeline has stopped: what they
        hold stays uncommitted)."""
        for task in [*self._retry_tasks, *(out.flusher for out in self._outgoing.values())]:
            task.cancel()

    async def emit(self, batch: list[Pending], tagged: list[inputs.Encoded | inputs.Rejection]) -> None:
        """Send the record or dead letter of every message of ``batch`` (``tagged``: its lines' outcomes).

        Records go into their partition's open batch and out with its flusher: this
        waits only for dead letters and records sent one by one.
        """
        results = iter(tagged)
        touched: set[int] = set()
        confidences: list[float] = []
        partitions = self._partition_counts[self.output_topic]
        for pending in batch:
            if isinstance(pending.line, inputs.Rejection):
                await self._send_dead_letter(pending, pending.line)
                continue
            outcome = next(results)
            if isinstance(outcome, inputs.Rejection):
                await self._send_dead_letter(pending, outcome)
                continue
            if outcome.min_delimiter_confidence is not None:
                confidences.append(outcome.min_delimiter_confidence)
            value = outcome.value
            partition = output_partition(pending.source, partitions)
            # One by one: records for a partition the output topic lacks (the producer picks one
            # by key), and large ones, which the client checks against its request size (it
            # does not check records put in a batch).
            if partition is None or len(value) > self.max_message_bytes // 2:
                await self._send(self.output_topic, value, pending, list(pending.headers), reason=None)
                continue
            self._add(partition, pending, value)
            touched.add(partition)
        for partition in touched:
            self._outgoing[partition].wake.set()
        self.metrics.delimiter_confidence.observe_many(confidences)

    def _add(self, partition: int, pending: Pending, value: bytes) -> None:
        """Put a record in ``partition``'s newest batch, or in a new one when that is full or gone out."""
        key = pending.key if self.input_key else record_key(pending.source)
        out = self._outgoing.get(partition)
        if out is None:
            # The flusher starts once this returns, with the entry in place.
            flusher = asyncio.get_running_loop().create_task(self._flush(partition), name=f"flush-{partition}")
            out = self._outgoing[partition] = _Outgoing(deque(), asyncio.Event(), flusher)
        batches = out.batches
        if (
            not batches
            or batches[-1][0].append(key=key, value=value, timestamp=None, headers=list(pending.headers)) is None
        ):
            batches.append((self.producer.create_batch(), []))
            # A batch's first record always fits.
            batches[-1][0].append(key=key, value=value, timestamp=None, headers=list(pending.headers))
        batches[-1][1].append((pending, value))

    async def _flush(self, partition: int) -> None:
        """Hand ``partition``'s batches to the producer, oldest first, each once it has room (until cancelled).

        A batch leaves ``out.batches`` before it is handed over, so :meth:`_add` only ever
        appends to batches the producer does not have yet.
        """
        out = self._outgoing[partition]
        while True:
            await out.wake.wait()
            out.wake.clear()
            while out.batches:
                builder, items = out.batches.popleft()
                try:
                    await self._send_records(partition, builder, items)
                except Exception as exc:  # noqa: BLE001 - a flusher that died would hold its partition up
                    logger.exception("handing a batch of %d records to the producer failed", len(items))
                    self._records_failed(items, exc)

    async def _send_dead_letter(self, pending: Pending, rejection: inputs.Rejection) -> None:
        src = pending.source
        logger.warning(
            "dead letter %s for %s[%d]@%d: %s", rejection.reason, src.topic, src.partition, src.offset, rejection.detail
        )
        value, detail = fit_dead_letter(pending.value, rejection.detail, self.max_message_bytes)
        headers = dead_letter_headers(src, rejection.reason, detail, pending.headers)
        await self._send(self.dead_letter_topic, value, pending, headers, reason=rejection.reason)

    async def _send(
        self, topic: str, value: bytes | None, pending: Pending, headers: Headers, reason: str | None, attempt: int = 0
    ) -> None:
        """Hand one message to the producer; its acknowledgement (or failure) arrives in a callback."""
        source = pending.source
        partition = output_partition(source, self._partition_counts[topic])
        # Dead letters (a reason) keep the source key: it is how they are found again.
        key = pending.key if reason is None and self.input_key else record_key(source)
        try:
            future = await self.producer.send(topic, value, key=key, partition=partition, headers=headers)
        except (KafkaError, ValueError, AssertionError) as exc:
            self._failed(topic, value, pending, headers, reason, attempt, exc)
            return
        future.add_done_callback(lambda f: self._delivered(f, topic, value, pending, headers, reason, attempt))

    async def _send_records(self, partition: int, builder: Any, items: list[tuple[Pending, bytes]]) -> None:
        """Hand a producer batch of output records for ``partition`` over; a failed batch is
        resent record by record (the per-record retry and give-up rules apply from there)."""
        try:
            future = await self.producer.send_batch(builder, self.output_topic, partition=partition)
        except (KafkaError, ValueError, AssertionError) as exc:
            self._records_failed(items, exc)
            return
        future.add_done_callback(lambda f: self._records_delivered(f, items))

    def _records_delivered(self, future: asyncio.Future, items: list[tuple[Pending, bytes]]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self._records_failed(items, exc)
            return
        self._acknowledged([pending for pending, _ in items], None)

    def _records_failed(self, items: list[tuple[Pending, bytes]], exc: BaseException) -> None:
        for pending, value in items:
            self._failed(self.output_topic, value, pending, list(pending.headers), None, 0, exc)

    def _delivered(
        self,
        future: asyncio.Future,
        topic: str,
        value: bytes | None,
        pending: Pending,
        headers: Headers,
        reason: str | None,
        attempt: int,
    ) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self._failed(topic, value, pending, headers, reason, attempt, exc)
            return
        self._acknowledged((pending,), reason)

    def _acknowledged(self, acknowledged: Sequence[Pending], reason: str | None) -> None:
        """The broker has the records (``reason`` None) or dead letters of ``acknowledged``."""
        for pending in acknowledged:
            pending.state.ack(pending.source.offset)
        if reason is None:
            now_ms = time.time() * 1000
            self.metrics.end_to_end_seconds.observe_many(
                [
                    max(0.0, now_ms - p.source.timestamp_ms) / 1000
                    for p in acknowledged
                    if p.source.timestamp_ms is not None
                ]
            )
        (self._records_produced if reason is None else self._dead_letters[reason]).inc(len(acknowledged))
        self.acked.set()

    def _failed(
        self,
        topic: str,
        value: bytes | None,
        pending: Pending,
        headers: Headers,
        reason: str | None,
        attempt: int,
        exc: BaseException,
    ) -> None:
        src = pending.source
        self._produce_errors[topic].inc()
        if attempt < self.produce_retries:
            delay_s = RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)]
            logger.warning(
                "produce to %s failed for %s[%d]@%d (attempt %d): %r; retrying in %.1f s",
                topic,
                src.topic,
                src.partition,
                src.offset,
                attempt + 1,
                exc,
                delay_s,
            )
            task = asyncio.get_running_loop().create_task(
                self._resend(delay_s, topic, value, pending, headers, reason, attempt + 1)
            )
            self._retry_tasks.add(task)
            task.add_done_callback(self._retry_tasks.discard)
            return
        logger.error(
            "giving up on %s[%d]@%d after %d attempts (%r): partition paused, no commit past it",
            src.topic,
            src.partition,
            src.offset,
            attempt + 1,
            exc,
        )
        self.on_give_up(TopicPartition(src.topic, src.partition))

    async def _resend(
        self,
        delay_s: float,
        topic: str,
        value: bytes | None,
        pending: Pending,
        headers: Headers,
        reason: str | None,
        attempt: int,
    ) -> None:
        await asyncio.sleep(delay_s)
        await self._send(topic, value, pending, headers, reason, attempt)
