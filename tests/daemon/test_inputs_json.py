"""JSON inputs without Kafka: decoding events, the enrich splice, annotations vs the schema."""

from __future__ import annotations

import json

import jsonschema
import orjson
import pytest
from kinds_support import KindEngine

from logdelim.daemon import inputs
from logdelim.daemon.records import Source, enriched_value, load_annotation_schema, load_schema, record_value

SOURCE = Source("logs.json", 1, 7, 1_700_000_000_000)
LOG = "2024-05-01 12:00:00 INFO worker 7 done in 35ms"


def _decode(value: bytes | None, field: str = "log", max_line_bytes: int = 4096):
    return inputs.decode_event(value, max_line_bytes, field.split("."))


@pytest.mark.parametrize(
    ("value", "field", "line"),
    [
        (b'{"log": "plain line"}', "log", "plain line"),
        (b'{"log": "docker appends one newline\\n", "stream": "stdout"}', "log", "docker appends one newline"),
        (b'{"message": "two\\nlines\\r\\n"}', "message", "two\nlines"),
        (b'{"kubernetes": {"msg": "nested"}, "log": "not this"}', "kubernetes.msg", "nested"),
        ('{"log": "caf\u00e9 \\u65e5\\u672c"}'.encode(), "log", "caf\u00e9 \u65e5\u672c"),
        (b'{"log": "tab\\tand \\u001b[31mansi\\u001b[0m"}', "log", "tab\tand \x1b[31mansi\x1b[0m"),
        (b'{"log": ""}', "log", ""),
        (b'  {"log": "whitespace around the object"}\n', "log", "whitespace around the object"),
    ],
)
def test_the_line_is_the_string_at_the_field(value: bytes, field: str, line: str) -> None:
    decoded = _decode(value, field)
    assert not isinstance(decoded, inputs.Rejection), decoded
    assert decoded[0] == line
    assert decoded[1] == json.loads(value), "the parsed event comes back for enrich mode"


@pytest.mark.parametrize(
    ("value", "field", "reason", "detail"),
    [
        (None, "log", inputs.NULL_VALUE, "tombstone"),
        (b'{"log": "' + b"x" * 5000 + b'"}', "log", inputs.TOO_LONG, "max_line_bytes 4096"),
        (b'{"log": "\xff\xfe"}', "log", inputs.INVALID_UTF8, "invalid UTF-8 at byte 9"),
        (b"2024-05-01 a plain line", "log", inputs.NOT_JSON, "not JSON"),
        (b'{"log": "unterminated', "log", inputs.NOT_JSON, "not JSON"),
        (b"", "log", inputs.NOT_JSON, "not JSON"),
        (b'["log", "an array"]', "log", inputs.NOT_JSON, "a JSON array, not an object"),
        (b'"a string"', "log", inputs.NOT_JSON, "a JSON string, not an object"),
        (b"42", "log", inputs.NOT_JSON, "a JSON number, not an object"),
        (b"null", "log", inputs.NOT_JSON, "a JSON null, not an object"),
        (b'{"message": "elsewhere"}', "log", inputs.MISSING_FIELD, "no field 'log'"),
        (b'{"kubernetes": {"pod": "p"}}', "kubernetes.msg", inputs.MISSING_FIELD, "no field 'kubernetes.msg'"),
        (b'{"kubernetes": "flat"}', "kubernetes.msg", inputs.MISSING_FIELD, "no field 'kubernetes.msg'"),
        (b'{"log": 42}', "log", inputs.FIELD_NOT_STRING, "field 'log' is a JSON number, not a string"),
        (b'{"log": null}', "log", inputs.FIELD_NOT_STRING, "is a JSON null"),
        (b'{"log": {"inner": "x"}}', "log", inputs.FIELD_NOT_STRING, "is a JSON object"),
        (b'{"log": ["x"]}', "log", inputs.FIELD_NOT_STRING, "is a JSON array"),
        (b'{"log": true}', "log", inputs.FIELD_NOT_STRING, "is a JSON boolean"),
        (b'{"log": "nul\\u0000inside"}', "log", inputs.CONTROL_CHARS, "U+0000 at 3 of field 'log'"),
    ],
)
def test_bad_events_name_their_reason(value: bytes | None, field: str, reason: str, detail: str) -> None:
    result = _decode(value, field)
    assert isinstance(result, inputs.Rejection)
    assert result.reason == reason and result.reason in inputs.DEAD_LETTER_REASONS
    assert detail in result.detail


def test_the_new_reasons_are_in_the_metric_label_set() -> None:
    assert {inputs.NOT_JSON, inputs.MISSING_FIELD, inputs.FIELD_NOT_STRING} <= set(inputs.DEAD_LETTER_REASONS)


def test_enrichable_is_the_input_itself_unless_it_has_the_key_already() -> None:
    value = b'{"log": "x", "n": 1}'
    assert inputs.enrichable(value, json.loads(value), "logdelim") is value
    again = b'{"log": "x", "logdelim": {"old": true}, "n": 1}'
    assert json.loads(inputs.enrichable(again, json.loads(again), "logdelim")) == {"log": "x", "n": 1}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (b'{"log":"x"}', b'{"log":"x","logdelim":{"a":1}}'),
        (
            b'{"log": "x", "n": 1.50, "big": 123456789012345678901234567890}\n',
            b'{"log": "x", "n": 1.50, "big": 123456789012345678901234567890,"logdelim":{"a":1}}',
        ),
        (b'{ "log" : "\\u00e9" }  ', b'{ "log" : "\\u00e9","logdelim":{"a":1}}'),
        (b"{}", b'{"logdelim":{"a":1}}'),
        (b"{ \n }", b'{"logdelim":{"a":1}}'),
        (b'{"nested": {}}', b'{"nested": {},"logdelim":{"a":1}}'),
    ],
)
def test_the_annotation_is_spliced_into_the_event_bytes(event: bytes, expected: bytes) -> None:
    out = enriched_value(event, orjson.dumps("logdelim"), b'{"a":1}')
    assert out == expected
    assert list(json.loads(out))[-1] == "logdelim"


def _events(values: list[bytes], field: str = "log") -> tuple[list[str], list[bytes]]:
    lines, events = [], []
    for value in values:
        line, event = _decode(value, field)
        lines.append(line)
        events.append(inputs.enrichable(value, event, "logdelim"))
    return lines, events


def test_enriched_events_keep_every_field_and_gain_the_annotation() -> None:
    values = [
        json.dumps(
            {
                "log": LOG + "\n",
                "stream": "stdout",
                "kubernetes": {"pod": "api-1", "ns": "prod"},
                "time": "2024-05-01T12:00:00.123456789Z",
            }
        ).encode(),
        b'{"log": "", "n": 3}',
        b'{"log": "first a=1\\nsecond b=22", "logdelim": "an older annotation"}',
    ]
    lines, events = _events(values)
    sources = [SOURCE._replace(offset=SOURCE.offset + i) for i in range(len(values))]
    engine = KindEngine()
    outcomes = inputs.encode_messages(engine, lines, sources, events, "logdelim", "log")
    records = inputs.encode_messages(engine, lines, sources)
    schema = load_annotation_schema()
    for value, line, source, outcome, record in zip(values, lines, sources, outcomes, records):
        assert isinstance(outcome, inputs.Encoded) and isinstance(record, inputs.Encoded)
        enriched = json.loads(outcome.value)
        event = json.loads(value)
        annotation = enriched.pop("logdelim")
        assert enriched == {k: v for k, v in event.items() if k != "logdelim"}, "every other field kept"
        jsonschema.validate(annotation, schema)
        assert annotation["field"] == "log" and annotation["source"] == source._asdict()
        # What the record holds, except the line (already in the event at "field").
        expected = json.loads(record.value)
        assert expected.pop("line") == line
        assert annotation == {**expected, "field": "log"}
        assert all(event["log"][t["start"] : t["end"]] == t["text"] for t in annotation["tokens"])
        assert outcome.group_id == record.group_id == annotation["template_id"]
        assert outcome.min_delimiter_confidence == record.min_delimiter_confidence
    assert json.loads(outcomes[0].value)["logdelim"]["tokens"], "a real line has tokens"
    assert outcomes[0].value.startswith(values[0][:-1]), "the input's bytes come first, as they were"


def test_enriching_a_nested_field_names_its_path() -> None:
    value = b'{"kubernetes": {"msg": "GET /index 200", "pod": "p"}, "ts": 1}'
    lines, events = _events([value], "kubernetes.msg")
    [outcome] = inputs.encode_messages(KindEngine(), lines, [SOURCE], events, "annotation", "kubernetes.msg")
    assert isinstance(outcome, inputs.Encoded)
    enriched = json.loads(outcome.value)
    assert enriched["kubernetes"] == {"msg": "GET /index 200", "pod": "p"} and enriched["ts"] == 1
    assert enriched["annotation"]["field"] == "kubernetes.msg"
    assert [t["text"] for t in enriched["annotation"]["tokens"]] == ["GET", "/index", "200"]


def test_a_line_the_model_fails_on_is_rejected_in_enrich_mode_too() -> None:
    class Broken(KindEngine):
        def tag(self, lines: list[str]) -> list:
            raise RuntimeError("boom")

    lines, events = _events([b'{"log": "a b"}'])
    [outcome] = inputs.encode_messages(Broken(), lines, [SOURCE], events, "logdelim", "log")
    assert isinstance(outcome, inputs.Rejection) and outcome.reason == inputs.TAGGING_ERROR


def test_enriching_needs_the_key_and_the_field() -> None:
    with pytest.raises(ValueError, match="enrich_key and input_field"):
        inputs.encode_messages(KindEngine(), ["x"], [SOURCE], [b'{"log": "x"}'])


def test_the_annotation_schema_is_the_record_schema_with_field_for_line() -> None:
    record, annotation = load_schema(), load_annotation_schema()
    assert set(annotation["required"]) == set(record["required"]) - {"line"} | {"field"}
    assert set(annotation["properties"]) == set(record["properties"]) - {"line"} | {"field"}
    assert annotation["properties"]["schema_version"] == record["properties"]["schema_version"]
    jsonschema.Draft202012Validator.check_schema(annotation)
    # A record is not an annotation (it has a line and no field), and the other way round.
    value = json.loads(record_value(SOURCE, "a b", [(0, 1), (2, 3)], "m", 0.9))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(value, annotation)
