"""The pipeline's tagging stage: micro-batches to the encoder, off the event loop, and on to the emitter.

Each batch the intake queued goes to ``encode_messages`` of the :class:`~.encoder.Encoder`
(tagging and the records' JSON; in the tagging process by default, see
``tagging``) from tagging threads, so heartbeats, fetches and acknowledgements go
on meanwhile; the next batch is encoded while this one is sent. Outcomes go to the
emitter in batch order, so records of a partition are sent in offset order.

Messages the input policy rejected skip the encoder (they become dead letters).
After each batch: the new-templates count, and the engine's cache figures.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Any

from logdelim.daemon import inputs
from logdelim.daemon.batcher import MicroBatcher
from logdelim.daemon.emitter import Emitter
from logdelim.daemon.encoder import Encoder
from logdelim.daemon.health import PipelineHealth
from logdelim.daemon.intake import Pending
from logdelim.daemon.metrics import Metrics, TemplateTracker
from logdelim.daemon.offsets import OffsetTracker

# Batches handed to each tagging thread ahead. With one each, the tagging process waited for a
# request whenever the event loop was busy for longer than a batch takes to tag, which at full
# speed happens many times a second (docs/performance.md, "Where the time goes").
BATCHES_AHEAD_PER_WORKER = 4


class TagStage:
    """Hands batches to the encoder in tagging threads and their outcomes, in order, to the emitter.

    Args:
        batcher: the intake's micro-batcher.
        encoder: what tags (its calls are timed by ``health``, for readiness).
        emitter: sends each batch's outcomes.
        health: times the tagging calls.
        tracker: the offsets in flight (for the gauge).
        metrics: where to count.
        encode_workers: threads calling the encoder, so as many batches are tagged at once: more than
            one only for an encoder that several threads may call and that answers them in order
            (the tagging process).
        enrich: ``(enrich_key, input_field)`` for ``output.mode: enrich``; None for records.
        max_tracked_templates: template ids remembered to count new templates (``TemplateTracker``).
    """

    def __init__(
        self,
        batcher: MicroBatcher[Pending],
        encoder: Encoder,
        emitter: Emitter,
        health: PipelineHealth,
        tracker: OffsetTracker,
        metrics: Metrics,
        *,
        encode_workers: int,
        enrich: tuple[str, str] | None,
        max_tracked_templates: int,
    ) -> None:
        self.batcher = batcher
        self.encoder = encoder
        self.emitter = emitter
        self.health = health
        self.tracker = tracker
        self.metrics = metrics
        self.enrich = enrich
        self.templates = TemplateTracker(metrics, max_tracked_templates)
        self._encode_workers = encode_workers
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=encode_workers, thread_name_prefix="tagger")

    async def run(self) -> None:
        """Send each batch's records in order, while the tagging thread already tags the next batch.

        Returns once the batcher is closed and empty. The tagging thread waits on the
        tagging process (or on the network, which releases the GIL) while the event loop
        sends and acknowledges batch k.
        """
        # Batches handed to the tagging threads ahead of the one being sent: a thread takes its next
        # batch from the executor's queue as soon as it is done, without waiting for the event loop.
        queue: asyncio.Queue[tuple[list[Pending], asyncio.Future] | None] = asyncio.Queue(
            maxsize=BATCHES_AHEAD_PER_WORKER * self._encode_workers
        )
        submitter = asyncio.create_task(self._submit(queue), name="tag-submit")
        try:
            while (item := await queue.get()) is not None:
                batch, tagging = item
                tagged = await tagging
                await self.emitter.emit(batch, tagged)
                self._observe(tagged)
            await submitter
        finally:
            submitter.cancel()

    def close(self) -> None:
        """Stop the tagging threads (a call still running is not waited for)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _submit(self, queue: asyncio.Queue) -> None:
        """Hand every batch to the tagging thread as it comes; None once the batcher is closed and empty."""
        while batch := await self.batcher.next_batch():
            lines = [p for p in batch if isinstance(p.line, str)]
            await queue.put((batch, asyncio.ensure_future(self._tag(lines))))
        await queue.put(None)

    async def _tag(self, lines: list[Pending]) -> list[inputs.Encoded | inputs.Rejection]:
        """Tag and encode every message of ``lines`` in the tagging thread."""
        if not lines:
            return []
        args: tuple[Any, ...] = ([p.line for p in lines], [p.source for p in lines])
        if self.enrich is not None:
            args = (*args, [p.event for p in lines], *self.enrich)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._encode, *args)
        finally:
            self.metrics.batch_size.observe(len(lines))

    def _encode(self, *args: Any) -> list[inputs.Encoded | inputs.Rejection]:
        """``encoder.encode_messages`` in a tagging thread, timed there.

        Timed from when a thread takes the batch, not from when it was submitted: batches wait
        in the executor's queue behind the ones being tagged, and that wait is not tagging time
        (timed from submission, the histogram's sum ran at several times the wall time), nor a
        stall for readiness (``health.tagging_call``).
        """
        started = time.perf_counter()
        try:
            with self.health.tagging_call():
                return self.encoder.encode_messages(*args)
        finally:
            self.metrics.inference_seconds.observe(time.perf_counter() - started)

    def _observe(self, tagged: list[inputs.Encoded | inputs.Rejection]) -> None:
        """After a batch is sent: its new templates, the engine's cache figures, the lines in flight."""
        self.templates.observe(o.group_id for o in tagged if isinstance(o, inputs.Encoded))
        hits, misses = self.encoder.cache_hits, self.encoder.cache_misses
        if hits + misses:
            self.metrics.cache_hit_ratio.set(hits / (hits + misses))
        self.metrics.cache_bytes.set(self.encoder.cache_bytes)
        self.metrics.lines_in_flight.set(self.tracker.in_flight)
