"""Input policy and output formats, without Kafka: decode, multi-line joins, records vs the schema."""
from __future__ import annotations

import json

import jsonschema
import pytest

from logdelim.daemon import inputs
from logdelim.daemon.records import Source, dead_letter_headers, load_schema, record_key, record_value
from logdelim.model.engine import TagResult
from logdelim.model.spans import token_bounds

SOURCE = Source("logs.raw", 3, 42, 1_700_000_000_000)


@pytest.mark.parametrize(("value", "expected"), [
    (b"plain line", "plain line"),
    (b"with newline\n", "with newline"),
    (b"crlf\r\n", "crlf"),
    (b"", ""),
    (b"\n", ""),
    (b"tab\tand \x1b[31mansi\x1b[0m", "tab\tand \x1b[31mansi\x1b[0m"),
    ("caf\u00e9 \u65e5\u672c".encode(), "caf\u00e9 \u65e5\u672c"),
    (b"two\nlines\n", "two\nlines"),
])
def test_decodable_values_become_lines(value: bytes, expected: str) -> None:
    assert inputs.decode(value, max_line_bytes=1024) == expected


@pytest.mark.parametrize(("value", "reason"), [
    (None, inputs.NULL_VALUE),
    (b"\xff\xfe broken", inputs.INVALID_UTF8),
    (b"nul\x00inside", inputs.CONTROL_CHARS),
    (b"bell\x07", inputs.CONTROL_CHARS),
    (b"del\x7f", inputs.CONTROL_CHARS),
    (b"x" * 1025, inputs.TOO_LONG),
])
def test_rejected_values_name_their_reason(value: bytes | None, reason: str) -> None:
    result = inputs.decode(value, max_line_bytes=1024)
    assert isinstance(result, inputs.Rejection)
    assert result.reason == reason and result.reason in inputs.DEAD_LETTER_REASONS


def test_segments_skip_terminators_and_empty_lines() -> None:
    line = "a b\r\nc\n\nd e"
    assert [line[s:e] for s, e in inputs.segments(line)] == ["a b", "c", "d e"]
    assert inputs.segments("") == []


def _fake_result(line: str) -> TagResult:
    labels = "".join("D" if c in " =" else "O" for c in line)
    conf = [0.9] * labels.count("D")
    return TagResult(line, labels, token_bounds(labels), conf, min(conf, default=1.0) - 0.1)


def test_join_offsets_tokens_into_the_whole_message() -> None:
    line = "first a=1\nsecond b"
    parts = inputs.segments(line)
    tagged = inputs.join(parts, [_fake_result(line[s:e]) for s, e in parts])
    assert [line[s:e] for s, e in tagged.bounds] == ["first", "a", "1", "second", "b"]
    assert tagged.bounds[3] == (10, 16)
    assert tagged.min_confidence == pytest.approx(0.8)


def test_record_matches_schema_and_tokens_match_line() -> None:
    line = "GET /index.html 200"
    value = record_value(SOURCE, line, [(0, 3), (4, 15), (16, 19)], "charbilstm-test", 0.93)
    record = json.loads(value)
    jsonschema.validate(record, load_schema())
    assert record["source"] == {"topic": "logs.raw", "partition": 3, "offset": 42, "timestamp_ms": 1_700_000_000_000}
    assert [t["text"] for t in record["tokens"]] == ["GET", "/index.html", "200"]
    assert record_key(SOURCE) == b"logs.raw:3:42"


def test_schema_rejects_a_record_missing_a_field() -> None:
    record = json.loads(record_value(SOURCE, "x", [(0, 1)], "m", 1.0))
    del record["model"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, load_schema())


def test_dead_letter_headers_keep_input_headers_and_add_coordinates() -> None:
    headers = dict(dead_letter_headers(SOURCE, inputs.INVALID_UTF8, "bad byte", [("trace", b"t1")]))
    assert headers == {"trace": b"t1", "logdelim.reason": b"invalid_utf8", "logdelim.detail": b"bad byte",
                       "logdelim.source.topic": b"logs.raw", "logdelim.source.partition": b"3",
                       "logdelim.source.offset": b"42", "logdelim.source.timestamp_ms": b"1700000000000"}


@pytest.mark.parametrize("line", ["tab\there \x1b[31mred\x1b[0m", "ünïcødé ✓ 日本 \u2028 \U0001F600",
                                  'quote " back\\slash', "", "first\nsecond\r\nthird"])
def test_record_bytes_are_compact_utf8_json_of_the_line(line: str) -> None:
    bounds = [(0, len(line))] if line else []
    value = record_value(SOURCE, line, bounds, "m", 0.123456789)
    record = json.loads(value)
    jsonschema.validate(record, load_schema())
    assert record["line"] == line and record["min_confidence"] == 0.123457
    # The same bytes the standard library writes compactly without ASCII escapes.
    assert value == json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
