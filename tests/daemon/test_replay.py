"""``logdelim replay`` against the real embedded broker, run as users run it (a subprocess).

The headline check is exactness of the end: the embedded broker's
ListOffsets(latest) under-reports the log end, so a 10,000-line topic must still
give exactly 10,000 records.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
from fault_support import REPO, short_lines

from logdelim.daemon import inputs
from logdelim.daemon.records import Source, load_schema
from logdelim.daemon.replay import Position, TopicSummary, compare, parse_pick, parse_position, render_summary

pytestmark = pytest.mark.broker

LINES = 10_000
PARTITIONS = 3


def replay(broker, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess:
    """Run ``logdelim replay`` against ``broker``; returns the finished process (text output)."""
    command = [
        sys.executable,
        "-m",
        "logdelim.daemon.cli",
        "replay",
        "--bootstrap-servers",
        broker.bootstrap_servers,
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)


@pytest.fixture(scope="module")
def archived(make_topic, kafka_io) -> tuple[str, list[str]]:
    """A 3-partition topic holding LINES lines, round-robin (line i at partition i % 3, offset i // 3)."""
    topic = make_topic("replay-in", PARTITIONS)
    lines = short_lines(LINES)
    kafka_io.produce(topic, [line.encode() for line in lines], headers=[("origin", b"archive")])
    return topic, lines


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(row) for row in path.read_text(encoding="utf-8").splitlines()]


def test_position_and_pick_syntax() -> None:
    assert parse_position("earliest") == Position("earliest")
    assert parse_position("42") == Position("offset", 42)
    assert parse_position("@1763769600000") == Position("timestamp", 1763769600000)
    assert parse_position("2025-11-22T00:00:00Z") == Position("timestamp", 1763769600000)
    assert parse_position("2025-11-22T01:00:00+01:00") == Position("timestamp", 1763769600000)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_position("yesterday")
    assert parse_pick("logs.raw") == ("logs.raw", None)
    assert parse_pick("logs.raw:3") == ("logs.raw", 3)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_pick("logs.raw:x")


@pytest.mark.slow
def test_replay_of_10000_lines_to_a_file_is_exact_and_deterministic(broker, archived, tmp_path) -> None:
    topic, lines = archived
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    started = time.monotonic()
    done = replay(broker, topic, "--output-file", str(first), "--json")
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["lines"] == summary["records"] == LINES and summary["dead_letters"] == 0
    assert summary["topics"][topic] == {"lines": LINES, "records": LINES, "dead_letters": 0}
    assert [(r["start"], r["end"]) for r in summary["ranges"]] == [
        (0, LINES // PARTITIONS + (p < LINES % PARTITIONS)) for p in range(PARTITIONS)
    ]
    assert done.stderr.count("\r") == 0, "no progress bar when stderr is not a terminal"

    records = read_jsonl(first)
    assert len(records) == LINES
    validator = jsonschema.Draft202012Validator(load_schema())
    seen = set()
    for record in records:
        validator.validate(record)
        src = record["source"]
        seen.add((src["partition"], src["offset"]))
        line = lines[src["offset"] * PARTITIONS + src["partition"]]
        assert record["line"] == line
        assert all(line[t["start"] : t["end"]] == t["text"] for t in record["tokens"])
    assert len(seen) == LINES, "one record per input offset"
    assert (tmp_path / "first.jsonl.dead.jsonl").read_text() == ""

    again = replay(broker, topic, "--output-file", str(second))
    assert again.returncode == 0, again.stderr
    assert second.read_bytes() == first.read_bytes(), "same input and model, same bytes"
    assert f"replayed {LINES:,} lines" in again.stdout
    print(f"replay of {LINES:,} lines to a file: {seconds:.1f} s including start-up")


def test_replay_ranges_by_offset_partition_and_time(broker, make_topic, kafka_io, tmp_path) -> None:
    topic = make_topic("replay-range", 2)
    kafka_io.produce(topic, [line.encode() for line in short_lines(40)])  # 20 per partition
    middle_ms = int(time.time() * 1000) + 1
    time.sleep(0.05)
    kafka_io.produce(topic, [line.encode() for line in short_lines(40)])  # offsets 20..39 per partition

    out = tmp_path / "range.jsonl"
    done = replay(broker, f"{topic}:1", "--from", "5", "--to", "12", "--output-file", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert [(r["source"]["partition"], r["source"]["offset"]) for r in read_jsonl(out)] == [
        (1, o) for o in range(5, 12)
    ]

    # From a time: only the second produce round (offsets 20..39 of each partition).
    done = replay(broker, topic, "--from", f"@{middle_ms}", "--output-file", str(out), "--json")
    assert done.returncode == 0, done.stderr
    offsets = sorted((r["source"]["partition"], r["source"]["offset"]) for r in read_jsonl(out))
    assert offsets == [(p, o) for p in range(2) for o in range(20, 40)]

    # Up to a time: only the first round.
    done = replay(broker, topic, "--to", f"@{middle_ms}", "--output-file", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["records"] == 40


def consumer_groups(broker) -> set[str]:
    """Names of the consumer groups the broker knows (ListGroups)."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def names() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        await admin.start()
        try:
            return {group for group, _ in await admin.list_consumer_groups()}
        finally:
            await admin.close()

    return asyncio.run(names())


def test_replay_to_topics_keeps_the_daemon_record_shape_and_touches_no_group(broker, make_topic, kafka_io) -> None:
    source = make_topic("replay-src", 2)
    output, dead = make_topic("replay-out", 2), make_topic("replay-dead")
    values = [b"alpha beta=1 gamma", None, b"", b"bad \xff utf8", b"nul\x00byte", b"line one\nline two"]
    kafka_io.produce(source, values, partition=0, headers=[("origin", b"test")])

    groups_before = consumer_groups(broker)
    done = replay(broker, source, "--output-topic", output, "--dead-letter-topic", dead, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["lines"], summary["records"], summary["dead_letters"]) == (6, 3, 3)

    records = kafka_io.consume(output, count=3, timeout_s=30)
    letters = kafka_io.consume(dead, count=3, timeout_s=30)
    validator = jsonschema.Draft202012Validator(load_schema())
    by_offset = {json.loads(m.value)["source"]["offset"]: m for m in records}
    assert sorted(by_offset) == [0, 2, 5]
    for offset, message in by_offset.items():
        record = json.loads(message.value)
        validator.validate(record)
        assert message.key == f"{source}:0:{offset}".encode() and message.partition == 0
        assert ("origin", b"test") in list(message.headers)
    assert json.loads(by_offset[2].value)["tokens"] == []
    reasons = {int(dict(m.headers)["logdelim.source.offset"]): dict(m.headers)["logdelim.reason"] for m in letters}
    assert reasons == {1: b"null_value", 3: b"invalid_utf8", 4: b"control_chars"}
    assert {m.value for m in letters} == {None, b"bad \xff utf8", b"nul\x00byte"}, "original bytes kept"
    assert consumer_groups(broker) == groups_before, "replay joined or created no consumer group"


def test_dead_letters_to_a_file_keep_the_original_bytes(broker, make_topic, kafka_io, tmp_path) -> None:
    topic = make_topic("replay-dlf")
    kafka_io.produce(topic, [b"ok line", b"\xfe\xff"], headers=[("h", b"\x01")])
    out = tmp_path / "out.jsonl"
    done = replay(broker, topic, "--output-file", str(out))
    assert done.returncode == 0, done.stderr
    assert len(read_jsonl(out)) == 1
    (letter,) = read_jsonl(Path(str(out) + ".dead.jsonl"))
    assert letter["reason"] == "invalid_utf8" and letter["key"] == f"{topic}:0:1"
    assert base64.b64decode(letter["value_base64"]) == b"\xfe\xff"
    assert letter["headers"] == [["h", base64.b64encode(b"\x01").decode()]]


def test_rate_limit_and_progress_bar(broker, make_topic, kafka_io, tmp_path) -> None:
    topic = make_topic("replay-rate")
    kafka_io.produce(topic, [line.encode() for line in short_lines(300)])
    started = time.monotonic()
    done = replay(
        broker,
        topic,
        "--output-file",
        str(tmp_path / "r.jsonl"),
        "--rate-limit",
        "200",
        "--progress",
        "always",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    seconds = json.loads(done.stdout)["seconds"]
    assert seconds >= 1.4, f"300 lines at 200 lines/s took only {seconds} s"
    assert "lines/s ETA" in done.stderr and "300/300 lines 100%" in done.stderr
    assert time.monotonic() - started < 60


def test_compare_model_reports_changed_lines(broker, make_topic, kafka_io, tmp_path, model_path) -> None:
    """Two checkpoints that differ: a tiny one trained here in seconds vs the daemon's model."""
    topic = make_topic("replay-cmp")
    # Varied real-world lines (the demo's), where an undertrained model certainly stumbles.
    lines = (REPO / "tools" / "sample_lines.txt").read_text(encoding="utf-8").splitlines()[:60]
    kafka_io.produce(topic, [line.encode() for line in lines])
    tiny = tmp_path / "tiny"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "logdelim.daemon.cli",
            "train",
            "--out",
            str(tiny),
            "--synthetic-lines",
            "200",
            "--epochs",
            "1",
            "--threads",
            "1",
            "--hidden-size",
            "8",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=300,
    )
    model_args = ["--model", model_path] if model_path else []
    done = replay(broker, topic, *model_args, "--compare-model", str(tiny / "model.pt"), "--examples", "2", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    entry = summary["topics"][topic]
    assert summary["compare_model"]["id"] != summary["model"]["id"]
    assert 0 < entry["changed"] <= 60, "an undertrained model must tokenise some lines differently"
    assert len(entry["examples"]) == 2
    for example in entry["examples"]:
        assert example["line"] in lines and example["old_tokens"] != example["new_tokens"]
    # Both checkpoints have a kind head (training learns kinds from the synthetic lines' too).
    assert entry["templates_compared"] == 60
    assert 0 < entry["templates_changed"] <= 60, "an undertrained model must find other templates"
    assert len(entry["template_examples"]) == 2
    for example in entry["template_examples"]:
        assert example["line"] in lines and example["old_template"] != example["new_template"]
    text = replay(broker, topic, *model_args, "--compare-model", str(tiny / "model.pt"))
    assert f"tokens differ under {summary['compare_model']['id']} on {entry['changed']:,} lines" in text.stdout
    assert (
        f"templates differ under {summary['compare_model']['id']} on {entry['templates_changed']:,} lines"
        in text.stdout
    )


def test_unknown_topic_fails_cleanly(broker) -> None:
    done = replay(broker, "no-such-topic-here", "--output-file", "/dev/null")
    assert done.returncode == 1
    assert "does not exist" in done.stderr


def _tagged(template: str | None, bounds: list[tuple[int, int]]) -> inputs.Tagged:
    return inputs.Tagged(
        bounds, 1.0, (), None if template is None else "", template, None if template is None else "0" * 16
    )


def test_compare_counts_token_and_template_changes_apart() -> None:
    summary = TopicSummary()
    source = Source("t", 0, 5, None)
    line = "took 35 ms"
    words = [(0, 4), (5, 7), (8, 10)]
    compare(summary, source, line, _tagged("took <*> ms", words), _tagged("took <*> ms", words), examples=1)
    compare(summary, source, line, _tagged("took <*> ms", words), _tagged("took 35 ms", words), examples=1)
    compare(summary, source, line, _tagged("took <*> ms", words), _tagged("<*> ms", [(0, 7), (8, 10)]), examples=1)
    # A model without a kind head: tokens compared, templates not.
    compare(summary, source, line, _tagged("took <*> ms", words), _tagged(None, [(0, 10)]), examples=1)
    assert (summary.changed, summary.templates_changed, summary.templates_compared) == (2, 2, 3)
    assert summary.template_examples == [
        {"source": source._asdict(), "line": line, "old_template": "took <*> ms", "new_template": "took 35 ms"}
    ]
    assert len(summary.examples) == 1 and summary.examples[0]["new_tokens"] == ["took 35", "ms"]


def test_summary_shows_template_changes() -> None:
    summary = {
        "seconds": 1.0,
        "lines": 4,
        "records": 4,
        "dead_letters": 0,
        "undelivered": 0,
        "model": {"id": "old"},
        "compare_model": {"id": "new"},
        "topics": {
            "t": {
                "lines": 4,
                "records": 4,
                "dead_letters": 0,
                "changed": 0,
                "examples": [],
                "templates_changed": 1,
                "templates_compared": 4,
                "template_examples": [
                    {
                        "source": {"topic": "t", "partition": 0, "offset": 2},
                        "line": "took 35 ms",
                        "old_template": "took <*> ms",
                        "new_template": "took 35 ms",
                    }
                ],
            }
        },
    }
    text = render_summary(summary)
    assert "    templates differ under new on 1 lines (25.0%)\n" in text
    assert "    t:0@2: 'took 35 ms'\n      old: 'took <*> ms'\n      new: 'took 35 ms'\n" in text
    summary["topics"]["t"]["templates_compared"] = 0
    assert "templates differ under new on 1 lines of the 0 both models gave a template" in render_summary(summary)
