"""The pipeline's intake: fetch, decode, register offsets, queue for tagging; and flow control.

``getmany`` -> decode each message (``inputs``: a raw line, or the string at a
field of a JSON event) -> register its offset (``offsets``) -> queue it in the
micro-batcher. Everything after ``getmany`` returns is synchronous, so a
rebalance never sees a half-registered fetch.

The intake alone pauses and resumes the consumer's partitions:

- backpressure: when the lines in flight (fetched, not yet committed) reach the
  bound, every partition is paused, and resumed once half of them are committed;
  so the bound caps memory and what a crash makes the next owner process twice;
- held partitions: a partition with a record the emitter gave up on stays paused
  until it is revoked (a restart or the next owner retries the record).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from logdelim.daemon import inputs
from logdelim.daemon.batcher import MicroBatcher
from logdelim.daemon.metrics import Metrics
from logdelim.daemon.offsets import OffsetTracker, PartitionOffsets
from logdelim.daemon.records import Source, message_source

# The pipeline's components log as one logger, the name operators' log filters know.
logger = logging.getLogger("logdelim.daemon.pipeline")

# getmany's wait when nothing is buffered: short, so stopping and pausing react quickly.
FETCH_POLL_MS = 100
FETCH_ERROR_BACKOFF_S = 1.0


class Pending(NamedTuple):
    """A fetched message on its way to a record or dead letter."""

    source: Source
    state: PartitionOffsets
    line: str | inputs.Rejection
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    # The input message's key (output.key input keeps it on the record).
    key: bytes | None = None
    # output.mode enrich: the JSON event's text the annotation is spliced into (inputs.enrichable).
    event: bytes | None = None


class Intake:
    """Fetches the consumer's messages into :attr:`batcher` and keeps the lines in flight bounded.

    Args:
        consumer: the pipeline's subscribed ``AIOKafkaConsumer``.
        tracker: the offsets of the lines in flight, shared with the committer.
        metrics: where to count.
        input_topics: the topics whose series exist from the start (a pattern's come with their assignment).
        max_lines: the micro-batch size (also the most a fetch returns).
        max_wait_ms: the micro-batch deadline.
        max_in_flight_lines: the backpressure bound.
        max_line_bytes: a longer value is a dead letter.
        json_input: the value is a JSON event whose ``input_field`` holds the line.
        input_field: the dotted path of the line in a JSON event.
        enrich_key: output.mode enrich: the key the annotation goes under (None: records, the event is not kept).
    """

    def __init__(
        self,
        consumer: Any,
        tracker: OffsetTracker,
        metrics: Metrics,
        *,
        input_topics: Sequence[str],
        max_lines: int,
        max_wait_ms: int,
        max_in_flight_lines: int,
        max_line_bytes: int,
        json_input: bool,
        input_field: str,
        enrich_key: str | None,
    ) -> None:
        self.consumer = consumer
        self.tracker = tracker
        self.metrics = metrics
        self.max_lines = max_lines
        self.max_in_flight_lines = max_in_flight_lines
        self.max_line_bytes = max_line_bytes
        self.json_input = json_input
        self._field_path = tuple(input_field.split("."))
        self.enrich_key = enrich_key
        self.batcher: MicroBatcher[Pending] = MicroBatcher(max_lines, max_wait_ms)
        self.backpressure = False
        # Partitions held paused until revoked: a record of theirs was given up on.
        self._held: set[TopicPartition] = set()
        # Labelled series looked up once (a .labels() call per record costs more than the
        # increment); creating them here also exports every topic at 0 from the start, so rates
        # and dashboard panels have data before the first line. With a pattern the topics are
        # known only once assigned: their series start then.
        self._lines_consumed = {topic: metrics.lines_consumed.labels(topic) for topic in input_topics}

    async def run(self) -> None:
        """Fetch until cancelled (cancelling interrupts only ``getmany``: what it has not returned stays unfetched)."""
        while True:
            try:
                # Never fetch past the in-flight bound (it also bounds duplicates after a crash);
                # at the bound every partition is paused and getmany returns nothing.
                room = self.max_in_flight_lines - self.tracker.in_flight
                batches = await self.consumer.getmany(
                    timeout_ms=FETCH_POLL_MS, max_records=max(1, min(self.max_lines, room))
                )
            except KafkaError as exc:
                # Broker hiccups (lost coordinator, disconnects) heal with retries; keep the process up.
                logger.warning("fetch failed: %r; retrying in %.1f s", exc, FETCH_ERROR_BACKOFF_S)
                await asyncio.sleep(FETCH_ERROR_BACKOFF_S)
                continue
            for tp, messages in batches.items():
                self._accept(tp, messages)
            if batches:
                self.apply_backpressure()

    def _accept(self, tp: TopicPartition, messages: Sequence[Any]) -> None:
        """Register and queue fetched messages (synchronous on purpose; see module doc)."""
        state = self.tracker.partition(tp)
        for message in messages:
            state.add(message.offset)
            value = message.value
            if self.json_input:
                line, event = self._decode_event(value)
            else:
                line, event = inputs.decode(value, self.max_line_bytes), None
            self.batcher.add(
                Pending(
                    message_source(tp.topic, tp.partition, message.offset, message.timestamp),
                    state,
                    line,
                    value,
                    tuple(message.headers or ()),
                    message.key,
                    event,
                )
            )
        self._consumed(tp.topic).inc(len(messages))

    def _decode_event(self, value: bytes | None) -> tuple[str | inputs.Rejection, bytes | None]:
        """A JSON event's line, and (enriching) the event text the annotation goes into."""
        decoded = inputs.decode_event(value, self.max_line_bytes, self._field_path)
        if isinstance(decoded, inputs.Rejection):
            return decoded, None
        line, event = decoded
        # A record needs only the line; only enriching keeps the event (its bytes, no copy).
        # (value is never None here: decode_event rejects null values.)
        if self.enrich_key is None or value is None:
            return line, None
        return line, inputs.enrichable(value, event, self.enrich_key)

    def _consumed(self, topic: str) -> Any:
        """The lines-consumed counter of ``topic``, created the first time a pattern brings it in."""
        counter = self._lines_consumed.get(topic)
        if counter is None:
            counter = self._lines_consumed[topic] = self.metrics.lines_consumed.labels(topic)
        return counter

    def apply_backpressure(self) -> None:
        """Pause every partition at the in-flight bound; resume (all but the held) at half of it."""
        in_flight = self.tracker.in_flight
        self.metrics.lines_in_flight.set(in_flight)
        if not self.backpressure and in_flight >= self.max_in_flight_lines:
            self.backpressure = True
            self.consumer.pause(*self.consumer.assignment())
            logger.debug("backpressure: %d lines in flight, paused all partitions", in_flight)
        elif self.backpressure and in_flight <= self.max_in_flight_lines // 2:
            self.backpressure = False
            self.consumer.resume(*(self.consumer.assignment() - self._held))
            logger.debug("backpressure released at %d lines in flight", in_flight)
        self.metrics.paused_partitions.set(len(self.consumer.paused()))

    def hold(self, tp: TopicPartition) -> None:
        """Keep ``tp`` paused until it is revoked (the emitter gave up on a record of it)."""
        self._held.add(tp)
        if tp in self.consumer.assignment():
            self.consumer.pause(tp)
            self.metrics.paused_partitions.set(len(self.consumer.paused()))

    def assigned(self, assigned: set[TopicPartition]) -> None:
        """A new assignment: its topics' series exist from now; at the bound its partitions start paused."""
        for tp in assigned:
            self._consumed(tp.topic)  # a topic a pattern brought in exports its series from now
        if self.backpressure and assigned:
            self.consumer.pause(*assigned)
        self.metrics.paused_partitions.set(len(self.consumer.paused()))

    def revoked(self, revoked: Iterable[TopicPartition]) -> None:
        """Partitions this member lost are no longer held."""
        self._held.difference_update(revoked)
