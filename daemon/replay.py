"""``logdelim replay``: run archived topics through the tagger once, from a start to an end, and exit.

Used after a model upgrade (re-tag history), to backfill, and with
``--compare-model`` to see what a new model would change before rolling it out.

What it guarantees:

- **No group offsets touched.** The consumer has no ``group_id`` and assigns
  partitions by hand, so a live daemon's consumer group never sees a replay.
- **Exact range.** ``--to latest`` is the log end at start-up as reported by a
  fetch response's high watermark. Tansu's ListOffsets(latest) under-reports
  the end, so ``seek_to_end``/``end_offsets`` are not used for it.
- **Same records as the daemon.** The same input policy
  (:mod:`logdelim.daemon.inputs`) and record builder
  (:mod:`logdelim.daemon.records`); bad input becomes the same dead letters.
- **Deterministic.** Partitions are replayed one after another (topics in the
  order given, partitions ascending, offsets ascending) and the engine's output
  does not depend on batching, so the same input and model give the same
  output file byte for byte.

Range syntax (per partition; ``--to`` is exclusive):

- ``earliest`` (``--from`` default), ``latest`` (``--to`` default);
- ``N``: an offset;
- ``2026-11-22T00:00:00Z`` (ISO 8601; no zone means UTC) or ``@1763769600000``
  (epoch milliseconds): the first offset whose broker timestamp is at or after
  it (Kafka's ListOffsets by time).

Dead letters written to a file (``--dead-letter-file``) are JSON lines
``{"key", "reason", "detail", "source", "value_base64", "headers": [[name,
value_base64], ...]}`` -- the same content the daemon puts on the dead-letter
topic, in a text form.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import json
import logging
import pickle
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TextIO

from logdelim.daemon import inputs
from logdelim.daemon.config import Config, ConfigError, load
from logdelim.daemon.records import (
    Source,
    dead_letter_headers,
    fit_dead_letter,
    message_source,
    output_partition,
    record_key,
)
from logdelim.model.devices import device_error
from logdelim.model.grouping import StreamGroups

logger = logging.getLogger(__name__)

BATCH_LINES = 512
# How long to wait for the first fetch response (it carries the high watermark) of each partition.
HIGHWATER_TIMEOUT_S = 30.0
FETCH_POLL_MS = 200
# Records produced but not yet acknowledged before replay waits for the broker.
MAX_UNACKED_SENDS = 20_000
PROGRESS_INTERVAL_S = 0.5
DEFAULT_EXAMPLES = 3


# --------------------------------------------------------------------------- positions


class Position(NamedTuple):
    """A start or end given on the command line: ``kind`` is earliest, latest, offset or timestamp."""

    kind: str
    value: int = 0


def parse_position(text: str) -> Position:
    """``earliest``, ``latest``, an offset, an ISO 8601 time or ``@epoch_ms``.

    Raises:
        argparse.ArgumentTypeError: for anything else.
    """
    text = text.strip()
    if text in ("earliest", "latest"):
        return Position(text)
    if text.isdigit():
        return Position("offset", int(text))
    if text.startswith("@") and text[1:].isdigit():
        return Position("timestamp", int(text[1:]))
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not earliest, latest, an offset, an ISO 8601 time or @epoch_ms"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return Position("timestamp", int(moment.timestamp() * 1000))


class Pick(NamedTuple):
    """A topic, or one partition of it (``partition`` None: all partitions)."""

    topic: str
    partition: int | None


def parse_pick(text: str) -> Pick:
    """``topic`` or ``topic:partition`` (Kafka topic names cannot contain ``:``)."""
    topic, sep, partition = text.rpartition(":")
    if not sep:
        return Pick(text, None)
    if not topic or not partition.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not TOPIC or TOPIC:PARTITION")
    return Pick(topic, int(partition))


@dataclass
class PartitionRange:
    """The offsets ``[start, end)`` of one partition to replay."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def lines(self) -> int:
        """Messages in the range (offsets; a compacted topic may hold fewer)."""
        return max(0, self.end - self.start)


async def resolve_ranges(consumer: Any, picks: Sequence[Pick], start: Position, end: Position) -> list[PartitionRange]:
    """The exact ``[start, end)`` of every picked partition, in replay order.

    The log end is the high watermark of a fetch response, never
    ListOffsets(latest), which the embedded broker under-reports.

    Raises:
        ValueError: for an unknown topic or partition.
    """
    from aiokafka import TopicPartition

    await consumer.topics()  # metadata for partition counts
    tps: list[Any] = []
    for pick in picks:
        partitions = consumer.partitions_for_topic(pick.topic)
        if not partitions:
            raise ValueError(f"topic {pick.topic!r} does not exist")
        if pick.partition is not None and pick.partition not in partitions:
            raise ValueError(f"topic {pick.topic!r} has no partition {pick.partition}")
        chosen = [pick.partition] if pick.partition is not None else sorted(partitions)
        tps.extend(tp for tp in (TopicPartition(pick.topic, p) for p in chosen) if tp not in tps)

    beginnings = await consumer.beginning_offsets(tps)
    # Fetch near the end (ListOffsets' answer, at or below the real end) so the fetch that
    # reveals the high watermark carries little data, however many partitions there are.
    near_ends = await consumer.end_offsets(tps)
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, max(beginnings[tp], near_ends[tp]))
    highwater = await _highwaters(consumer, tps)
    consumer.pause(*tps)  # ranges only; replay assigns one partition at a time later

    async def offset_at(position: Position, tp: Any, default: int) -> int:
        if position.kind == "earliest":
            return beginnings[tp]
        if position.kind == "latest":
            return highwater[tp]
        if position.kind == "offset":
            return min(max(position.value, beginnings[tp]), highwater[tp])
        found = (await consumer.offsets_for_times({tp: position.value}))[tp]
        # No message at or after the time: the range starts (or ends) at the log end.
        return default if found is None else min(found.offset, highwater[tp])

    spans = []
    for tp in tps:
        first = await offset_at(start, tp, highwater[tp])
        last = await offset_at(end, tp, highwater[tp])
        spans.append(PartitionRange(tp.topic, tp.partition, first, max(first, last)))
    return spans


async def _highwaters(consumer: Any, tps: Sequence[Any]) -> dict[Any, int]:
    """The high watermark of each assigned partition from the fetcher's first response."""
    deadline = time.monotonic() + HIGHWATER_TIMEOUT_S
    while True:
        known = {tp: consumer.highwater(tp) for tp in tps}
        if all(v is not None for v in known.values()):
            return known
        if time.monotonic() > deadline:
            missing = sorted(f"{tp.topic}:{tp.partition}" for tp, v in known.items() if v is None)
            raise TimeoutError(f"no fetch response within {HIGHWATER_TIMEOUT_S} s for {', '.join(missing)}")
        await asyncio.sleep(0.02)


# --------------------------------------------------------------------------- tagging


# --------------------------------------------------------------------------- output


class Sink:
    """Where records and dead letters go: JSON Lines files and/or topics (any may be absent)."""

    def __init__(
        self,
        producer: Any,
        output_topic: str | None,
        dead_letter_topic: str | None,
        output_file: TextIO | None,
        dead_letter_file: TextIO | None,
        max_message_bytes: int,
    ) -> None:
        self.producer = producer
        self.output_topic = output_topic
        self.dead_letter_topic = dead_letter_topic
        self.output_file = output_file
        self.dead_letter_file = dead_letter_file
        self.max_message_bytes = max_message_bytes
        self._partition_counts: dict[str, int] = {}
        self._unacked: list[asyncio.Future] = []
        self.failures = 0

    async def start(self) -> None:
        """Learn the partition counts of the output topics (records keep their partition number)."""
        for topic in (self.output_topic, self.dead_letter_topic):
            if topic is not None:
                partitions = await self.producer.partitions_for(topic)
                if not partitions:
                    raise ValueError(f"output topic {topic!r} does not exist")
                self._partition_counts[topic] = len(partitions)

    async def record(self, source: Source, value: bytes, headers: Sequence[tuple[str, bytes]]) -> None:
        """Write one output record."""
        if self.output_file is not None:
            self.output_file.write(value.decode("utf-8") + "\n")
        if self.output_topic is not None:
            await self._send(self.output_topic, source, value, list(headers))

    async def dead_letter(
        self,
        source: Source,
        value: bytes | None,
        rejection: inputs.Rejection,
        input_headers: Sequence[tuple[str, bytes]],
    ) -> None:
        """Write one dead letter: original bytes, source coordinates and reason."""
        if self.dead_letter_topic is not None:
            topic_value, detail = fit_dead_letter(value, rejection.detail, self.max_message_bytes)
            headers = dead_letter_headers(source, rejection.reason, detail, input_headers)
            await self._send(self.dead_letter_topic, source, topic_value, headers)
        if self.dead_letter_file is not None:
            entry = {
                "key": record_key(source).decode(),
                "reason": rejection.reason,
                "detail": rejection.detail,
                "source": source._asdict(),
                "value_base64": None if value is None else base64.b64encode(value).decode("ascii"),
                "headers": [[name, base64.b64encode(v or b"").decode("ascii")] for name, v in input_headers],
            }
            self.dead_letter_file.write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")

    async def _send(self, topic: str, source: Source, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        partition = output_partition(source, self._partition_counts[topic])
        future = await self.producer.send(topic, value, key=record_key(source), partition=partition, headers=headers)
        self._unacked.append(future)
        if len(self._unacked) >= MAX_UNACKED_SENDS:
            await self.flush()

    async def flush(self) -> None:
        """Wait for every send so far; count (and log) the ones the broker refused."""
        pending, self._unacked = self._unacked, []
        for outcome in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(outcome, BaseException):
                self.failures += 1
                logger.error("a record was not delivered: %r", outcome)
        for handle in (self.output_file, self.dead_letter_file):
            if handle is not None:
                handle.flush()


# --------------------------------------------------------------------------- progress and rate


class Progress:
    """``lines/total, rate, ETA`` redrawn on one stderr line when it is a terminal; silent otherwise."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total = total
        self.stream = stream
        self.enabled = enabled
        self.done = 0
        self.started = time.monotonic()
        self._drawn_at = 0.0

    def advance(self, lines: int) -> None:
        """Count ``lines`` more; redraw at most every PROGRESS_INTERVAL_S."""
        self.done += lines
        now = time.monotonic()
        if self.enabled and (now - self._drawn_at >= PROGRESS_INTERVAL_S or self.done >= self.total):
            self._drawn_at = now
            self.stream.write("\r" + self.render(now) + "\x1b[K")
            self.stream.flush()

    def render(self, now: float) -> str:
        """The progress line, e.g. ``replay [#####.....] 5,000/10,000 lines 50% 2,345 lines/s ETA 2s``."""
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        fraction = self.done / self.total if self.total else 1.0
        bar = "#" * int(fraction * 20)
        eta = f"{(self.total - self.done) / rate:.0f}s" if rate > 0 else "?"
        return f"replay [{bar:.<20}] {self.done:,}/{self.total:,} lines {fraction:.0%} {rate:,.0f} lines/s ETA {eta}"

    def close(self) -> None:
        """End the progress line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


class RateLimit:
    """Sleeps so that no more than ``lines_per_s`` lines go through on average (None: no limit)."""

    def __init__(self, lines_per_s: float | None) -> None:
        self.lines_per_s = lines_per_s
        self.started = time.monotonic()
        self.lines = 0

    async def take(self, lines: int) -> None:
        """Account for ``lines`` and wait until they are within the rate."""
        self.lines += lines
        if self.lines_per_s:
            ahead_s = self.lines / self.lines_per_s - (time.monotonic() - self.started)
            if ahead_s > 0:
                await asyncio.sleep(ahead_s)


# --------------------------------------------------------------------------- replay


@dataclass
class TopicSummary:
    """What replay did for one topic.

    With ``--compare-model``: ``changed`` lines whose tokens differ between the two
    models (the first ``examples`` of them); of the ``templates_compared`` lines
    that both models gave a template (a checkpoint without a kind head gives none),
    ``templates_changed`` whose template differs (and ``template_examples``).
    """

    lines: int = 0
    records: int = 0
    dead_letters: int = 0
    changed: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    templates_changed: int = 0
    template_examples: list[dict[str, Any]] = field(default_factory=list)
    templates_compared: int = 0


def _token_texts(line: str, outcome: inputs.Tagged | inputs.Rejection) -> list[str] | None:
    return None if isinstance(outcome, inputs.Rejection) else [line[s:e] for s, e in outcome.bounds]


def _template(outcome: inputs.Tagged | inputs.Rejection) -> str | None:
    return None if isinstance(outcome, inputs.Rejection) else outcome.template


def compare(
    summary: TopicSummary,
    source: Source,
    line: str,
    outcome: inputs.Tagged | inputs.Rejection,
    other: inputs.Tagged | inputs.Rejection,
    examples: int,
) -> None:
    """Count (and keep the first ``examples`` of) the differences between two models' outcomes for ``line``."""
    old, new = _token_texts(line, outcome), _token_texts(line, other)
    if old != new:
        summary.changed += 1
        if len(summary.examples) < examples:
            summary.examples.append({"source": source._asdict(), "line": line, "old_tokens": old, "new_tokens": new})
    old_template, new_template = _template(outcome), _template(other)
    if old_template is None or new_template is None:
        return
    summary.templates_compared += 1
    if old_template != new_template:
        summary.templates_changed += 1
        if len(summary.template_examples) < examples:
            summary.template_examples.append(
                {"source": source._asdict(), "line": line, "old_template": old_template, "new_template": new_template}
            )


async def replay(
    consumer: Any,
    sink: Sink,
    engine: Any,
    spans: Sequence[PartitionRange],
    *,
    max_line_bytes: int,
    compare_engine: Any = None,
    examples: int = DEFAULT_EXAMPLES,
    progress: Progress | None = None,
    rate_limit: RateLimit | None = None,
) -> dict[str, TopicSummary]:
    """Replay every span, one partition at a time; returns a summary per topic."""
    from aiokafka import TopicPartition

    summaries: dict[str, TopicSummary] = {}
    groups = StreamGroups()  # the records' groups, learnt over the whole replay as the daemon learns them
    for span in spans:
        summary = summaries.setdefault(span.topic, TopicSummary())
        if span.lines == 0:
            continue
        tp = TopicPartition(span.topic, span.partition)
        consumer.assign([tp])
        consumer.seek(tp, span.start)
        while await consumer.position(tp) < span.end:
            batch = (await consumer.getmany(tp, timeout_ms=FETCH_POLL_MS, max_records=BATCH_LINES)).get(tp, [])
            messages = [m for m in batch if m.offset < span.end]
            if messages:
                await _replay_batch(
                    messages, span, summary, sink, engine, compare_engine, examples, max_line_bytes, groups
                )
                if progress is not None:
                    progress.advance(len(messages))
                if rate_limit is not None:
                    await rate_limit.take(len(messages))
            if batch and batch[-1].offset >= span.end - 1:
                break
    await sink.flush()
    return summaries


async def _replay_batch(
    messages: Sequence[Any],
    span: PartitionRange,
    summary: TopicSummary,
    sink: Sink,
    engine: Any,
    compare_engine: Any,
    examples: int,
    max_line_bytes: int,
    groups: StreamGroups,
) -> None:
    decoded = [inputs.decode(m.value, max_line_bytes) for m in messages]
    lines = [d for d in decoded if isinstance(d, str)]
    outcomes = inputs.tag_messages(engine, lines)
    tagged = iter(zip(outcomes, inputs.batch_groups(groups, outcomes)))
    other = iter(inputs.tag_messages(compare_engine, lines)) if compare_engine is not None else None
    for message, line in zip(messages, decoded):
        source = message_source(span.topic, span.partition, message.offset, message.timestamp)
        headers = tuple(message.headers or ())
        summary.lines += 1
        outcome, group = (line, None) if isinstance(line, inputs.Rejection) else next(tagged)
        if other is not None and isinstance(line, str):
            compare(summary, source, line, outcome, next(other), examples)
        if isinstance(outcome, inputs.Rejection):
            summary.dead_letters += 1
            await sink.dead_letter(source, message.value, outcome, headers)
            continue
        summary.records += 1
        record = inputs.record_of(source, line, outcome, engine.model_id, group)
        await sink.record(source, record, headers)


# --------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logdelim replay``."""
    parser.add_argument(
        "picks",
        nargs="+",
        type=parse_pick,
        metavar="TOPIC[:PARTITION]",
        help="topics to replay, or single partitions of them",
    )
    parser.add_argument(
        "--from",
        dest="start",
        type=parse_position,
        default=Position("earliest"),
        help="earliest (default), an offset, an ISO 8601 time or @epoch_ms",
    )
    parser.add_argument(
        "--to",
        dest="end",
        type=parse_position,
        default=Position("latest"),
        help="latest (default: the log end at start-up), an offset (exclusive), "
        "an ISO 8601 time or @epoch_ms (messages before it)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="daemon YAML config for kafka.bootstrap_servers/security, input and model settings",
    )
    parser.add_argument(
        "--set",
        metavar="SECTION.KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override one config key, as in `logdelim run`",
    )
    parser.add_argument("--bootstrap-servers", default=None, help="shortcut for --set kafka.bootstrap_servers=...")
    parser.add_argument("--model", default=None, help="checkpoint to tag with (default: the config's model)")
    parser.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: the config's)")
    parser.add_argument("--output-topic", default=None, help="produce records to this topic")
    parser.add_argument("--output-file", default=None, help="write records as JSON Lines to this file")
    parser.add_argument("--dead-letter-topic", default=None, help="produce dead letters to this topic")
    parser.add_argument(
        "--dead-letter-file",
        default=None,
        help="write dead letters as JSON Lines here (default with --output-file: OUTPUT_FILE.dead.jsonl)",
    )
    parser.add_argument(
        "--compare-model",
        default=None,
        metavar="PATH",
        help="also tag with this checkpoint and report, per topic, the lines whose tokens or templates change",
    )
    parser.add_argument(
        "--examples",
        type=int,
        default=DEFAULT_EXAMPLES,
        help=f"changed lines shown per topic with --compare-model, for tokens and for "
        f"templates (default {DEFAULT_EXAMPLES})",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="LINES_PER_S",
        help="replay at most this many lines per second",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr: auto = only when stderr is a terminal",
    )


def _config(args: argparse.Namespace) -> Config:
    from logdelim.daemon.app import parse_overrides

    overrides = parse_overrides(args.overrides)
    if args.bootstrap_servers:
        overrides["kafka.bootstrap_servers"] = args.bootstrap_servers
    if args.model:
        overrides["model.path"] = args.model
    if args.device:
        overrides["model.device"] = args.device
    return load(args.config, overrides)


class UsageError(Exception):
    """A user error found while replay starts (broker unreachable, model unreadable): one line, exit 2."""


def run(args: argparse.Namespace) -> int:
    """``logdelim replay``: 0 when every record and dead letter was written, 1 otherwise, 2 for bad usage.

    Bad usage includes a device this machine cannot use, a model file that cannot be
    read and a broker that cannot be reached; in every such case the output files are
    left as they were (they are opened only once the replay can start).
    """
    try:
        config = _config(args)
    except ConfigError as exc:
        sys.stderr.write(f"logdelim replay: config error: {exc}\n")
        return 2
    problem = device_error(config.model.device)
    if problem is not None:
        sys.stderr.write(f"logdelim replay: model.device: {problem}\n")
        return 2
    if args.rate_limit is not None and args.rate_limit <= 0:
        sys.stderr.write("logdelim replay: --rate-limit must be > 0\n")
        return 2
    if args.output_file and not args.dead_letter_file and not args.dead_letter_topic:
        args.dead_letter_file = args.output_file + ".dead.jsonl"
    try:
        summary = asyncio.run(_main(args, config))
    except UsageError as exc:
        sys.stderr.write(f"logdelim replay: {exc}\n")
        return 2
    except (ValueError, TimeoutError, OSError) as exc:
        sys.stderr.write(f"logdelim replay: {exc}\n")
        return 1
    sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n" if args.json else render_summary(summary))
    return 0 if summary["undelivered"] == 0 else 1


async def _main(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from logdelim.daemon.clients import PRODUCER_BATCH_BYTES, PRODUCER_LINGER_MS, security_options
    from logdelim.model.engine import Engine

    kafka, model = config.kafka, config.model

    def engine_for(path: str | None) -> Any:
        try:
            engine = Engine.load(
                path,
                device=model.device,
                num_threads=model.num_threads,
                quantize=model.quantize,
                cache_size=model.cache_size,
            )
        except OSError as exc:
            raise UsageError(f"cannot read the model {path}: {exc.strerror or exc}") from None
        except pickle.UnpicklingError:  # torch's message runs to a page about weights_only
            raise UsageError(f"{path} is not a logdelim checkpoint") from None
        engine.warm_up()
        return engine

    common = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": f"{kafka.client_id}-replay",
        **security_options(kafka.security),
    }
    # No group_id: manual assignment, and no group's committed offsets are read or written.
    consumer = AIOKafkaConsumer(
        **{
            **common,
            "group_id": None,
            "enable_auto_commit": False,
            "max_partition_fetch_bytes": kafka.max_message_bytes,
            "fetch_max_bytes": max(kafka.max_message_bytes, 50 * 1024 * 1024),
            **kafka.consumer_options,
        }
    )
    producer = None
    if args.output_topic or args.dead_letter_topic:
        producer = AIOKafkaProducer(
            **{
                **common,
                "acks": "all",
                "enable_idempotence": False,
                "linger_ms": PRODUCER_LINGER_MS,
                "max_batch_size": PRODUCER_BATCH_BYTES,
                "max_request_size": kafka.max_message_bytes,
                "request_timeout_ms": kafka.produce_timeout_ms,
                **kafka.producer_options,
            }
        )
    files: list[TextIO] = []
    try:
        await _start_clients(consumer, producer, kafka.bootstrap_servers)
        sink = Sink(producer, args.output_topic, args.dead_letter_topic, None, None, kafka.max_message_bytes)
        await sink.start()
        spans = await resolve_ranges(consumer, args.picks, args.start, args.end)
        engine = engine_for(model.path)
        compare_engine = engine_for(args.compare_model) if args.compare_model else None
        # Opened (and so truncated) only now: a replay that cannot start leaves earlier output as it was.
        sink.output_file = _open(args.output_file, files)
        sink.dead_letter_file = _open(args.dead_letter_file, files)
        total = sum(s.lines for s in spans)
        show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
        progress = Progress(total, sys.stderr, show)
        started = time.monotonic()
        summaries = await replay(
            consumer,
            sink,
            engine,
            spans,
            max_line_bytes=config.input.max_line_bytes,
            compare_engine=compare_engine,
            examples=args.examples,
            progress=progress,
            rate_limit=RateLimit(args.rate_limit),
        )
        progress.close()
        seconds = time.monotonic() - started
    finally:
        await consumer.stop()
        if producer is not None:
            await producer.stop()
        for handle in files:
            handle.close()
    result: dict[str, Any] = {
        "model": {"id": engine.model_id},
        "seconds": round(seconds, 3),
        "lines": sum(s.lines for s in summaries.values()),
        "records": sum(s.records for s in summaries.values()),
        "dead_letters": sum(s.dead_letters for s in summaries.values()),
        "undelivered": sink.failures,
        "ranges": [{"topic": s.topic, "partition": s.partition, "start": s.start, "end": s.end} for s in spans],
        "topics": {},
    }
    if compare_engine is not None:
        result["compare_model"] = {"id": compare_engine.model_id}
    for topic, s in summaries.items():
        entry: dict[str, Any] = {"lines": s.lines, "records": s.records, "dead_letters": s.dead_letters}
        if compare_engine is not None:
            entry.update(
                changed=s.changed,
                examples=s.examples,
                templates_changed=s.templates_changed,
                template_examples=s.template_examples,
                templates_compared=s.templates_compared,
            )
        result["topics"][topic] = entry
    return result


class _HeldBootstrapErrors(logging.Filter):
    """Holds back aiokafka's error for each bootstrap server it could not reach (it logs one per
    server, then raises a bare ``Unable to bootstrap``), so that replay can report them in one line."""

    PREFIXES = ("Unable connect to", "Unable to request metadata from")

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        """False (not logged) for a bootstrap error, which is kept in ``messages``."""
        message = record.getMessage()
        if message.startswith(self.PREFIXES):
            self.messages.append(message)
            return False
        return True


async def _start_clients(consumer: Any, producer: Any, bootstrap_servers: str) -> None:
    """Start the consumer and the producer (None: none).

    Raises:
        UsageError: no bootstrap server could be reached; the message says why for each.
    """
    from aiokafka.errors import KafkaConnectionError

    held = _HeldBootstrapErrors()
    aiokafka_logger = logging.getLogger("aiokafka")
    aiokafka_logger.addFilter(held)
    try:
        await consumer.start()
        if producer is not None:
            await producer.start()
    except KafkaConnectionError as exc:
        reasons = "; ".join(dict.fromkeys(held.messages)) or str(exc)
        raise UsageError(f"cannot connect to Kafka (kafka.bootstrap_servers={bootstrap_servers}): {reasons}") from None
    finally:
        aiokafka_logger.removeFilter(held)
    # Connected through another server: the ones that failed are still worth a warning.
    for message in dict.fromkeys(held.messages):
        logger.warning("%s", message)


def _open(path: str | None, opened: list[TextIO]) -> TextIO | None:
    if path is None:
        return None
    handle = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed by the caller
    opened.append(handle)
    return handle


def render_summary(summary: dict[str, Any]) -> str:
    """The human summary printed at the end of a replay."""
    seconds = summary["seconds"]
    rate = summary["lines"] / seconds if seconds > 0 else 0.0
    out = [
        f"replayed {summary['lines']:,} lines in {seconds:.1f} s ({rate:,.0f} lines/s) "
        f"with model {summary['model']['id']}: {summary['records']:,} records, "
        f"{summary['dead_letters']:,} dead letters"
    ]
    if summary["undelivered"]:
        out.append(f"{summary['undelivered']:,} records or dead letters were NOT delivered (see the log)")
    compare = summary.get("compare_model")
    for topic, s in summary["topics"].items():
        out.append(f"  {topic}: {s['lines']:,} lines, {s['records']:,} records, {s['dead_letters']:,} dead letters")
        if compare is not None:
            share = s["changed"] / s["records"] if s["records"] else 0.0
            out.append(f"    tokens differ under {compare['id']} on {s['changed']:,} lines ({share:.1%})")
            for example in s["examples"]:
                src = example["source"]
                out.append(f"    {src['topic']}:{src['partition']}@{src['offset']}: {example['line']!r}")
                out.append(f"      old: {example['old_tokens']}")
                out.append(f"      new: {example['new_tokens']}")
            compared = s["templates_compared"]
            share = s["templates_changed"] / compared if compared else 0.0
            # Fewer lines than records when a model has no kind head (it gives no template).
            of = "" if compared == s["records"] else f" of the {compared:,} both models gave a template"
            out.append(
                f"    templates differ under {compare['id']} on {s['templates_changed']:,} lines{of} ({share:.1%})"
            )
            for example in s["template_examples"]:
                src = example["source"]
                out.append(f"    {src['topic']}:{src['partition']}@{src['offset']}: {example['line']!r}")
                out.append(f"      old: {example['old_template']!r}")
                out.append(f"      new: {example['new_template']!r}")
    return "\n".join(out) + "\n"
