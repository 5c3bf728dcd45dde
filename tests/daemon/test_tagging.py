"""The tagging process: same results as the engine in-process, and a child that dies loses nothing."""

from __future__ import annotations

import concurrent.futures
import json
import os
import pickle
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from fault_support import SlowStartContext, descendants, is_tagging_process, tagging_child

from logdelim.daemon import inputs, tagging
from logdelim.daemon.records import Source
from logdelim.daemon.tagging import TaggingPool, TaggingProcess
from logdelim.model.engine import Engine
from logdelim.model.grouping import StreamGroups

LINES = [
    "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_3886 terminating",
    "src: /10.0.0.1:50010 dest: /10.0.0.2:50010",
    "",
    "ключ=значение user_id=42 path=C:\\Temp\\x.log",
    "first line\nsecond: line",
]
SOURCES = [Source("in", 0, offset, None) for offset in range(len(LINES))]
OPTIONS = {"path": None, "device": "cpu", "num_threads": 1, "quantize": False, "cache_size": 1000}


def _here(engine: Engine, *args: Any) -> list[Any]:
    """``encode_messages`` in this process, with stream groups as a tagging process keeps them.

    Every line of LINES has a template of its own, so its group is the same whatever the
    stream showed before (what a child saw in earlier tests does not change it).
    """
    return inputs.encode_messages(engine, *args, groups=StreamGroups())


RESTART_CALLS: list[int] = []


@pytest.fixture(scope="module")
def tagger():
    process = TaggingProcess(OPTIONS, on_restart=lambda: RESTART_CALLS.append(process.restarts))
    yield process
    process.close()


def test_same_results_as_the_engine_in_this_process(tagger) -> None:
    engine = Engine.load(**OPTIONS)
    assert tagger.model_id == engine.model_id and tagger.device == "cpu"
    here = _here(engine, LINES, SOURCES)
    there = tagger.encode_messages(LINES, SOURCES)
    assert [e.value for e in there] == [e.value for e in here]
    assert [e.min_delimiter_confidence for e in there] == [e.min_delimiter_confidence for e in here]
    assert tagger.cache_hits + tagger.cache_misses >= len(LINES)


def test_replies_cross_the_pipe_as_columns_and_come_back_as_records() -> None:
    records = [inputs.Encoded(b'{"line": "a"}', 0.9, "id-a"), inputs.Encoded(b'{"line": "b"}', None, None)]
    packed = tagging._columns(records)
    assert packed == ((b'{"line": "a"}', b'{"line": "b"}'), (0.9, None), ("id-a", None))
    back = tagging._rows(pickle.loads(pickle.dumps(packed)))
    assert back == records and all(type(r) is inputs.Encoded for r in back)
    assert back[0].value == b'{"line": "a"}' and back[1].group_id is None
    # A rejection among them: the outcomes go as they are.
    mixed = [records[0], inputs.Rejection(inputs.TAGGING_ERROR, "x")]
    assert tagging._rows(pickle.loads(pickle.dumps(tagging._columns(mixed)))) == mixed
    assert tagging._rows(tagging._columns([])) == []


def test_requests_carry_their_sources_as_columns() -> None:
    sources = [Source("in", 0, 7, None), Source("in", 3, 12, 1_700_000_000_000)]
    packed = tagging._source_columns(sources)
    assert packed == (("in", "in"), (0, 3), (7, 12), (None, 1_700_000_000_000))
    back = tagging._sources(pickle.loads(pickle.dumps(packed)))
    assert back == sources and all(type(s) is Source for s in back)
    assert back[1].timestamp_ms == 1_700_000_000_000
    assert tagging._sources(tagging._source_columns([])) == []


def test_a_killed_child_is_replaced_and_the_batch_is_still_tagged(tagger) -> None:
    before = tagger.pid
    os.kill(before, signal.SIGKILL)
    outcomes = tagger.encode_messages(LINES, SOURCES)
    # The batch call saw the child die; message by message on the new child, every line gets its record.
    assert all(isinstance(o, inputs.Encoded) for o in outcomes)
    assert tagger.pid != before and tagger.restarts == 1
    assert RESTART_CALLS == [1], "the daemon's restart counter is told once"
    engine = Engine.load(**OPTIONS)
    assert [o.value for o in outcomes] == [e.value for e in _here(engine, LINES, SOURCES)]


def _assert_each_caller_gets_its_batch(
    encoder: TaggingProcess | TaggingPool, threads: int, count: int
) -> tuple[list, list]:
    """``count`` distinct batches from ``threads`` threads at once: each answer is the engine's for its batch."""
    engine = Engine.load(**OPTIONS)
    batches = [
        ([f"{line} #{i}" for line in LINES], [s._replace(offset=100 * i + s.offset) for s in SOURCES])
        for i in range(count)
    ]
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = list(pool.map(lambda batch: encoder.encode_messages(*batch), batches))
    assert [[o.value for o in got] for got in outcomes] == [
        [e.value for e in _here(engine, *batch)] for batch in batches
    ]
    return batches, outcomes


def test_a_model_that_cannot_load_fails_the_start_with_the_reason(tmp_path) -> None:
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="could not load the model"):
        TaggingProcess({**OPTIONS, "path": str(bad)})


def test_concurrent_callers_each_get_their_own_batch(tagger) -> None:
    # The pipeline calls from two threads so the child always has the next batch waiting;
    # replies must go to the caller whose request they answer.
    _assert_each_caller_gets_its_batch(tagger, threads=2, count=40)


def test_enriched_events_match_the_engine_here_even_when_the_child_dies(tagger) -> None:
    # output.mode enrich: the events' bytes travel with the lines, on the message-by-message retry too.
    engine = Engine.load(**OPTIONS)
    events = [json.dumps({"log": line, "n": i}).encode() for i, line in enumerate(LINES)]
    here = _here(engine, LINES, SOURCES, events, "logdelim", "log")
    assert [json.loads(e.value)["n"] for e in here] == list(range(len(LINES)))
    assert [e.value for e in tagger.encode_messages(LINES, SOURCES, events, "logdelim", "log")] == [
        e.value for e in here
    ]
    restarts = tagger.restarts
    os.kill(tagger.pid, signal.SIGKILL)
    outcomes = tagger.encode_messages(LINES, SOURCES, events, "logdelim", "log")
    assert tagger.restarts == restarts + 1
    assert [o.value for o in outcomes] == [e.value for e in here]


def test_a_child_killed_under_two_callers_loses_no_message(tagger) -> None:
    engine = Engine.load(**OPTIONS)
    restarts = tagger.restarts
    batches = [
        (LINES * 50, [s._replace(offset=1000 * i + 10 * j + s.offset) for j in range(50) for s in SOURCES])
        for i in range(8)
    ]

    def call(index: int) -> list:
        if index == 3:  # the other thread has a batch in the child or on its way
            os.kill(tagger.pid, signal.SIGKILL)
        return tagger.encode_messages(*batches[index])

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(call, range(len(batches))))
    assert tagger.restarts == restarts + 1
    assert [[o.value for o in got] for got in outcomes] == [
        [e.value for e in _here(engine, *batch)] for batch in batches
    ]


def test_a_child_that_dies_while_idle_is_replaced_within_a_second() -> None:
    process = TaggingProcess(OPTIONS)
    try:
        dead = process.pid
        os.kill(dead, signal.SIGKILL)
        killed = time.monotonic()
        while process.restarts == 0 and time.monotonic() - killed < 5:
            time.sleep(0.02)
        noticed_s = time.monotonic() - killed
        assert process.restarts == 1 and noticed_s < 1.0, f"death noticed after {noticed_s:.2f} s without traffic"
        outcomes = process.encode_messages(LINES, SOURCES)
        assert all(isinstance(o, inputs.Encoded) for o in outcomes)
        assert process.pid != dead and process.restarts == 1
        assert not Path(f"/proc/{dead}").exists(), "the dead child is reaped, not left <defunct>"
    finally:
        process.close()


def test_a_replacement_still_starting_is_not_taken_for_dead() -> None:
    # A caller sees the child die and starts another; while that one spawns, the watchdog
    # must not count it as a second death (the daemon's restart counter said 2 for one kill).
    process = TaggingProcess(OPTIONS)
    try:
        process._context = SlowStartContext()
        os.kill(process.pid, signal.SIGKILL)
        outcomes = process.encode_messages(LINES, SOURCES)
        assert all(isinstance(o, inputs.Encoded) for o in outcomes)
        time.sleep(SlowStartContext.delay_s)
        assert process.restarts == 1
    finally:
        process.close()


def test_a_stopped_child_misses_its_deadline_and_is_replaced_losing_no_line() -> None:
    engine = Engine.load(**OPTIONS)
    process = TaggingProcess(OPTIONS, timeout_s=2.0)
    try:
        stopped = process.pid
        os.kill(stopped, signal.SIGSTOP)
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(process.encode_messages, LINES, SOURCES)
            time.sleep(1.0)
            assert process.oldest_call_age_s() >= 0.9, "the unanswered call's age is visible"
            assert process.restarts == 0, "not replaced before its deadline"
            outcomes = future.result(timeout=60)
        assert process.restarts == 1 and process.pid != stopped
        assert process.oldest_call_age_s() == 0.0
        assert [o.value for o in outcomes] == [e.value for e in _here(engine, LINES, SOURCES)]
    finally:
        process.close()


def test_a_child_resumed_before_its_deadline_is_kept() -> None:
    process = TaggingProcess(OPTIONS, timeout_s=30.0)
    try:
        pid = process.pid
        os.kill(pid, signal.SIGSTOP)
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(process.encode_messages, LINES, SOURCES)
            time.sleep(1.0)
            os.kill(pid, signal.SIGCONT)
            outcomes = future.result(timeout=30)
        assert all(isinstance(o, inputs.Encoded) for o in outcomes)
        assert process.restarts == 0 and process.pid == pid
    finally:
        process.close()


def test_closing_with_a_call_unanswered_kills_the_child_at_once() -> None:
    # What a stop whose drain timed out leaves: a batch the child is still on. Waiting for it
    # (and for what is queued behind it) would stretch the stop; a child stopped by SIGSTOP
    # never finishes, so only a kill ends it within the time asserted.
    process = TaggingProcess(OPTIONS, timeout_s=60.0)
    pid = process.pid
    os.kill(pid, signal.SIGSTOP)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(process.encode_messages, LINES, SOURCES)
        while process.oldest_call_age_s() == 0.0:
            time.sleep(0.01)
        started = time.monotonic()
        process.close()
        took_s = time.monotonic() - started
        outcomes = future.result(timeout=30)  # the abandoned call returns; its lines are not tagged
    assert took_s < tagging.JOIN_TIMEOUT_S / 2, f"close took {took_s:.1f} s"
    assert all(isinstance(o, inputs.Rejection) for o in outcomes)
    assert process.restarts == 0, "a closed process is not replaced"
    assert not Path(f"/proc/{pid}").exists() or "State:\tZ" in Path(f"/proc/{pid}/status").read_text()


@pytest.mark.broker
def test_a_daemon_whose_tagging_process_is_killed_counts_the_restart_and_loses_nothing(
    make_topic, kafka_io, unique_name, start_daemon
) -> None:
    source, output, dead = make_topic("restart-in"), make_topic("restart-out"), make_topic("restart-dead")
    first = [f"2024-05-01 12:00:{i % 60:02d} INFO worker {i}: job done in {i}ms".encode() for i in range(200)]
    kafka_io.produce(source, first)
    daemon = start_daemon(
        input_topics=[source], output_topic=output, dead_letter_topic=dead, group_id=unique_name("restart")
    )
    daemon.wait_for(lambda: daemon.metric("logdelim_records_produced_total", topic=output) >= 200, 60, "first records")
    assert daemon.metric("logdelim_tagging_process_restarts_total") == 0
    os.kill(tagging_child(daemon.process.pid), signal.SIGKILL)
    kafka_io.produce(source, [line + b" (after the kill)" for line in first])
    daemon.wait_for(
        lambda: daemon.metric("logdelim_records_produced_total", topic=output) >= 400, 60, "records after the kill"
    )
    assert daemon.metric("logdelim_tagging_process_restarts_total") == 1, daemon.log()
    assert daemon.metric("logdelim_dead_letters_total") == 0
    rc, _ = daemon.stop()
    assert rc == 0, daemon.log()
    offsets = sorted(json.loads(m.value)["source"]["offset"] for m in kafka_io.consume(output, count=400, timeout_s=30))
    assert offsets == list(range(400)), "one record per input, none lost"
    assert "the tagging process died" in daemon.log()


def test_a_pool_shares_batches_among_its_children_and_answers_each_caller_in_order() -> None:
    engine = Engine.load(**OPTIONS)
    pool = TaggingPool({**OPTIONS, "cache_max_bytes": 8 * 1024 * 1024}, workers=2)
    try:
        assert len({p.pid for p in pool.processes}) == 2 and pool.model_id == engine.model_id
        batches, outcomes = _assert_each_caller_gets_its_batch(pool, threads=4, count=20)
        # Both children tagged (turns alternate), and the pool adds up their figures.
        assert all(p.cache_hits + p.cache_misses > 0 for p in pool.processes)
        assert pool.cache_hits + pool.cache_misses == sum(p.cache_hits + p.cache_misses for p in pool.processes)
        assert pool.cache_bytes == sum(p.cache_bytes for p in pool.processes) > 0
        # The byte bound is the pool's: each child gets its share.
        assert all(p._options["cache_max_bytes"] == 4 * 1024 * 1024 for p in pool.processes)
        os.kill(pool.processes[1].pid, signal.SIGKILL)
        again = [pool.encode_messages(*batch) for batch in batches[:4]]
        assert pool.restarts == 1
        assert [[o.value for o in got] for got in again] == [[o.value for o in got] for got in outcomes[:4]]
    finally:
        pool.close()
    assert not any(p._process.is_alive() for p in pool.processes)


def test_a_pool_that_cannot_start_a_child_closes_the_ones_it_started(tmp_path) -> None:
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="could not load the model"):
        TaggingPool({**OPTIONS, "path": str(bad)}, workers=2)
    with pytest.raises(ValueError, match="workers"):
        TaggingPool(OPTIONS, workers=0)


@pytest.mark.broker
def test_a_daemon_with_two_workers_tags_every_line_once_in_order(
    make_topic, kafka_io, unique_name, start_daemon
) -> None:
    source, output, dead = make_topic("workers-in", partitions=1), make_topic("workers-out"), make_topic("workers-dead")
    lines = [f"2024-05-01 12:00:{i % 60:02d} INFO worker {i % 7}: job {i} done in {i}ms".encode() for i in range(3000)]
    kafka_io.produce(source, lines)
    daemon = start_daemon(
        input_topics=[source],
        output_topic=output,
        dead_letter_topic=dead,
        group_id=unique_name("workers"),
        model={"workers": 2},
        batching={"max_lines": 64},
    )
    children = [child for child in descendants(daemon.process.pid) if is_tagging_process(child)]
    assert len(children) == 2, children
    daemon.wait_for(
        lambda: daemon.metric("logdelim_records_produced_total", topic=output) >= len(lines), 60, "every record"
    )
    rc, _ = daemon.stop()
    assert rc == 0, daemon.log()
    records = [json.loads(m.value) for m in kafka_io.consume(output, count=len(lines), timeout_s=30)]
    # One input partition, one output partition: records in input order, each line once.
    assert [r["source"]["offset"] for r in records] == list(range(len(lines)))
    assert [r["line"].encode() for r in records] == lines
