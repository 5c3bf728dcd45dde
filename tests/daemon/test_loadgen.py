"""The bench's load generator: paced lines through a real bare loop, timed by its librdkafka watcher."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from logdelim.tools.bench import PacedPassthrough
from logdelim.tools.broker import EmbeddedBroker
from logdelim.tools.loadgen import LoadGenerator, percentile

pytestmark = pytest.mark.broker


async def test_paced_lines_come_back_timed_once_each(broker: EmbeddedBroker, tmp_path: Path) -> None:
    lines = [f"line {i} of the paced input" for i in range(300)]
    load = await LoadGenerator(broker.bootstrap_servers, lines, tmp_path).start()
    passthrough = PacedPassthrough(broker.bootstrap_servers, load)
    try:
        await passthrough.start(lines[:20])
        point = await passthrough.latency(start=20, rate_per_s=400.0, seconds=1.0)
        again = await passthrough.latency(start=20 + point["sent"], rate_per_s=400.0, seconds=0.5)
    finally:
        await passthrough.stop()
        await load.stop()
    # Every line sent was acknowledged and came out once, and only this phase's records are timed.
    assert point["sent"] == 400 and point["unacknowledged"] == 0
    assert point["complete"] and point["records"] == point["sent"]
    assert again["complete"] and again["records"] == again["sent"] == 200
    assert 0 < point["p50_ms"] <= point["p99_ms"] <= point["max_ms"] < 10_000


def test_a_bad_request_is_an_error_and_the_child_goes_on(
    broker: EmbeddedBroker, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = make_topic("loadgen", partitions=2)

    async def requests() -> None:
        load = await LoadGenerator(broker.bootstrap_servers, ["a line"], tmp_path).start()
        try:
            with pytest.raises(RuntimeError, match="KeyError"):
                await load.wait_for(topic, 1, timeout_s=1.0)  # not watched yet
            await load.watch(topic)
            assert await load.wait_for(topic, 0, timeout_s=1.0) == (True, 0)
            assert await load.wait_for(topic, 1, timeout_s=0.5) == (False, 0)
        finally:
            await load.stop()

    asyncio.run(requests())


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None
