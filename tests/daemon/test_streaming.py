"""The daemon against the real embedded broker: the acceptance run, group handover, a second client.

Every test starts ``logdelim run`` as a subprocess (``start_daemon``), so signals,
exit status and the metrics endpoint are those users get.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter

import jsonschema
import pytest

from logdelim.daemon.records import load_schema
from logdelim.model.templates import template_id

pytestmark = pytest.mark.broker

PARTITIONS = 4


def _records_by_source(messages: list) -> Counter:
    return Counter(
        (json.loads(m.value)["source"]["partition"], json.loads(m.value)["source"]["offset"]) for m in messages
    )


@pytest.mark.slow
def test_acceptance_20000_lines_one_valid_record_each_then_clean_sigterm(
    make_topic, kafka_io, unique_name, start_daemon, loghub_lines
) -> None:
    lines = loghub_lines(20_000)
    assert len(lines) == 20_000
    source, output, dead = make_topic("acc-in", PARTITIONS), make_topic("acc-out", PARTITIONS), make_topic("acc-dead")
    # Round-robin: message i lands on partition i % 4 at offset i // 4.
    kafka_io.produce(source, [line.encode() for line in lines], headers=[("origin", b"acceptance")])
    group = unique_name("acc")
    daemon = start_daemon(input_topics=[source], output_topic=output, dead_letter_topic=dead, group_id=group)
    started = time.monotonic()
    daemon.wait_for(
        lambda: daemon.metric("logdelim_records_produced_total", topic=output) >= 20_000,
        timeout_s=240,
        what="20,000 records",
    )
    elapsed_s = time.monotonic() - started

    assert daemon.metric("logdelim_lines_consumed_total", topic=source) == 20_000
    assert daemon.metric("logdelim_dead_letters_total") == 0
    assert daemon.metric("logdelim_batch_size_lines_count") > 0
    assert daemon.metric("logdelim_end_to_end_seconds_count") == 20_000
    assert daemon.metric("logdelim_model_info") == 1
    new_templates = daemon.metric("logdelim_new_templates_total")
    templates_tracked = daemon.metric("logdelim_templates_tracked")
    assert daemon.get("/healthz")[0] == 200 and daemon.get("/readyz")[0] == 200
    daemon.wait_for(
        lambda: (
            daemon.metric("logdelim_consumer_lag_messages") == 0
            and daemon.get("/metrics")[1].count("logdelim_consumer_lag_messages{") == PARTITIONS
        ),
        timeout_s=10,
        what="zero lag on all partitions",
    )

    rc, stop_s = daemon.stop(signal.SIGTERM)
    assert rc == 0, daemon.log()
    assert stop_s < 10
    assert kafka_io.committed(group, source, PARTITIONS) == {p: 20_000 // PARTITIONS for p in range(PARTITIONS)}

    messages = kafka_io.consume(output, count=20_000, timeout_s=60)
    per_source = _records_by_source(messages)
    assert len(per_source) == 20_000 and max(per_source.values()) == 1, "exactly one record per input"
    validator = jsonschema.Draft202012Validator(load_schema())
    group_ids: set[str] = set()
    for message in messages:
        record = json.loads(message.value)
        validator.validate(record)
        src = record["source"]
        assert message.partition == src["partition"], "same partition number as the source"
        assert message.key == f"{source}:{src['partition']}:{src['offset']}".encode()
        assert ("origin", b"acceptance") in list(message.headers)
        line = lines[src["offset"] * PARTITIONS + src["partition"]]
        assert record["line"] == line
        assert all(line[t["start"] : t["end"]] == t["text"] for t in record["tokens"])
        assert [t["start"] for t in record["tokens"]] == sorted(t["start"] for t in record["tokens"])
        # The shipped model has a kind head: every record has a template and every token a kind.
        assert record["template_id"] == template_id(record["template"])
        assert record["group_id"] == template_id(record["group"])
        assert all(t["kind"] is not None for t in record["tokens"])
        group_ids.add(record["group_id"])
    # Counted in the daemon's process, once per group id its records carry (the table holds them all).
    assert new_templates == templates_tracked == len(group_ids)
    print(f"20,000 lines through the daemon in {elapsed_s:.1f} s; SIGTERM exit in {stop_s:.1f} s")


def _assigned_partitions(daemon) -> set[int]:
    from prometheus_client.parser import text_string_to_metric_families

    _, body = daemon.get("/metrics")
    return {
        int(s.labels["partition"])
        for f in text_string_to_metric_families(body)
        for s in f.samples
        if s.name == "logdelim_consumer_lag_messages"
    }


def test_two_daemons_split_partitions_and_hand_over_without_loss(
    make_topic, kafka_io, unique_name, start_daemon, loghub_lines
) -> None:
    lines = [line.encode() for line in loghub_lines(4000)]
    source, output, dead = make_topic("grp-in", PARTITIONS), make_topic("grp-out", PARTITIONS), make_topic("grp-dead")
    group = unique_name("grp")
    kafka_io.produce(source, lines[:1000])
    config = dict(input_topics=[source], output_topic=output, dead_letter_topic=dead, group_id=group)
    first = start_daemon(**config)
    second = start_daemon(**config)
    kafka_io.produce(source, lines[1000:2000])  # traffic during and after the rebalance

    def split() -> bool:
        a, b = _assigned_partitions(first), _assigned_partitions(second)
        return bool(a) and bool(b) and not (a & b) and (a | b) == set(range(PARTITIONS))

    second.wait_for(split, timeout_s=60, what="both daemons to own disjoint partitions")
    rc, stop_s = first.stop(signal.SIGINT)
    assert rc == 0 and stop_s < 10, first.log()

    kafka_io.produce(source, lines[2000:])
    second.wait_for(
        lambda: _assigned_partitions(second) == set(range(PARTITIONS)),
        timeout_s=60,
        what="the survivor to take over every partition",
    )
    messages = kafka_io.consume(output, count=4000, timeout_s=90)
    per_source = _records_by_source(messages)
    expected = {(i % PARTITIONS, i // PARTITIONS) for i in range(4000)}
    assert expected - set(per_source) == set(), "no line lost across the handover"
    rc, _ = second.stop()
    assert rc == 0
    assert kafka_io.committed(group, source, PARTITIONS) == {p: 1000 for p in range(PARTITIONS)}


def test_confluent_kafka_client_produces_input_and_consumes_output(
    make_topic, broker, unique_name, start_daemon, loghub_lines
) -> None:
    import confluent_kafka

    lines = loghub_lines(300)
    source, output, dead = make_topic("ck-in", 2), make_topic("ck-out", 2), make_topic("ck-dead")
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": broker.bootstrap_servers, "acks": "all", "enable.idempotence": False}
    )
    for i, line in enumerate(lines):
        producer.produce(source, line.encode(), partition=i % 2, headers=[("client", b"librdkafka")])
    assert producer.flush(30) == 0

    start_daemon(input_topics=[source], output_topic=output, dead_letter_topic=dead, group_id=unique_name("ck"))
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": unique_name("ck-reader"),
            "enable.auto.commit": False,
        }
    )
    consumer.assign([confluent_kafka.TopicPartition(output, p, confluent_kafka.OFFSET_BEGINNING) for p in (0, 1)])
    records = []
    deadline = time.monotonic() + 60
    try:
        while len(records) < len(lines) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            records.append((message.key(), json.loads(message.value()), dict(message.headers())))
    finally:
        consumer.close()
    assert len(records) == len(lines)
    for key, record, headers in records:
        src = record["source"]
        assert key == f"{source}:{src['partition']}:{src['offset']}".encode()
        assert record["line"] == lines[src["offset"] * 2 + src["partition"]]
        assert headers["client"] == b"librdkafka"


def test_sigterm_exits_within_10_s_even_when_the_broker_is_gone(daemon_launcher, tmp_path) -> None:
    from logdelim.tools.broker import EmbeddedBroker, create_topics

    with EmbeddedBroker() as own_broker:  # a private broker: this test kills it
        asyncio.run(create_topics(own_broker.bootstrap_servers, {"gone-in": 1, "gone-out": 1, "gone-dead": 1}))
        launcher = daemon_launcher(tmp_path, own_broker.bootstrap_servers)
        try:
            daemon = launcher.launch(
                input_topics=["gone-in"], output_topic="gone-out", dead_letter_topic="gone-dead", group_id="gone"
            )
            own_broker.stop(timeout_s=0.5)
            time.sleep(1)
            rc, stop_s = daemon.stop(signal.SIGTERM)
        finally:
            launcher.kill_all()
    assert rc == 0, daemon.log()
    assert stop_s < 10
