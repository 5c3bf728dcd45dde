"""Input policy and output formats, without Kafka: decode, multi-line joins, records vs the schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from kinds_support import KindEngine, KindResult

from logdelim.daemon import inputs
from logdelim.daemon.records import Source, dead_letter_headers, load_schema, record_key, record_value
from logdelim.model.engine import TagResult
from logdelim.model.grouping import StreamGroups
from logdelim.model.spans import token_bounds
from logdelim.model.templates import template, template_id

SOURCE = Source("logs.raw", 3, 42, 1_700_000_000_000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"plain line", "plain line"),
        (b"with newline\n", "with newline"),
        (b"crlf\r\n", "crlf"),
        (b"", ""),
        (b"\n", ""),
        (b"tab\tand \x1b[31mansi\x1b[0m", "tab\tand \x1b[31mansi\x1b[0m"),
        ("caf\u00e9 \u65e5\u672c".encode(), "caf\u00e9 \u65e5\u672c"),
        (b"two\nlines\n", "two\nlines"),
    ],
)
def test_decodable_values_become_lines(value: bytes, expected: str) -> None:
    assert inputs.decode(value, max_line_bytes=1024) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, inputs.NULL_VALUE),
        (b"\xff\xfe broken", inputs.INVALID_UTF8),
        (b"nul\x00inside", inputs.CONTROL_CHARS),
        (b"bell\x07", inputs.CONTROL_CHARS),
        (b"del\x7f", inputs.CONTROL_CHARS),
        (b"x" * 1025, inputs.TOO_LONG),
    ],
)
def test_rejected_values_name_their_reason(value: bytes | None, reason: str) -> None:
    result = inputs.decode(value, max_line_bytes=1024)
    assert isinstance(result, inputs.Rejection)
    assert result.reason == reason and result.reason in inputs.DEAD_LETTER_REASONS


def test_every_control_character_is_rejected_and_the_others_pass() -> None:
    for code in range(0x80):
        result = inputs.decode(f"é{chr(code)}x".encode(), max_line_bytes=1024)
        if chr(code) in "\t\x1b" or code >= 0x20 and code != 0x7F:
            assert result == f"é{chr(code)}x", code
        elif chr(code) in "\n\r":
            assert isinstance(result, str), code
        else:
            # Where it is in the text, in code points (the é before it is two bytes).
            assert result == inputs.Rejection(inputs.CONTROL_CHARS, f"control character U+{code:04X} at 1"), code


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
    tagged = inputs.join(parts, [_fake_result(line[s:e]) for s, e in parts], line)
    assert [line[s:e] for s, e in tagged.bounds] == ["first", "a", "1", "second", "b"]
    assert tagged.bounds[3] == (10, 16)
    assert tagged.min_confidence == pytest.approx(0.8)
    # A checkpoint without a kind head: no kinds, no template.
    assert tagged.token_kinds is None and tagged.template is None and tagged.template_id is None


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
    assert headers == {
        "trace": b"t1",
        "logdelim.reason": b"invalid_utf8",
        "logdelim.detail": b"bad byte",
        "logdelim.source.topic": b"logs.raw",
        "logdelim.source.partition": b"3",
        "logdelim.source.offset": b"42",
        "logdelim.source.timestamp_ms": b"1700000000000",
    }


@pytest.mark.parametrize(
    "line",
    [
        "tab\there \x1b[31mred\x1b[0m",
        "ünïcødé ✓ 日本 \u2028 \U0001f600",
        'quote " back\\slash',
        "",
        "first\nsecond\r\nthird",
    ],
)
def test_record_bytes_are_compact_utf8_json_of_the_line(line: str) -> None:
    bounds = [(0, len(line))] if line else []
    value = record_value(SOURCE, line, bounds, "m", 0.123456789)
    record = json.loads(value)
    jsonschema.validate(record, load_schema())
    assert record["line"] == line and record["min_confidence"] == 0.123457
    # The same bytes the standard library writes compactly without ASCII escapes.
    assert value == json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------- kinds and templates


def test_one_line_takes_the_engine_s_kinds_and_template() -> None:
    line = "12:00 user=bob took 35 ms"
    result = KindResult(line)
    tagged = inputs.join(inputs.segments(line), [result], line, kinds=True)
    assert tagged.token_kinds == "FCCCVC"
    assert tagged.template == "<*> user=bob took <*> ms" == result.template
    assert tagged.template_id == result.template_id
    assert tagged.template_fields == "FV" == result.template_fields


def test_the_engine_s_token_kinds_are_taken_as_they_are() -> None:
    line = "took 35 ms"
    result = TagResult(
        line, "OOOODOODOO", ((0, 4), (5, 7), (8, 10)), (0.9, 0.9), 0.9, "CVC", "took <*> ms", template_id("took <*> ms")
    )
    tagged = inputs.join(inputs.segments(line), [result], line, kinds=True)
    assert (tagged.token_kinds, tagged.template, tagged.template_id) == (
        "CVC",
        "took <*> ms",
        template_id("took <*> ms"),
    )


def test_several_lines_are_one_template_with_terminators_as_delimiters() -> None:
    line = "12:00 start 1\r\n\nend 2 done\n"
    parts = inputs.segments(line)
    tagged = inputs.join(parts, [KindResult(line[s:e]) for s, e in parts], line, kinds=True)
    assert tagged.token_kinds == "FCVCVC"
    # The spec's template of the whole message: whitespace runs (newlines included) become one space.
    kinds = "FFFFFDCCCCCDV" + "DDD" + "CCCDVDCCCC" + "D"
    assert tagged.template == template(line, kinds) == "<*> start <*> end <*> done "
    assert tagged.template_id == template_id(tagged.template)
    assert tagged.template_fields == "FVV"
    assert [line[s:e] for s, e in tagged.bounds] == ["12:00", "start", "1", "end", "2", "done"]


def test_a_line_left_with_a_terminator_gets_kinds_for_all_of_it() -> None:
    line = "a 1\n"  # "a 1\n\n" once decode removed one terminator
    tagged = inputs.join(inputs.segments(line), [KindResult("a 1")], line, kinds=True)
    assert tagged.token_kinds == "CV" and tagged.template == "a <*> "


def test_empty_message_has_the_empty_template_with_a_kind_head() -> None:
    [tagged] = inputs.tag_messages(KindEngine(), [""])
    assert tagged.token_kinds == "" and tagged.template == "" and tagged.template_id == template_id("")
    [tagged] = inputs.tag_messages(_NoKindEngine(), [""])
    assert tagged.token_kinds is None and tagged.template is None and tagged.template_id is None


def test_a_batch_of_one_line_messages_is_tagged_as_each_message_alone() -> None:
    single = ["12:00 user=bob took 35 ms", "12:01 start 1"]
    # The same messages beside one that needs cutting (a terminator) and an empty one.
    mixed = [*single, "end 2 done\n", ""]
    together, cut = inputs.tag_messages(KindEngine(), single), inputs.tag_messages(KindEngine(), mixed)
    assert together == cut[:2] == [inputs.tag_messages(KindEngine(), [line])[0] for line in single]
    assert [t.template for t in together] == ["<*> user=bob took <*> ms", "<*> start <*>"]
    assert cut[2].template == "end <*> done " and cut[3].template == ""
    [plain] = inputs.tag_messages(_NoKindEngine(), single[:1])
    assert plain.token_kinds is None and plain.bounds == _fake_result(single[0]).bounds


class _NoKindEngine:
    model_id = "no-kinds"

    def tag(self, lines: list[str]) -> list[Any]:
        return [_fake_result(line) for line in lines]


def test_record_carries_template_and_token_kinds_and_matches_schema() -> None:
    line = "12:00 user=bob took 35 ms"
    result = KindResult(line)
    value = record_value(SOURCE, line, result.bounds, "m", 0.9, "FCCCVC", result.template, result.template_id)
    record = json.loads(value)
    jsonschema.validate(record, load_schema())
    assert record["schema_version"] == 3
    assert record["template"] == "<*> user=bob took <*> ms"
    assert record["template_id"] == template_id("<*> user=bob took <*> ms")
    assert [(t["text"], t["kind"]) for t in record["tokens"]] == [
        ("12:00", "field"),
        ("user", "constant"),
        ("bob", "constant"),
        ("took", "constant"),
        ("35", "variable"),
        ("ms", "constant"),
    ]
    # Computed from the tokens when not given: the same bytes.
    assert record_value(SOURCE, line, result.bounds, "m", 0.9, "FCCCVC") == value


def test_record_without_kinds_has_null_template_and_kinds() -> None:
    record = json.loads(record_value(SOURCE, "a b", [(0, 1), (2, 3)], "m", 1.0))
    jsonschema.validate(record, load_schema())
    assert record["template"] is None and record["template_id"] is None
    assert [t["kind"] for t in record["tokens"]] == [None, None]


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r.pop("template"),
        lambda r: r.pop("template_id"),
        lambda r: r["tokens"][0].pop("kind"),
        lambda r: r["tokens"][0].update(kind="header"),
        lambda r: r.update(template_id="not-hex"),
        lambda r: r.update(group_id="not-hex"),
        lambda r: r.pop("group"),
        lambda r: r.update(schema_version=1),
    ],
)
def test_schema_requires_the_template_fields(damage: Any) -> None:
    record = json.loads(record_value(SOURCE, "took 35", [(0, 4), (5, 7)], "m", 1.0, "CV"))
    jsonschema.validate(record, load_schema())
    damage(record)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, load_schema())


def test_encode_messages_returns_each_record_s_template_id() -> None:
    engine = KindEngine()
    lines = ["12:00 took 35 ms", "two\nlines 1", ""]
    sources = [Source("t", 0, offset, None) for offset in range(len(lines))]
    encoded = inputs.encode_messages(engine, lines, sources)
    assert engine.calls == [["12:00 took 35 ms", "two", "lines 1"]]  # one engine call per batch
    for line, outcome in zip(lines, encoded):
        record = json.loads(outcome.value)
        jsonschema.validate(record, load_schema())
        assert outcome.group_id == record["template_id"] == template_id(record["template"])  # no stream groups
        assert record["line"] == line
    assert [json.loads(o.value)["template"] for o in encoded] == ["<*> took <*> ms", "two lines <*>", ""]


def test_records_carry_the_group_the_stream_has_shown_so_far() -> None:
    groups = StreamGroups()
    # KindEngine makes a token holding a digit a variable: "user7" is <*>, "ftp" constant text.
    lines = [f"login user{n} from 10.0.0.{n}" for n in range(4)] + ["login ftp from 10.0.0.9"]
    sources = [Source("t", 0, offset, None) for offset in range(len(lines))]
    outcomes = inputs.encode_messages(KindEngine(), lines, sources, groups=groups)
    records = [json.loads(o.value) for o in outcomes]
    for record in records:
        jsonschema.validate(record, load_schema())
    first, odd = records[0], records[-1]
    # A template of its own is its own group, with its own id.
    assert first["template"] == first["group"] == "login <*> from <*>"
    assert first["group_id"] == first["template_id"]
    # The tagger's <*> on four lines against none of "ftp": the word is a variable it missed.
    assert odd["template"] == "login ftp from <*>" and odd["group"] == "login <*> from <*>"
    assert odd["group_id"] == first["template_id"] != odd["template_id"]
    # The new-templates metric counts groups: the odd line is no new event.
    assert [o.group_id for o in outcomes] == [first["template_id"]] * len(lines)
    # Without the stream's groups (or without kinds) the keys are there, null.
    [alone] = inputs.encode_messages(KindEngine(), lines[-1:], sources[-1:])
    assert json.loads(alone.value)["group"] is None and json.loads(alone.value)["group_id"] is None


def test_encode_messages_without_kinds_has_no_template_id() -> None:
    [outcome] = inputs.encode_messages(_NoKindEngine(), ["a b"], [SOURCE])
    assert outcome.group_id is None and json.loads(outcome.value)["template"] is None
