"""Every bad-input class gets a record or a dead letter (original bytes, coordinates, reason).

One daemon serves the whole module: the inputs go to a one-partition topic in a
known order, so each test finds its message by offset.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from logdelim.daemon.records import load_schema
from logdelim.model.templates import template_id

pytestmark = pytest.mark.broker

LONG = b"2024-05-01 12:00:00 INFO payload=" + b"x" * (1536 * 1024)  # 1.5 MB
INPUTS: list[bytes | None] = [
    b"2024-05-01 12:00:00 INFO service started",  # 0 control: an ordinary line
    None,  # 1 tombstone
    b"",  # 2 empty
    b"\xc3\x28 invalid utf-8 at start",  # 3 invalid UTF-8
    b"user=bob\x00password=secret",  # 4 NUL
    b"ring the bell\x07 now",  # 5 other control character
    b"\x1b[31mERROR\x1b[0m\tdisk full",  # 6 ESC (ANSI colours) and TAB are kept
    LONG,  # 7 very long
    b'Traceback (most recent call last):\n  File "app.py", line 3, in <module>\nValueError: bad\n',  # 8
]
HEADER = ("trace-id", b"abc123")
RECORD_OFFSETS = {0, 2, 6, 8}
DEAD_LETTER_OFFSETS = {1, 3, 4, 5, 7}


@pytest.fixture(scope="module")
def outcome(make_topic, kafka_io, unique_name, daemon_launcher, tmp_path_factory) -> dict:
    """Run one daemon over INPUTS; collect records and dead letters by source offset, and metrics."""
    source, output, dead = make_topic("bad-in"), make_topic("bad-out"), make_topic("bad-dead")
    kafka_io.produce(source, INPUTS, partition=0, headers=[HEADER])
    launcher = daemon_launcher(tmp_path_factory.mktemp("bad-input"))
    try:
        daemon = launcher.launch(
            input_topics=[source],
            output_topic=output,
            dead_letter_topic=dead,
            group_id=unique_name("bad"),
            logging={"format": "json"},
        )
        daemon.wait_for(
            lambda: (
                daemon.metric("logdelim_records_produced_total") + daemon.metric("logdelim_dead_letters_total")
                >= len(INPUTS)
            ),
            60,
            "all inputs handled",
        )
        metrics = {
            reason: daemon.metric("logdelim_dead_letters_total", reason=reason)
            for reason in ("null_value", "invalid_utf8", "control_chars", "too_long", "tagging_error")
        }
        rc, elapsed_s = daemon.stop()
        committed = kafka_io.committed(daemon.config["kafka"]["group_id"], source, partitions=1)
    finally:
        launcher.kill_all()
    records = {}
    for message in kafka_io.consume(output, count=len(RECORD_OFFSETS), timeout_s=20):
        records.setdefault(json.loads(message.value)["source"]["offset"], []).append(message)
    dead_letters = {}
    for message in kafka_io.consume(dead, count=len(DEAD_LETTER_OFFSETS), timeout_s=20):
        dead_letters.setdefault(int(dict(message.headers)["logdelim.source.offset"]), []).append(message)
    return {
        "records": records,
        "dead": dead_letters,
        "metrics": metrics,
        "rc": rc,
        "committed": committed,
        "source": source,
        "log": Path(daemon.log_path).read_text(),
    }


def _record(outcome: dict, offset: int) -> dict:
    messages = outcome["records"].get(offset, [])
    assert len(messages) == 1, f"offset {offset}: {len(messages)} records"
    assert offset not in outcome["dead"], f"offset {offset} also dead-lettered"
    message = messages[0]
    assert message.key == f"{outcome['source']}:0:{offset}".encode()
    assert (HEADER[0], HEADER[1]) in list(message.headers), "input headers are carried over"
    record = json.loads(message.value)
    jsonschema.validate(record, load_schema())
    assert all(record["line"][t["start"] : t["end"]] == t["text"] for t in record["tokens"])
    # The shipped model has a kind head: a template and token kinds on every record.
    assert record["template_id"] == template_id(record["template"])
    assert all(t["kind"] is not None for t in record["tokens"])
    return record


def _dead_letter(outcome: dict, offset: int, reason: str):
    messages = outcome["dead"].get(offset, [])
    assert len(messages) == 1, f"offset {offset}: {len(messages)} dead letters"
    assert offset not in outcome["records"], f"offset {offset} also has a record"
    message = messages[0]
    headers = dict(message.headers)
    assert headers["logdelim.reason"] == reason.encode()
    assert headers["logdelim.source.topic"] == outcome["source"].encode()
    assert headers["logdelim.source.partition"] == b"0"
    assert headers[HEADER[0]] == HEADER[1]
    assert message.value == INPUTS[offset], "the original bytes, untouched"
    assert outcome["metrics"][reason] >= 1
    return message


def test_ordinary_line_gets_a_record(outcome: dict) -> None:
    record = _record(outcome, 0)
    assert record["line"] == INPUTS[0].decode() and record["tokens"]


def test_tombstone_goes_to_dead_letter(outcome: dict) -> None:
    assert _dead_letter(outcome, 1, "null_value").value is None


def test_empty_line_gets_record_without_tokens(outcome: dict) -> None:
    record = _record(outcome, 2)
    assert record["line"] == "" and record["tokens"] == [] and record["min_confidence"] == 1.0
    assert record["template"] == ""


def test_invalid_utf8_goes_to_dead_letter(outcome: dict) -> None:
    _dead_letter(outcome, 3, "invalid_utf8")


def test_nul_goes_to_dead_letter(outcome: dict) -> None:
    message = _dead_letter(outcome, 4, "control_chars")
    assert b"U+0000" in dict(message.headers)["logdelim.detail"]


def test_other_control_character_goes_to_dead_letter(outcome: dict) -> None:
    _dead_letter(outcome, 5, "control_chars")


def test_tab_and_ansi_escape_are_kept_in_the_record(outcome: dict) -> None:
    assert _record(outcome, 6)["line"] == INPUTS[6].decode()


def test_very_long_message_goes_to_dead_letter_whole(outcome: dict) -> None:
    message = _dead_letter(outcome, 7, "too_long")
    assert len(message.value) == len(LONG)


def test_multi_line_message_gets_one_record_with_terminators_as_delimiters(outcome: dict) -> None:
    record = _record(outcome, 8)
    assert record["line"] == INPUTS[8].decode().rstrip("\n")  # one trailing terminator removed
    newlines = [i for i, c in enumerate(record["line"]) if c == "\n"]
    assert len(newlines) == 2
    assert not any(t["start"] <= i < t["end"] for t in record["tokens"] for i in newlines)
    assert any(t["start"] > newlines[1] for t in record["tokens"]), "the last physical line is tagged too"
    assert "\n" not in record["template"], "one template for the message, its newlines whitespace"


def test_nothing_dropped_and_everything_committed(outcome: dict) -> None:
    assert set(outcome["records"]) == RECORD_OFFSETS and set(outcome["dead"]) == DEAD_LETTER_OFFSETS
    assert RECORD_OFFSETS | DEAD_LETTER_OFFSETS == set(range(len(INPUTS)))
    assert outcome["rc"] == 0
    assert outcome["committed"] == {0: len(INPUTS)}


def test_json_log_lines(outcome: dict) -> None:
    entries = [json.loads(line) for line in outcome["log"].splitlines() if line.startswith("{")]
    assert any(e["level"] == "WARNING" and "dead letter" in e["message"] for e in entries)
    assert all({"ts", "level", "logger", "message"} <= set(e) for e in entries)
