"""JSON events end to end on the embedded broker: enrich and record modes, kept keys, bad events, patterns.

One daemon enriches the JSON events of two topics it finds by a regex subscription,
keeping their message keys; another writes records for the string at a nested
field. Inputs go to one-partition topics in a known order, so each test finds its
message by topic and offset.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from logdelim.daemon.records import load_annotation_schema, load_schema

pytestmark = pytest.mark.broker

HEADER = ("trace-id", b"abc123")


def _event(log: str, **fields: Any) -> bytes:
    return json.dumps({"log": log, **fields}).encode()


K8S = {"pod_name": "api-7d9f", "namespace_name": "prod", "labels": {"app": "api"}}
# Topic a: events as Fluent Bit ships them, then bad ones; topic b: more events.
INPUTS_A: list[bytes | None] = [
    _event(
        "2024-05-01 12:00:00 INFO Accepted connection from 10.0.0.7 port 5123\n",
        stream="stdout",
        time="2024-05-01T12:00:00.123456789Z",
        kubernetes=K8S,
    ),  # 0
    b'{"log": "disk 93% full on /dev/sda1", "big": 123456789012345678901234567890, "ratio": 1.50}',  # 1 kept as is
    b"2024-05-01 12:00:01 WARN not JSON at all",  # 2 not_json
    b'["log", "an array is not an event"]',  # 3 not_json
    b'{"message": "the wrong field"}',  # 4 missing_field
    b'{"log": {"nested": "not a string"}}',  # 5 field_not_string
    None,  # 6 null_value
    _event("user=bob login ok", logdelim="an older annotation", n=6),  # 7 key replaced
]
INPUTS_B: list[bytes | None] = [
    _event(f"2024-05-01 12:00:{i:02d} INFO worker {i} finished job in {i * 7}ms", seq=i) for i in range(5)
]
ENRICHED_A = {0, 1, 7}
DEAD_A = {2: "not_json", 3: "not_json", 4: "missing_field", 5: "field_not_string", 6: "null_value"}


@pytest.fixture(scope="module")
def enriched(make_topic, kafka_io, unique_name, daemon_launcher, tmp_path_factory) -> dict:
    """One daemon enriching events of the two topics matching its pattern; what it wrote, by topic and offset."""
    prefix = unique_name("jsonin")
    topic_a, topic_b = make_topic(f"{prefix}-a"), make_topic(f"{prefix}-b")
    unmatched = make_topic("jsonin-other")  # not matched: nothing from it may show up
    output, dead = make_topic("json-enriched"), make_topic("json-dead")
    kafka_io.produce(topic_a, INPUTS_A, partition=0, headers=[HEADER])
    kafka_io.produce(topic_b, INPUTS_B, partition=0, headers=[HEADER])
    kafka_io.produce(unmatched, [_event("must not be read")], partition=0)
    launcher = daemon_launcher(tmp_path_factory.mktemp("json-enrich"))
    try:
        daemon = launcher.launch(
            input_topics=None,
            output_topic=output,
            dead_letter_topic=dead,
            group_id=unique_name("json-enrich"),
            kafka={"input_pattern": re.escape(prefix) + r"-[ab]-"},
            input={"format": "json", "field": "log"},
            output={"mode": "enrich", "key": "input"},
        )
        total = len(INPUTS_A) + len(INPUTS_B)
        daemon.wait_for(
            lambda: (
                daemon.metric("logdelim_records_produced_total") + daemon.metric("logdelim_dead_letters_total") >= total
            ),
            60,
            "all inputs handled",
        )
        metrics = {
            "dead": {
                reason: daemon.metric("logdelim_dead_letters_total", reason=reason) for reason in set(DEAD_A.values())
            },
            "consumed": {
                topic: daemon.metric("logdelim_lines_consumed_total", topic=topic)
                for topic in (topic_a, topic_b, unmatched)
            },
        }
        rc, _ = daemon.stop()
        group = daemon.config["kafka"]["group_id"]
        committed = {topic: kafka_io.committed(group, topic, partitions=1) for topic in (topic_a, topic_b)}
    finally:
        launcher.kill_all()
    records: dict[tuple[str, int], list] = {}
    for message in kafka_io.consume(output, count=len(ENRICHED_A) + len(INPUTS_B), timeout_s=20):
        source = json.loads(message.value)["logdelim"]["source"]
        records.setdefault((source["topic"], source["offset"]), []).append(message)
    dead_letters: dict[tuple[str, int], list] = {}
    for message in kafka_io.consume(dead, count=len(DEAD_A), timeout_s=20):
        headers = dict(message.headers)
        key = (headers["logdelim.source.topic"].decode(), int(headers["logdelim.source.offset"]))
        dead_letters.setdefault(key, []).append(message)
    return {
        "a": topic_a,
        "b": topic_b,
        "records": records,
        "dead": dead_letters,
        "metrics": metrics,
        "rc": rc,
        "committed": committed,
        "log": Path(daemon.log_path).read_text(),
    }


def _enriched(outcome: dict, topic: str, offset: int, value: bytes | None) -> tuple[dict, dict, Any]:
    """The enriched event of ``topic``@``offset`` checked against its input: (event, annotation, message)."""
    messages = outcome["records"].get((topic, offset), [])
    assert len(messages) == 1, f"{topic}@{offset}: {len(messages)} enriched events"
    message = messages[0]
    assert message.key == f"k{offset}".encode(), "output.key input: the input message's key"
    assert (HEADER[0], HEADER[1]) in list(message.headers), "input headers are carried over"
    assert value is not None
    event = json.loads(message.value)
    annotation = event.pop("logdelim")
    original = json.loads(value)
    assert event == {k: v for k, v in original.items() if k != "logdelim"}, "every other field kept"
    jsonschema.validate(annotation, load_annotation_schema())
    assert annotation["field"] == "log"
    assert annotation["source"]["topic"] == topic and annotation["source"]["offset"] == offset
    assert annotation["source"]["partition"] == 0
    assert all(event["log"][t["start"] : t["end"]] == t["text"] for t in annotation["tokens"])
    return event, annotation, message


def test_enriched_events_keep_their_fields_and_gain_the_annotation(enriched: dict) -> None:
    event, annotation, message = _enriched(enriched, enriched["a"], 0, INPUTS_A[0])
    assert event["kubernetes"] == K8S and event["stream"] == "stdout"
    assert event["log"].endswith("\n"), "the event is not changed; only the tagged line loses its newline"
    assert "10.0.0.7" in [t["text"] for t in annotation["tokens"]]
    assert annotation["template"] and annotation["template_id"]
    assert message.value.startswith(INPUTS_A[0][:-1]), "the input's bytes come first, untouched"


def test_the_event_bytes_are_kept_exactly(enriched: dict) -> None:
    _, _, message = _enriched(enriched, enriched["a"], 1, INPUTS_A[1])
    # Integers beyond 64 bits and number spellings survive: the annotation is spliced in.
    assert message.value.startswith(INPUTS_A[1][:-1] + b',"logdelim":')


def test_an_annotation_already_in_the_event_is_replaced(enriched: dict) -> None:
    event, annotation, message = _enriched(enriched, enriched["a"], 7, INPUTS_A[7])
    assert event["n"] == 6 and isinstance(annotation, dict)
    assert message.value.count(b'"logdelim"') == 1, "no doubled key"


@pytest.mark.parametrize("offset", sorted(DEAD_A))
def test_bad_events_reach_the_dead_letter_topic_with_their_reason_and_bytes(enriched: dict, offset: int) -> None:
    topic = enriched["a"]
    messages = enriched["dead"].get((topic, offset), [])
    assert len(messages) == 1, f"{topic}@{offset}: {len(messages)} dead letters"
    assert (topic, offset) not in enriched["records"]
    message = messages[0]
    headers = dict(message.headers)
    assert headers["logdelim.reason"] == DEAD_A[offset].encode()
    assert headers["logdelim.detail"], "a detail says what was wrong"
    assert headers["logdelim.source.partition"] == b"0" and headers[HEADER[0]] == HEADER[1]
    assert message.value == INPUTS_A[offset], "the original bytes, untouched"
    assert message.key == f"{topic}:0:{offset}".encode(), "dead letters keep their source key"
    assert enriched["metrics"]["dead"][DEAD_A[offset]] >= 1


def test_dead_letter_details_say_what_was_wrong(enriched: dict) -> None:
    def detail(offset: int) -> str:
        return dict(enriched["dead"][(enriched["a"], offset)][0].headers)["logdelim.detail"].decode()

    assert detail(2).startswith("not JSON")
    assert detail(3) == "a JSON array, not an object"
    assert "no field 'log'" in detail(4)
    assert detail(5) == "field 'log' is a JSON object, not a string"
    entries = [line for line in enriched["log"].splitlines() if "dead letter missing_field" in line]
    assert entries and f"{enriched['a']}[0]@4" in entries[0], "logged with topic, partition and offset"


def test_the_pattern_subscription_consumes_both_matching_topics(enriched: dict) -> None:
    for offset, value in enumerate(INPUTS_B):
        event, annotation, _ = _enriched(enriched, enriched["b"], offset, value)
        assert event["seq"] == offset
    consumed = enriched["metrics"]["consumed"]
    assert consumed[enriched["a"]] == len(INPUTS_A) and consumed[enriched["b"]] == len(INPUTS_B)
    assert sum(consumed.values()) == len(INPUTS_A) + len(INPUTS_B), "the unmatched topic is not read"
    assert all(topic in (enriched["a"], enriched["b"]) for topic, _ in enriched["records"])
    assert enriched["committed"] == {enriched["a"]: {0: len(INPUTS_A)}, enriched["b"]: {0: len(INPUTS_B)}}
    assert enriched["rc"] == 0


def test_record_mode_tags_the_string_at_a_nested_field(make_topic, kafka_io, unique_name, start_daemon) -> None:
    source, output, dead = make_topic("json-rec-in"), make_topic("json-rec-out"), make_topic("json-rec-dead")
    lines = [f"GET /api/items/{i} 200 {i * 3}ms" for i in range(3)]
    values: list[bytes | None] = [
        json.dumps({"kubernetes": {"msg": line, "pod": "p"}, "i": i}).encode() for i, line in enumerate(lines)
    ]
    values.append(b'{"kubernetes": {"pod": "p"}}')
    kafka_io.produce(source, values, partition=0)
    daemon = start_daemon(
        input_topics=[source],
        output_topic=output,
        dead_letter_topic=dead,
        group_id=unique_name("json-rec"),
        input={"format": "json", "field": "kubernetes.msg"},
    )
    daemon.wait_for(
        lambda: (
            daemon.metric("logdelim_records_produced_total") + daemon.metric("logdelim_dead_letters_total")
            >= len(values)
        ),
        60,
        "all inputs handled",
    )
    assert daemon.metric("logdelim_dead_letters_total", reason="missing_field") == 1
    rc, _ = daemon.stop()
    assert rc == 0
    records = {json.loads(m.value)["source"]["offset"]: m for m in kafka_io.consume(output, count=3, timeout_s=20)}
    assert sorted(records) == [0, 1, 2]
    for offset, message in records.items():
        record = json.loads(message.value)
        jsonschema.validate(record, load_schema())
        assert record["line"] == lines[offset], "the record's line is the event's field"
        assert message.key == f"{source}:0:{offset}".encode(), "output.key source by default"
    [letter] = kafka_io.consume(dead, count=1, timeout_s=20)
    assert letter.value == values[3] and dict(letter.headers)["logdelim.reason"] == b"missing_field"
