"""The high-watermark probe reads the log end of partitions nobody fetches (paused ones)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from logdelim.daemon.lag import HighWatermarkProbe

pytestmark = pytest.mark.broker


def test_probe_reports_log_end_and_follows_new_messages(make_topic, kafka_io, broker) -> None:
    topic = make_topic("hwm", partitions=2)
    kafka_io.produce(topic, [b"x"] * 30, partition=0)
    kafka_io.produce(topic, [b"y"] * 7, partition=1)
    p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)

    async def scenario() -> tuple[dict, dict]:
        probe = HighWatermarkProbe(
            AIOKafkaConsumer(
                bootstrap_servers=broker.bootstrap_servers,
                group_id=None,
                enable_auto_commit=False,
                fetch_max_wait_ms=100,
            )
        )
        try:
            first = await probe.highwaters({p0: 0, p1: 7})  # p1 at its end: an empty fetch still tells
            await asyncio.to_thread(kafka_io.produce, topic, [b"z"] * 5, 0)
            second = {}
            for _ in range(10):  # the first probe after new messages may still answer the old end
                second = await probe.highwaters({p0: 10})
                if second.get(p0) == 35:
                    break
            return first, second
        finally:
            await probe.stop()

    first, second = asyncio.run(scenario())
    assert first == {p0: 30, p1: 7}
    assert second == {p0: 35}
