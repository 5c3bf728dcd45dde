"""The streaming loop: fetch, micro-batch, tag off the event loop, produce, commit.

:class:`Pipeline` composes one component per job (each module says how its part
works and why). All run on the event loop, the intake, the tagging stage, the
committer and the health monitor as tasks of their own; only the encoder's calls
leave it, for tagging threads:

- intake (``intake``): fetches, decodes, registers offsets, queues lines for the
  micro-batcher; pauses fetching at the in-flight bound (backpressure);
- tagging (``tag_stage``): hands batches to the encoder from tagging threads and
  their outcomes, in order, to the emitter;
- emitter (``emitter``): sends records in per-partition producer batches and dead
  letters; resends failed ones, gives up after ``produce_retries`` (that partition
  is paused and commits stop before the record); acknowledgements mark offsets done;
- committer (``committer``): commits the acknowledged prefixes at a cadence and on
  revocation, and keeps the offset state in step with rebalances;
- health (``health``): readiness (``/readyz``), the broker probe and the lag gauges.

On a stop request the pipeline stops fetching, tags and sends what was fetched,
waits for the acknowledgements (up to ``drain_timeout_s``) and commits.

The clients are built and started by the composition root (``app``) and passed
in with :class:`PipelineSettings`; this module never reads the configuration.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from logdelim.daemon import inputs
from logdelim.daemon.committer import Committer
from logdelim.daemon.emitter import Emitter, MissingTopicError
from logdelim.daemon.encoder import Encoder
from logdelim.daemon.health import PipelineHealth
from logdelim.daemon.intake import Intake
from logdelim.daemon.lag import HighWatermarkProbe
from logdelim.daemon.metrics import Metrics
from logdelim.daemon.offsets import OffsetTracker
from logdelim.daemon.tag_stage import TagStage
from logdelim.daemon.tasks import cancel_and_settle

__all__ = ["MissingTopicError", "Pipeline", "PipelineSettings"]

logger = logging.getLogger(__name__)

# Stop budget: drain_timeout_s + this + two client stops of 1 s stay within 10 s.
FINAL_COMMIT_TIMEOUT_S = 1.5


@dataclass(frozen=True, kw_only=True)
class PipelineSettings:
    """What the pipeline does, in plain values (``app`` fills them from the configuration).

    Attributes:
        input_topics: the topics to consume; empty when ``input_pattern`` is given.
        input_pattern: a regex: consume every topic whose name it matches (from the start of
            the name, as aiokafka's pattern subscription does) instead of ``input_topics``.
        output_topic: where records go.
        dead_letter_topic: where dead letters go.
        input_format: ``raw`` (the value is the line) or ``json`` (the line is the string at
            ``input_field``, a dotted path into the JSON object the value holds).
        input_field: see ``input_format``.
        output_mode: ``record`` (one record per message, ``records.record_value``) or ``enrich``
            (the input JSON event with the annotation under ``enrich_key``; needs ``json``).
        output_key: ``source`` (records keyed ``topic:partition:offset``) or ``input`` (the input
            message's own key); dead letters are always keyed by their source.
        enrich_key: see ``output_mode``.
        max_lines: lines that make a micro-batch (one tagging call; twice as many of a backlog).
        max_wait_ms: how long the first line of a batch may wait for more.
        max_in_flight_lines: fetched and not yet committed lines at which fetching pauses.
        max_line_bytes: a longer message is a dead letter.
        max_message_bytes: the largest message the producer may send.
        commit_interval_ms: the commit cadence.
        produce_retries: resends of a message whose delivery failed before giving up on it.
        drain_timeout_s: how long a stop or a revocation waits for acknowledgements.
        encode_workers: threads calling the encoder, so as many batches are tagged at once: more
            than one only for an encoder that several threads may call and that answers them in order
            (the tagging process).
        max_tracked_templates: template ids remembered to count new templates (``TemplateTracker``).
        tagger_stall_s: a tagging call unanswered this long makes the pipeline not ready.

    Raises:
        ValueError: naming the setting, for a value out of its choices or settings that contradict.
    """

    input_topics: Sequence[str]
    input_pattern: str | None
    output_topic: str
    dead_letter_topic: str
    input_format: str
    input_field: str
    output_mode: str
    output_key: str
    enrich_key: str
    max_lines: int
    max_wait_ms: int
    max_in_flight_lines: int
    max_line_bytes: int
    max_message_bytes: int
    commit_interval_ms: int
    produce_retries: int
    drain_timeout_s: float
    encode_workers: int = 1
    max_tracked_templates: int
    tagger_stall_s: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_topics", tuple(self.input_topics))
        for name, value, allowed in (
            ("input_format", self.input_format, (inputs.RAW, inputs.JSON)),
            ("output_mode", self.output_mode, (inputs.RECORD, inputs.ENRICH)),
            ("output_key", self.output_key, (inputs.SOURCE_KEY, inputs.INPUT_KEY)),
        ):
            if value not in allowed:
                raise ValueError(f"{name} {value!r} is not one of {', '.join(allowed)}")
        if self.enrich and self.input_format != inputs.JSON:
            raise ValueError("output_mode enrich needs input_format json")
        if self.input_pattern is not None and any(
            re.match(self.input_pattern, t) for t in (self.output_topic, self.dead_letter_topic)
        ):
            # Our own output read back as input would loop for ever.
            raise ValueError(f"input pattern {self.input_pattern!r} matches the output or dead-letter topic")

    @property
    def enrich(self) -> bool:
        """Output is the input event with the annotation (``output_mode: enrich``)."""
        return self.output_mode == inputs.ENRICH


class Pipeline:
    """One consumer-group member turning input messages into records.

    Args:
        consumer: a started ``AIOKafkaConsumer`` with a ``group_id`` and auto-commit off.
        producer: a started ``AIOKafkaProducer`` (acks=all).
        encoder: what tags lines (the tagging process, or ``encoder.LocalEncoder`` over an engine).
        metrics: where to count. Every series the pipeline exports exists from construction on.
        settings: what to consume, produce and how.
        lag_probe: watermarks of paused partitions for the lag gauges (None: those are not refreshed).
    """

    def __init__(
        self,
        consumer: Any,
        producer: Any,
        encoder: Encoder,
        metrics: Metrics,
        settings: PipelineSettings,
        lag_probe: HighWatermarkProbe | None = None,
    ) -> None:
        s = self.settings = settings
        self.consumer = consumer
        self.tracker = OffsetTracker()
        self.health = PipelineHealth(consumer, metrics, lag_probe, tagger_stall_s=s.tagger_stall_s)
        self.intake = Intake(
            consumer,
            self.tracker,
            metrics,
            input_topics=s.input_topics,
            max_lines=s.max_lines,
            max_wait_ms=s.max_wait_ms,
            max_in_flight_lines=s.max_in_flight_lines,
            max_line_bytes=s.max_line_bytes,
            json_input=s.input_format == inputs.JSON,
            input_field=s.input_field,
            enrich_key=s.enrich_key if s.enrich else None,
        )
        self.emitter = Emitter(
            producer,
            metrics,
            output_topic=s.output_topic,
            dead_letter_topic=s.dead_letter_topic,
            max_message_bytes=s.max_message_bytes,
            produce_retries=s.produce_retries,
            input_key=s.output_key == inputs.INPUT_KEY,
            on_give_up=self.intake.hold,
        )
        self.committer = Committer(
            consumer,
            self.tracker,
            self.intake,
            self.health,
            self.emitter.acked,
            metrics,
            commit_interval_ms=s.commit_interval_ms,
            drain_timeout_s=s.drain_timeout_s,
        )
        self.tag_stage = TagStage(
            self.intake.batcher,
            encoder,
            self.emitter,
            self.health,
            self.tracker,
            metrics,
            encode_workers=s.encode_workers,
            enrich=(s.enrich_key, s.input_field) if s.enrich else None,
            max_tracked_templates=s.max_tracked_templates,
        )
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        """Ask :meth:`run` to stop fetching, drain, commit and return (signal handlers call this)."""
        if not self._stop.is_set():
            logger.info("stop requested: draining")
        self._stop.set()
        self.health.stopping()

    def is_ready(self) -> bool:
        """Ready and making progress (``PipelineHealth.is_ready``; called from the HTTP server's threads too)."""
        return self.health.is_ready()

    async def run(self) -> None:
        """Consume until :meth:`request_stop`; then drain, commit and return.

        Raises:
            MissingTopicError: the output or dead-letter topic does not exist.
        """
        await self.emitter.start()
        listener = self.committer.listener()
        if self.settings.input_pattern is not None:
            logger.info("subscribing to the topics matching %r", self.settings.input_pattern)
            self.consumer.subscribe(pattern=self.settings.input_pattern, listener=listener)
        else:
            self.consumer.subscribe(topics=list(self.settings.input_topics), listener=listener)
        fetch = asyncio.create_task(self.intake.run(), name="fetch")
        tag = asyncio.create_task(self.tag_stage.run(), name="tag")
        committer = asyncio.create_task(self.committer.run(), name="commit")
        monitor = asyncio.create_task(self.health.run(), name="monitor")
        stop = asyncio.create_task(self._stop.wait(), name="stop")
        background = (fetch, committer, monitor, stop)
        try:
            done, _ = await asyncio.wait({*background, tag}, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stop}:
                task.result()  # a loop that ended on its own crashed: raise its error
        finally:
            # Cancelling the fetch task interrupts only getmany: records it has not returned stay unfetched.
            await cancel_and_settle(background)
            await self._drain(tag)

    async def _drain(self, tag: asyncio.Task) -> None:
        """Tag and send what was fetched, wait for its acknowledgements, commit (within the stop budget)."""
        self.intake.batcher.close()
        deadline = time.monotonic() + self.settings.drain_timeout_s
        # Not wait_for: on its timeout it waits, unbounded, for the cancelled task to finish.
        done, _ = await asyncio.wait({tag}, timeout=max(0.1, deadline - time.monotonic()))
        if not done:
            # Expected when much is in flight (a saturated daemon on new shapes): what was not
            # acknowledged is not committed, and the partitions' next owner tags it.
            # (The committer's warning that follows counts the lines left unacknowledged.)
            logger.warning(
                "tagging did not finish within the drain's %.1f s (kafka.drain_timeout_s)",
                self.settings.drain_timeout_s,
            )
        await cancel_and_settle({tag})  # logs a failed tagging; what was delivered is still committed
        await self.committer.wait_acked(None, deadline)
        try:
            await asyncio.wait_for(self.committer.commit(self.consumer.assignment()), FINAL_COMMIT_TIMEOUT_S)
        except asyncio.TimeoutError:
            logger.error("final commit timed out after %.1f s", FINAL_COMMIT_TIMEOUT_S)
        self.emitter.cancel_retries()
        self.tag_stage.close()
        logger.info("drained; %d lines left unacknowledged", self.tracker.pending())
