"""The streaming loop: fetch, micro-batch, tag off the event loop, produce, commit.

Four tasks share the event loop:

- fetch: ``getmany`` -> decode each message (``inputs``: a raw line, or the
  string at a field of a JSON event) -> register its offset
  (``offsets``) -> queue it in the micro-batcher. Everything after ``getmany``
  returns is synchronous, so a rebalance never sees a half-registered fetch.
  When the lines in flight (fetched, not yet committed) reach the bound, every
  partition is paused (backpressure) and resumed once half of them are
  committed; so the bound caps memory and what a crash makes the next owner
  process twice.
- tag: takes batches, runs ``encode`` (tagging and the records' JSON; in the
  tagging process by default, see ``tagging``) from tagging threads (so
  heartbeats, fetches and acknowledgements go on meanwhile; the next batches
  are encoded while this one is sent), sends one record or dead letter per message.
  Each acknowledgement marks its offset done.
- commit: commits the acknowledged prefix of each partition every
  ``commit_interval_ms``, and as soon as something is acknowledged while at the
  in-flight bound.
- monitor: once a second, checks the broker answers (readiness) and refreshes
  the lag gauges.

Ready (``/readyz``) means making progress: partitions assigned, broker reachable,
not rebalancing or stopping, and no tagging call unanswered for longer than
``tagger_stall_s`` (a stuck tagger takes the pod out of service while it is
replaced; see ``tagging``).

A record whose delivery fails is resent up to ``produce_retries`` times; after
that it stays unacknowledged, its partition is paused and commits stop before
it (so a restart retries it) -- it is logged with topic, partition and offset.

The clients are built and started by the composition root (``app``) and passed
in; this module never reads the configuration.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from logdelim.daemon import inputs
from logdelim.daemon.batcher import MicroBatcher
from logdelim.daemon.lag import HighWatermarkProbe
from logdelim.daemon.metrics import Metrics, TemplateTracker
from logdelim.daemon.offsets import OffsetTracker, PartitionOffsets
from logdelim.daemon.records import Source, dead_letter_headers, fit_dead_letter, record_key

logger = logging.getLogger(__name__)

# getmany's wait when nothing is buffered: short, so stopping and pausing react quickly.
FETCH_POLL_MS = 100
MONITOR_INTERVAL_S = 1.0
# A metadata request slower than this marks the broker unreachable (/readyz turns 503).
BROKER_PROBE_TIMEOUT_S = 2.0
FETCH_ERROR_BACKOFF_S = 1.0
# Stop budget: drain_timeout_s + this + two client stops of 1 s stay within 10 s.
FINAL_COMMIT_TIMEOUT_S = 1.5
RETRY_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
# How long startup waits for an output topic's metadata before calling it missing.
TOPIC_METADATA_TIMEOUT_S = 15.0


class MissingTopicError(RuntimeError):
    """An output or dead-letter topic does not exist (the daemon does not create topics)."""


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


class Pipeline:
    """One consumer-group member turning input messages into records.

    Args:
        consumer: a started ``AIOKafkaConsumer`` with a ``group_id`` and auto-commit off.
        producer: a started ``AIOKafkaProducer`` (acks=all).
        engine: an object with ``tag(lines)``, ``model_id``, ``cache_hits``, ``cache_misses``.
        metrics: where to count.
        input_topics: the topics to consume; empty when ``input_pattern`` is given.
        input_pattern: a regex: consume every topic whose name it matches (from the start of
            the name, as aiokafka's pattern subscription does) instead of ``input_topics``.
        input_format: ``raw`` (the value is the line) or ``json`` (the line is the string at
            ``input_field``, a dotted path into the JSON object the value holds).
        output_mode: ``record`` (one record per message, ``records.record_value``) or ``enrich``
            (the input JSON event with the annotation under ``enrich_key``; needs ``json``).
        output_key: ``source`` (records keyed ``topic:partition:offset``) or ``input`` (the input
            message's own key); dead letters are always keyed by their source.
        encode: tags and encodes a batch (default: ``inputs.encode_messages`` on ``engine``): called
            with ``(lines, sources)``, plus ``(events, enrich_key, input_field)`` when enriching.
        encode_workers: threads calling ``encode``, so as many batches are tagged at once: more
            than one only for an ``encode`` that several threads may call and that answers them in order
            (the tagging process).
        max_tracked_templates: template ids remembered to count new templates (``TemplateTracker``).
        tagger_stall_s: a tagging call unanswered this long makes the pipeline not ready.
    """

    def __init__(self, consumer: Any, producer: Any, engine: Any, metrics: Metrics, *,
                 input_topics: Sequence[str], input_pattern: str | None, output_topic: str,
                 dead_letter_topic: str, input_format: str, input_field: str, output_mode: str, output_key: str,
                 enrich_key: str, max_lines: int, max_wait_ms: int, max_in_flight_lines: int,
                 max_line_bytes: int, max_message_bytes: int, commit_interval_ms: int, produce_retries: int,
                 drain_timeout_s: float, lag_probe: HighWatermarkProbe | None = None,
                 encode: Callable[..., list[inputs.Encoded | inputs.Rejection]] | None = None,
                 encode_workers: int = 1, max_tracked_templates: int, tagger_stall_s: float) -> None:
        for name, value, allowed in (("input_format", input_format, (inputs.RAW, inputs.JSON)),
                                     ("output_mode", output_mode, (inputs.RECORD, inputs.ENRICH)),
                                     ("output_key", output_key, (inputs.SOURCE_KEY, inputs.INPUT_KEY))):
            if value not in allowed:
                raise ValueError(f"{name} {value!r} is not one of {', '.join(allowed)}")
        if output_mode == inputs.ENRICH and input_format != inputs.JSON:
            raise ValueError("output_mode enrich needs input_format json")
        if input_pattern is not None and any(re.match(input_pattern, t) for t in (output_topic, dead_letter_topic)):
            # Our own output read back as input would loop for ever.
            raise ValueError(f"input pattern {input_pattern!r} matches the output or dead-letter topic")
        self.consumer = consumer
        # What the tagging thread runs per batch: the engine here, or a tagging process's call.
        self.encode = encode or functools.partial(inputs.encode_messages, engine)
        self.lag_probe = lag_probe
        self.producer = producer
        self.engine = engine
        self.metrics = metrics
        self.input_topics = list(input_topics)
        self.input_pattern = input_pattern
        self.input_format = input_format
        self.input_field = input_field
        self._field_path = tuple(input_field.split("."))
        self.enrich_key = enrich_key
        self._enrich = output_mode == inputs.ENRICH
        self._input_key = output_key == inputs.INPUT_KEY
        self.output_topic = output_topic
        self.dead_letter_topic = dead_letter_topic
        self.max_lines = max_lines
        self.max_in_flight_lines = max_in_flight_lines
        self.max_line_bytes = max_line_bytes
        self.max_message_bytes = max_message_bytes
        self.commit_interval_s = commit_interval_ms / 1000
        self.produce_retries = produce_retries
        self.drain_timeout_s = drain_timeout_s
        self.tagger_stall_s = tagger_stall_s
        self.templates = TemplateTracker(metrics, max_tracked_templates)

        # Labelled series looked up once (a .labels() call per record costs more than the
        # increment); creating them here also exports every topic and reason at 0 from the
        # start, so rates and dashboard panels have data before the first line or failure.
        # With a pattern the topics are known only once assigned: their series start then.
        self._lines_consumed = {topic: metrics.lines_consumed.labels(topic) for topic in self.input_topics}
        self._records_produced = metrics.records_produced.labels(output_topic)
        self._dead_letters = {reason: metrics.dead_letters.labels(reason) for reason in inputs.DEAD_LETTER_REASONS}
        self._produce_errors = {topic: metrics.produce_errors.labels(topic)
                                for topic in (output_topic, dead_letter_topic)}

        self.batcher: MicroBatcher[Pending] = MicroBatcher(max_lines, max_wait_ms)
        self.tracker = OffsetTracker()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=encode_workers, thread_name_prefix="tagger")
        self._partition_counts: dict[str, int] = {}
        self._backpressure = False
        self._stuck: set[TopicPartition] = set()
        self._lag_reported: set[TopicPartition] = set()
        self._retry_tasks: set[asyncio.Task] = set()
        self._acked = asyncio.Event()
        self._stop = asyncio.Event()
        self._rebalancing = False
        self._assigned = False
        self._broker_reachable = True
        self.ready = False  # from events (assignment, broker, stop); is_ready() adds the tagger's progress
        # Start times of the tagging calls not answered yet (several run at once).
        self._tagging_since: dict[int, float] = {}
        self._tag_calls = 0
        metrics.ready.set_function(lambda: 1.0 if self.is_ready() else 0.0)
        metrics.oldest_tagging_age.set_function(self.oldest_tagging_age_s)

    # ------------------------------------------------------------------ lifecycle

    def request_stop(self) -> None:
        """Ask :meth:`run` to stop fetching, drain, commit and return (signal handlers call this)."""
        if not self._stop.is_set():
            logger.info("stop requested: draining")
        self._stop.set()
        self._update_ready()

    async def run(self) -> None:
        """Consume until :meth:`request_stop`; then drain, commit and return."""
        for topic in (self.output_topic, self.dead_letter_topic):
            self._partition_counts[topic] = await self._partitions_of(topic)
        if self.input_pattern is not None:
            logger.info("subscribing to the topics matching %r", self.input_pattern)
            self.consumer.subscribe(pattern=self.input_pattern, listener=_Rebalance(self))
        else:
            self.consumer.subscribe(topics=self.input_topics, listener=_Rebalance(self))
        fetch = asyncio.create_task(self._fetch_loop(), name="fetch")
        tag = asyncio.create_task(self._tag_loop(), name="tag")
        committer = asyncio.create_task(self._commit_loop(), name="commit")
        monitor = asyncio.create_task(self._monitor_loop(), name="monitor")
        stop = asyncio.create_task(self._stop.wait(), name="stop")
        background = (fetch, committer, monitor, stop)
        try:
            done, _ = await asyncio.wait({*background, tag}, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stop}:
                task.result()  # a loop that ended on its own crashed: raise its error
        finally:
            self._update_ready()
            # Cancelling the fetch task interrupts only getmany: records it has not returned stay unfetched.
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            self.batcher.close()
            deadline = time.monotonic() + self.drain_timeout_s
            try:
                await asyncio.wait_for(tag, timeout=max(0.1, deadline - time.monotonic()))
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - still commit what was delivered
                logger.exception("tagging did not finish while draining")
            await self._wait_acked(None, deadline)
            try:
                await asyncio.wait_for(self._commit(self.consumer.assignment()), FINAL_COMMIT_TIMEOUT_S)
            except asyncio.TimeoutError:
                logger.error("final commit timed out after %.1f s", FINAL_COMMIT_TIMEOUT_S)
            for retry in list(self._retry_tasks):
                retry.cancel()
            self._executor.shutdown(wait=False, cancel_futures=True)
            logger.info("drained; %d lines left unacknowledged", self.tracker.pending())

    async def _partitions_of(self, topic: str) -> int:
        try:
            partitions = await asyncio.wait_for(self.producer.partitions_for(topic), TOPIC_METADATA_TIMEOUT_S)
        except asyncio.TimeoutError:
            partitions = None
        if not partitions:
            raise MissingTopicError(f"topic {topic!r} not found within {TOPIC_METADATA_TIMEOUT_S:.0f} s; create it first")
        return len(partitions)

    def _update_ready(self) -> None:
        """Ready as far as events tell: consuming an assignment, broker reachable, not rebalancing, not stopping."""
        self.ready = (self._assigned and self._broker_reachable and not self._rebalancing
                      and not self._stop.is_set())

    def oldest_tagging_age_s(self) -> float:
        """Seconds the oldest unanswered tagging call has waited (0.0 when none is)."""
        started = min(tuple(self._tagging_since.values()), default=None)  # a copy: the loop adds and removes
        return 0.0 if started is None else max(0.0, time.monotonic() - started)

    def is_ready(self) -> bool:
        """Ready and making progress (called from the HTTP server's threads too)."""
        return self.ready and self.oldest_tagging_age_s() <= self.tagger_stall_s

    # ------------------------------------------------------------------ fetch

    async def _fetch_loop(self) -> None:
        while True:
            try:
                # Never fetch past the in-flight bound (it also bounds duplicates after a crash);
                # at the bound every partition is paused and getmany returns nothing.
                room = self.max_in_flight_lines - self.tracker.in_flight
                batches = await self.consumer.getmany(timeout_ms=FETCH_POLL_MS,
                                                      max_records=max(1, min(self.max_lines, room)))
            except KafkaError as exc:
                # Broker hiccups (lost coordinator, disconnects) heal with retries; keep the process up.
                logger.warning("fetch failed: %r; retrying in %.1f s", exc, FETCH_ERROR_BACKOFF_S)
                await asyncio.sleep(FETCH_ERROR_BACKOFF_S)
                continue
            for tp, messages in batches.items():
                self._accept(tp, messages)
            if batches:
                self._apply_backpressure()

    def _accept(self, tp: TopicPartition, messages: Sequence[Any]) -> None:
        """Register and queue fetched messages (synchronous on purpose; see module doc)."""
        state = self.tracker.partition(tp)
        json_input = self.input_format == inputs.JSON
        for message in messages:
            state.add(message.offset)
            timestamp = message.timestamp if message.timestamp is not None and message.timestamp >= 0 else None
            value = message.value
            if json_input:
                line, event = self._decode_event(value)
            else:
                line, event = inputs.decode(value, self.max_line_bytes), None
            self.batcher.add(Pending(
                Source(tp.topic, tp.partition, message.offset, timestamp), state, line, value,
                tuple(message.headers or ()), message.key, event))
        self._consumed(tp.topic).inc(len(messages))

    def _decode_event(self, value: bytes | None) -> tuple[str | inputs.Rejection, bytes | None]:
        """A JSON event's line, and (enriching) the event text the annotation goes into."""
        decoded = inputs.decode_event(value, self.max_line_bytes, self._field_path)
        if isinstance(decoded, inputs.Rejection):
            return decoded, None
        line, event = decoded
        # A record needs only the line; only enriching keeps the event (its bytes, no copy).
        # (value is never None here: decode_event rejects null values.)
        if not self._enrich or value is None:
            return line, None
        return line, inputs.enrichable(value, event, self.enrich_key)

    def _consumed(self, topic: str) -> Any:
        """The lines-consumed counter of ``topic``, created the first time a pattern brings it in."""
        counter = self._lines_consumed.get(topic)
        if counter is None:
            counter = self._lines_consumed[topic] = self.metrics.lines_consumed.labels(topic)
        return counter

    def _apply_backpressure(self) -> None:
        in_flight = self.tracker.in_flight
        self.metrics.lines_in_flight.set(in_flight)
        if not self._backpressure and in_flight >= self.max_in_flight_lines:
            self._backpressure = True
            self.consumer.pause(*self.consumer.assignment())
            logger.debug("backpressure: %d lines in flight, paused all partitions", in_flight)
        elif self._backpressure and in_flight <= self.max_in_flight_lines // 2:
            self._backpressure = False
            self.consumer.resume(*(self.consumer.assignment() - self._stuck))
            logger.debug("backpressure released at %d lines in flight", in_flight)
        self.metrics.paused_partitions.set(len(self.consumer.paused()))

    # ------------------------------------------------------------------ tag and produce

    async def _tag_loop(self) -> None:
        """Send each batch's records in order, while the tagging thread already tags the next batch.

        The tagging thread waits on the tagging process (or on the network, which
        releases the GIL) while the event loop sends and acknowledges batch k.
        """
        queue: asyncio.Queue[tuple[list[Pending], asyncio.Future] | None] = asyncio.Queue(maxsize=1)
        submitter = asyncio.create_task(self._submit(queue), name="tag-submit")
        try:
            while (item := await queue.get()) is not None:
                batch, tagging = item
                await self._emit(batch, await tagging)
            await submitter
        finally:
            submitter.cancel()

    async def _submit(self, queue: asyncio.Queue) -> None:
        """Hand every batch to the tagging thread as it comes; None once the batcher is closed and empty."""
        while batch := await self.batcher.next_batch():
            lines = [p for p in batch if isinstance(p.line, str)]
            await queue.put((batch, asyncio.ensure_future(self._tag(lines))))
        await queue.put(None)

    async def _emit(self, batch: list[Pending], tagged: list[inputs.Encoded | inputs.Rejection]) -> None:
        """Send the record or dead letter of every message of ``batch`` (``tagged``: its lines' outcomes)."""
        results = iter(tagged)
        # Records for the output partition of their source's number, one producer batch per
        # partition: one future and acknowledgement callback per batch instead of per record
        # (per-record sends were most of the event loop's work per line).
        outgoing: dict[int, tuple[Any, list[tuple[Pending, bytes]]]] = {}
        for pending in batch:
            if isinstance(pending.line, inputs.Rejection):
                await self._send_dead_letter(pending, pending.line)
                continue
            outcome = next(results)
            if isinstance(outcome, inputs.Rejection):
                await self._send_dead_letter(pending, outcome)
                continue
            if outcome.min_delimiter_confidence is not None:
                self.metrics.delimiter_confidence.observe(outcome.min_delimiter_confidence)
            value = outcome.value
            partition = pending.source.partition
            # One by one: records for a partition the output topic lacks (the producer picks one
            # by key), and large ones, which the client checks against its request size (it
            # does not check records put in a batch).
            if partition >= self._partition_counts[self.output_topic] or len(value) > self.max_message_bytes // 2:
                await self._send(self.output_topic, value, pending, list(pending.headers), reason=None)
                continue
            if partition not in outgoing:
                outgoing[partition] = (self.producer.create_batch(), [])
            builder, items = outgoing[partition]
            key = pending.key if self._input_key else record_key(pending.source)
            if builder.append(key=key, value=value, timestamp=None,
                              headers=list(pending.headers)) is None:  # full: send it, start the next
                await self._send_records(partition, builder, items)
                builder, items = outgoing[partition] = (self.producer.create_batch(), [])
                # A batch's first record always fits.
                builder.append(key=key, value=value, timestamp=None, headers=list(pending.headers))
            items.append((pending, value))
        for partition, (builder, items) in outgoing.items():
            await self._send_records(partition, builder, items)
        self.templates.observe(o.template_id for o in tagged if isinstance(o, inputs.Encoded))
        hits, misses = self.engine.cache_hits, self.engine.cache_misses
        if hits + misses:
            self.metrics.cache_hit_ratio.set(hits / (hits + misses))
        self.metrics.cache_bytes.set(self.engine.cache_bytes)
        self.metrics.lines_in_flight.set(self.tracker.in_flight)

    async def _tag(self, lines: list[Pending]) -> list[inputs.Encoded | inputs.Rejection]:
        """Tag and encode every message of ``lines`` in the tagging thread (``self.encode``)."""
        if not lines:
            return []
        started = time.perf_counter()
        self._tag_calls += 1
        call = self._tag_calls
        self._tagging_since[call] = time.monotonic()
        args: tuple[Any, ...] = ([p.line for p in lines], [p.source for p in lines])
        if self._enrich:
            args = (*args, [p.event for p in lines], self.enrich_key, self.input_field)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self.encode, *args)
        finally:
            del self._tagging_since[call]
            self.metrics.inference_seconds.observe(time.perf_counter() - started)
            self.metrics.batch_size.observe(len(lines))

    async def _send_dead_letter(self, pending: Pending, rejection: inputs.Rejection) -> None:
        src = pending.source
        logger.warning("dead letter %s for %s[%d]@%d: %s", rejection.reason, src.topic, src.partition,
                       src.offset, rejection.detail)
        value, detail = fit_dead_letter(pending.value, rejection.detail, self.max_message_bytes)
        headers = dead_letter_headers(src, rejection.reason, detail, pending.headers)
        await self._send(self.dead_letter_topic, value, pending, headers, reason=rejection.reason)

    async def _send(self, topic: str, value: bytes | None, pending: Pending, headers: list[tuple[str, bytes]],
                    reason: str | None, attempt: int = 0) -> None:
        """Hand one message to the producer; its acknowledgement (or failure) arrives in a callback."""
        source = pending.source
        partition = source.partition if source.partition < self._partition_counts[topic] else None
        # Dead letters (a reason) keep the source key: it is how they are found again.
        key = pending.key if reason is None and self._input_key else record_key(source)
        try:
            future = await self.producer.send(topic, value, key=key, partition=partition, headers=headers)
        except (KafkaError, ValueError, AssertionError) as exc:
            self._failed(topic, value, pending, headers, reason, attempt, exc)
            return
        future.add_done_callback(
            lambda f: self._delivered(f, topic, value, pending, headers, reason, attempt))

    async def _send_records(self, partition: int, builder: Any, items: list[tuple[Pending, bytes]]) -> None:
        """Hand a producer batch of output records for ``partition`` over; a failed batch is
        resent record by record (the per-record retry and give-up rules apply from there)."""
        topic = self.output_topic
        try:
            future = await self.producer.send_batch(builder, topic, partition=partition)
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
        self._acked.set()

    def _records_failed(self, items: list[tuple[Pending, bytes]], exc: BaseException) -> None:
        for pending, value in items:
            self._failed(self.output_topic, value, pending, list(pending.headers), None, 0, exc)

    def _delivered(self, future: asyncio.Future, topic: str, value: bytes | None, pending: Pending,
                   headers: list[tuple[str, bytes]], reason: str | None, attempt: int) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self._failed(topic, value, pending, headers, reason, attempt, exc)
            return
        self._acknowledged((pending,), reason)
        self._acked.set()

    def _acknowledged(self, acknowledged: Sequence[Pending], reason: str | None) -> None:
        """The broker has the records (``reason`` None) or dead letters of ``acknowledged``."""
        now_s = time.time()
        observe = self.metrics.end_to_end_seconds.observe
        for pending in acknowledged:
            pending.state.ack(pending.source.offset)
            if reason is None and pending.source.timestamp_ms is not None:
                observe(max(0.0, now_s - pending.source.timestamp_ms / 1000))
        (self._records_produced if reason is None else self._dead_letters[reason]).inc(len(acknowledged))

    def _failed(self, topic: str, value: bytes | None, pending: Pending, headers: list[tuple[str, bytes]],
                reason: str | None, attempt: int, exc: BaseException) -> None:
        src = pending.source
        self._produce_errors[topic].inc()
        if attempt < self.produce_retries:
            delay_s = RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)]
            logger.warning("produce to %s failed for %s[%d]@%d (attempt %d): %r; retrying in %.1f s",
                           topic, src.topic, src.partition, src.offset, attempt + 1, exc, delay_s)
            task = asyncio.get_running_loop().create_task(
                self._resend(delay_s, topic, value, pending, headers, reason, attempt + 1))
            self._retry_tasks.add(task)
            task.add_done_callback(self._retry_tasks.discard)
            return
        tp = TopicPartition(src.topic, src.partition)
        logger.error("giving up on %s[%d]@%d after %d attempts (%r): partition paused, no commit past it",
                     src.topic, src.partition, src.offset, attempt + 1, exc)
        self._stuck.add(tp)
        if tp in self.consumer.assignment():
            self.consumer.pause(tp)
            self.metrics.paused_partitions.set(len(self.consumer.paused()))

    async def _resend(self, delay_s: float, topic: str, value: bytes | None, pending: Pending,
                      headers: list[tuple[str, bytes]], reason: str | None, attempt: int) -> None:
        await asyncio.sleep(delay_s)
        await self._send(topic, value, pending, headers, reason, attempt)

    # ------------------------------------------------------------------ commit, drain, rebalance

    async def _commit_loop(self) -> None:
        while True:
            if self._backpressure:
                # At the in-flight bound only commits let fetching go on: commit as soon as
                # something is acknowledged rather than waiting out the interval.
                self._acked.clear()
                try:
                    await asyncio.wait_for(self._acked.wait(), self.commit_interval_s)
                except asyncio.TimeoutError:
                    pass
            else:
                await asyncio.sleep(self.commit_interval_s)
            if not self._rebalancing:
                await self._commit(self.consumer.assignment())
            self.metrics.lines_in_flight.set(self.tracker.in_flight)

    async def _monitor_loop(self) -> None:
        """Once a second: is the broker reachable (for /readyz), and how far behind are we."""
        while True:
            await asyncio.sleep(MONITOR_INTERVAL_S)
            await self._probe_broker()
            if not self._rebalancing and self._broker_reachable:
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
        self._update_ready()

    async def _commit(self, partitions: Any) -> None:
        """Commit the acknowledged prefix of ``partitions`` that moved since the last commit."""
        offsets = self.tracker.to_commit(partitions)
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:
            logger.warning("commit of %s failed: %r (retried at the next interval)",
                           {f"{tp.topic}[{tp.partition}]": o for tp, o in offsets.items()}, exc)
            return
        self.tracker.committed(offsets)
        logger.debug("committed %s", {f"{tp.topic}[{tp.partition}]": o for tp, o in offsets.items()})
        if self._backpressure:
            self._apply_backpressure()  # commits are what bring in-flight lines down

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

    async def _wait_acked(self, partitions: Any, deadline: float) -> None:
        """Wait until ``partitions`` (None: all) have nothing unacknowledged, or until ``deadline``."""
        while self.tracker.pending(partitions) > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.warning("drain deadline passed with %d lines unacknowledged",
                               self.tracker.pending(partitions))
                return
            self._acked.clear()
            try:
                await asyncio.wait_for(self._acked.wait(), timeout=min(remaining, 0.1))
            except asyncio.TimeoutError:
                pass

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Finish and commit the lines of partitions this member loses."""
        self._rebalancing = True
        self._update_ready()
        if not revoked:
            return
        self.batcher.flush()
        await self._wait_acked(revoked, time.monotonic() + self.drain_timeout_s)
        await self._commit(revoked)
        for tp in revoked:
            self.tracker.forget(tp)
            self._stuck.discard(tp)
            if tp in self._lag_reported:
                self._lag_reported.discard(tp)
                self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
        logger.info("revoked %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in revoked))

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Start the new assignment with fresh offset state (positions come from the committed offsets)."""
        for tp in assigned:
            self.tracker.forget(tp)
            self._consumed(tp.topic)  # a topic a pattern brought in exports its series from now
        self._rebalancing = False
        self._assigned = bool(assigned)
        if self._backpressure and assigned:
            self.consumer.pause(*assigned)
        self.metrics.paused_partitions.set(len(self.consumer.paused()))
        self._update_ready()
        logger.info("assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))


class _Rebalance(ConsumerRebalanceListener):
    """aiokafka's hook into :meth:`Pipeline.on_revoked` / :meth:`Pipeline.on_assigned`."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.pipeline.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.pipeline.on_assigned(set(assigned))
