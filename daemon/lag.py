"""Fresh high watermarks for partitions the daemon is not fetching.

Consumer lag is high watermark minus position. The main consumer learns a
partition's high watermark from its fetch responses, but a paused partition
(backpressure, or an undeliverable record) is not fetched, so its watermark would
freeze exactly when lag matters most. Tansu's ListOffsets(latest) under-reports
the log end, so this probe asks the way fetches do: a group-less consumer seeks
to the daemon's position, fetches (at most a small batch), and reads the
watermark of the response.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

logger = logging.getLogger(__name__)


class HighWatermarkProbe:
    """Wraps an unstarted, group-less ``AIOKafkaConsumer`` (small fetch sizes) owned by the caller."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self._assigned: set[TopicPartition] = set()
        self._started = False

    async def start(self) -> None:
        """Connect (lazily called by :meth:`highwaters`)."""
        await self.consumer.start()
        self._started = True

    async def stop(self) -> None:
        """Disconnect; also closes a never-started client, which aiokafka would report as unclosed."""
        self._started = False
        await self.consumer.stop()

    async def highwaters(
        self, positions: Mapping[TopicPartition, int], wait_ms: int = 500
    ) -> dict[TopicPartition, int]:
        """High watermarks of ``positions``' partitions, fetched from each partition's position.

        Returns the watermarks known after up to ``wait_ms`` (a partition whose fetch has
        not answered yet keeps the value of the previous probe, if any).
        """
        if not positions:
            return {}
        if not self._started:
            await self.start()
        partitions = set(positions)
        if partitions != self._assigned:
            self.consumer.assign(sorted(partitions))
            self._assigned = partitions
        for tp, position in positions.items():
            self.consumer.seek(tp, position)  # drops any buffered fetch: the next one is fresh
        self.consumer.resume(*partitions)
        try:
            await self.consumer.getmany(*partitions, timeout_ms=wait_ms, max_records=1)
        except KafkaError as exc:
            logger.debug("high watermark probe failed: %r", exc)
        finally:
            self.consumer.pause(*partitions)  # no prefetching between probes
        return {tp: hw for tp in partitions if (hw := self.consumer.highwater(tp)) is not None}
