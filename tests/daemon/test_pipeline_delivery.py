"""Pipeline delivery rules in-process, with real aiokafka clients on the session broker.

The engine is the real one wrapped in a spy that can slow it down, so the tests
can watch backpressure and failure handling from inside; Kafka is never mocked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kinds_support import KindEngine
from prometheus_client import CollectorRegistry

from logdelim.daemon.encoder import LocalEncoder
from logdelim.daemon.metrics import Metrics
from logdelim.daemon.pipeline import Pipeline, PipelineSettings
from logdelim.model.engine import Engine

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def engine(model_path: str | None) -> Engine:
    return Engine.load(model_path, device="cpu", num_threads=1)


class SpyEngine:
    """Delegates to the real engine; sleeps ``delay_s`` per call and records what ``observe`` returns."""

    def __init__(self, engine: Engine, delay_s: float = 0.0) -> None:
        self.engine = engine
        self.delay_s = delay_s
        self.observe = lambda: None
        self.observations: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def tag(self, lines: list[str]) -> list:
        self.observations.append(self.observe())
        time.sleep(self.delay_s)
        return self.engine.tag(lines)


async def _run_pipeline(
    bootstrap: str,
    source: str,
    output: str,
    dead: str,
    group: str,
    engine: Any,
    until: Any,
    timeout_s: float = 60,
    producer_options: dict | None = None,
    on_created: Any = None,
    **settings: Any,
) -> tuple[Pipeline, Metrics]:
    """Run a Pipeline until ``until(pipeline, metrics)`` holds, then stop it gracefully."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=4000,
        heartbeat_interval_ms=1000,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, **(producer_options or {})
    )
    metrics = Metrics(CollectorRegistry())
    options = dict(
        max_lines=64,
        max_wait_ms=10,
        max_in_flight_lines=4096,
        max_line_bytes=65536,
        max_message_bytes=1024 * 1024,
        commit_interval_ms=200,
        produce_retries=1,
        drain_timeout_s=3.0,
        max_tracked_templates=1000,
        tagger_stall_s=5.0,
        input_pattern=None,
        input_format="raw",
        input_field="log",
        output_mode="record",
        output_key="source",
        enrich_key="logdelim",
    )
    options.update(settings)
    config = PipelineSettings(input_topics=[source], output_topic=output, dead_letter_topic=dead, **options)
    pipeline = Pipeline(consumer, producer, LocalEncoder(engine), metrics, config)
    if on_created is not None:
        on_created(pipeline)
    await producer.start()
    await consumer.start()
    try:
        task = asyncio.create_task(pipeline.run())
        deadline = time.monotonic() + timeout_s
        while not until(pipeline, metrics) and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.05)
        pipeline.request_stop()
        await asyncio.wait_for(task, 15)
    finally:
        await consumer.stop()
        await producer.stop()
    return pipeline, metrics


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_backpressure_pauses_fetching_and_bounds_lines_in_flight(
    make_topic, kafka_io, unique_name, engine, broker
) -> None:
    source, output, dead = make_topic("bp-in", 2), make_topic("bp-out", 2), make_topic("bp-dead")
    count = 2000
    kafka_io.produce(source, [f"2024-01-01 00:00:{i % 60:02d} INFO job {i} done".encode() for i in range(count)])
    spy = SpyEngine(engine, delay_s=0.02)
    box: dict[str, Any] = {}
    spy.observe = lambda: (box["pipeline"].tracker.in_flight, len(box["pipeline"].consumer.paused()))
    max_lines, bound = 32, 128

    group = unique_name("bp")
    pipeline, metrics = asyncio.run(
        _run_pipeline(
            broker.bootstrap_servers,
            source,
            output,
            dead,
            group,
            spy,
            until=lambda p, m: _value(m, "logdelim_records_produced_total", topic=output) >= count,
            on_created=lambda p: box.update(pipeline=p),
            max_lines=max_lines,
            max_in_flight_lines=bound,
        )
    )
    assert _value(metrics, "logdelim_records_produced_total", topic=output) == count
    in_flight = [seen[0] for seen in spy.observations]
    paused = [seen[1] for seen in spy.observations]
    assert max(in_flight) <= bound + max_lines, "fetching stops near the bound"
    assert max(paused) == 2, "both partitions were paused at some point"
    assert kafka_io.committed(group, source, 2) == {0: count // 2, 1: count // 2}


def test_a_drain_that_runs_out_of_time_warns_and_commits_only_what_was_acknowledged(
    make_topic, kafka_io, unique_name, engine, broker, caplog
) -> None:
    # A stop while tagging lags far behind (a saturated daemon on new shapes): the drain gives up,
    # which is expected, not a crash: a warning naming the timeout, no traceback, no error.
    topics = source, output, _ = make_topic("dr-in"), make_topic("dr-out"), make_topic("dr-dead")
    count = 400
    kafka_io.produce(source, [f"2024-01-01 00:00:{i % 60:02d} INFO job {i} done".encode() for i in range(count)])
    spy = SpyEngine(engine, delay_s=0.3)
    group = unique_name("dr")

    def started(pipeline: Any, metrics: Any) -> bool:
        return len(spy.observations) >= 2  # tagging is under way: stop now

    with caplog.at_level(logging.INFO, logger="logdelim.daemon.pipeline"):
        run = _run_pipeline(broker.bootstrap_servers, *topics, group, spy, started, max_lines=8, drain_timeout_s=0.5)
        _, metrics = asyncio.run(run)
    gave_up = [r for r in caplog.records if "did not finish within the drain" in r.getMessage()]
    assert [r.levelno for r in gave_up] == [logging.WARNING]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    committed = kafka_io.committed(group, source, 1)[0] or 0
    produced = _value(metrics, "logdelim_records_produced_total", topic=output)
    assert committed <= produced < count, "only acknowledged lines are committed; the drain gave up before the rest"


def test_undeliverable_record_stops_commits_on_its_partition_only(
    make_topic, kafka_io, unique_name, engine, broker
) -> None:
    source, output, dead = make_topic("fail-in", 2), make_topic("fail-out", 2), make_topic("fail-dead")
    # Partition 0: short, short, LONG, short. Partition 1: four short lines. A record of the long
    # line exceeds the producer's max_request_size, a real client-side error on every attempt.
    values = [b"a ok 1", b"b ok 1", b"a ok 2", b"b ok 2", b"a " + b"word " * 400, b"b ok 3", b"a ok 4", b"b ok 4"]
    kafka_io.produce(source, values)
    group = unique_name("fail")

    pipeline, metrics = asyncio.run(
        _run_pipeline(
            broker.bootstrap_servers,
            source,
            output,
            dead,
            group,
            engine,
            until=lambda p, m: (
                _value(m, "logdelim_records_produced_total", topic=output) >= 7
                and _value(m, "logdelim_produce_errors_total", topic=output) >= 2
            ),
            producer_options={"max_request_size": 4096},
            max_message_bytes=4096,
            produce_retries=1,
        )
    )
    assert _value(metrics, "logdelim_produce_errors_total", topic=output) == 2, "first attempt plus one resend"
    assert _value(metrics, "logdelim_records_produced_total", topic=output) == 7
    assert _value(metrics, "logdelim_paused_partitions") == 1, "the stuck partition is paused"
    committed = kafka_io.committed(group, source, 2)
    assert committed == {0: 2, 1: 4}, "partition 0 stops before the undeliverable offset 2"


class FailingEngine(SpyEngine):
    """The real engine, except that any batch holding a line with ``BOOM`` raises."""

    def tag(self, lines: list[str]) -> list:
        if any("BOOM" in line for line in lines):
            raise RuntimeError("model exploded")
        return self.engine.tag(lines)


def test_tagging_error_dead_letters_only_the_failing_message(make_topic, kafka_io, unique_name, engine, broker) -> None:
    source, output, dead = make_topic("te-in"), make_topic("te-out"), make_topic("te-dead")
    values = [b"fine line one", b"this one goes BOOM", b"fine line two"]
    kafka_io.produce(source, values, partition=0)
    group = unique_name("te")
    _, metrics = asyncio.run(
        _run_pipeline(
            broker.bootstrap_servers,
            source,
            output,
            dead,
            group,
            FailingEngine(engine),
            until=lambda p, m: (
                _value(m, "logdelim_records_produced_total", topic=output)
                + _value(m, "logdelim_dead_letters_total", reason="tagging_error")
                >= 3
            ),
        )
    )
    assert _value(metrics, "logdelim_records_produced_total", topic=output) == 2
    assert _value(metrics, "logdelim_dead_letters_total", reason="tagging_error") == 1
    (letter,) = kafka_io.consume(dead, count=1, timeout_s=10)
    headers = dict(letter.headers)
    assert letter.value == values[1] and headers["logdelim.source.offset"] == b"1"
    assert b"model exploded" in headers["logdelim.detail"]
    assert kafka_io.committed(group, source, 1) == {0: 3}


def test_new_templates_are_counted_in_the_daemon_process_once_each(make_topic, kafka_io, unique_name, broker) -> None:
    source, output, dead = make_topic("tpl-in", 2), make_topic("tpl-out"), make_topic("tpl-dead")
    # Three templates (the digits are variables), each line repeated with other values; and
    # one message the input policy rejects before tagging (no template).
    shapes = ("user {} logged in", "job {} done in {} ms", "disk {} full")
    values = [shapes[i % 3].format(i, i * 7).encode() for i in range(300)] + [b"\xff not utf-8"]
    kafka_io.produce(source, values)
    _, metrics = asyncio.run(
        _run_pipeline(
            broker.bootstrap_servers,
            source,
            output,
            dead,
            unique_name("tpl"),
            KindEngine(),
            until=lambda p, m: (
                _value(m, "logdelim_records_produced_total", topic=output) >= 300
                and _value(m, "logdelim_dead_letters_total", reason="invalid_utf8") >= 1
            ),
        )
    )
    assert _value(metrics, "logdelim_new_templates_total") == 3
    assert _value(metrics, "logdelim_templates_tracked") == 3
    templates = {json.loads(m.value)["template"] for m in kafka_io.consume(output, count=300, timeout_s=20)}
    assert templates == {"user <*> logged in", "job <*> done in <*> ms", "disk <*> full"}
