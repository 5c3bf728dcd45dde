"""The tagging process: same results as the engine in-process, and a child that dies loses nothing."""
from __future__ import annotations

import concurrent.futures
import os
import signal

import pytest

from logdelim.daemon import inputs
from logdelim.daemon.records import Source
from logdelim.daemon.tagging import TaggingProcess
from logdelim.model.engine import Engine

LINES = [
    "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_3886 terminating",
    "src: /10.0.0.1:50010 dest: /10.0.0.2:50010",
    "",
    "ключ=значение user_id=42 path=C:\\Temp\\x.log",
    "first line\nsecond: line",
]
SOURCES = [Source("in", 0, offset, None) for offset in range(len(LINES))]
OPTIONS = {"path": None, "device": "cpu", "num_threads": 1, "quantize": False, "cache_size": 1000}


@pytest.fixture(scope="module")
def tagger():
    process = TaggingProcess(OPTIONS)
    yield process
    process.close()


def test_same_results_as_the_engine_in_this_process(tagger) -> None:
    engine = Engine.load(**OPTIONS)
    assert tagger.model_id == engine.model_id and tagger.device == "cpu"
    here = inputs.encode_messages(engine, LINES, SOURCES)
    there = tagger.encode_messages(LINES, SOURCES)
    assert [e.value for e in there] == [e.value for e in here]
    assert [e.min_delimiter_confidence for e in there] == [e.min_delimiter_confidence for e in here]
    assert tagger.cache_hits + tagger.cache_misses >= len(LINES)


def test_a_killed_child_is_replaced_and_the_batch_is_still_tagged(tagger) -> None:
    before = tagger.pid
    os.kill(before, signal.SIGKILL)
    outcomes = tagger.encode_messages(LINES, SOURCES)
    # The batch call saw the child die; message by message on the new child, every line gets its record.
    assert all(isinstance(o, inputs.Encoded) for o in outcomes)
    assert tagger.pid != before and tagger.restarts == 1
    engine = Engine.load(**OPTIONS)
    assert [o.value for o in outcomes] == [e.value for e in inputs.encode_messages(engine, LINES, SOURCES)]


def test_a_model_that_cannot_load_fails_the_start_with_the_reason(tmp_path) -> None:
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="could not load the model"):
        TaggingProcess({**OPTIONS, "path": str(bad)})


def test_concurrent_callers_each_get_their_own_batch(tagger) -> None:
    # The pipeline calls from two threads so the child always has the next batch waiting;
    # replies must go to the caller whose request they answer.
    engine = Engine.load(**OPTIONS)
    batches = [([f"{line} #{i}" for line in LINES], [s._replace(offset=100 * i + s.offset) for s in SOURCES])
               for i in range(40)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda batch: tagger.encode_messages(*batch), batches))
    assert [[o.value for o in got] for got in outcomes] == [
        [e.value for e in inputs.encode_messages(engine, *batch)] for batch in batches]


def test_a_child_killed_under_two_callers_loses_no_message(tagger) -> None:
    engine = Engine.load(**OPTIONS)
    restarts = tagger.restarts
    batches = [(LINES * 50, [s._replace(offset=1000 * i + 10 * j + s.offset) for j in range(50) for s in SOURCES])
               for i in range(8)]

    def call(index: int) -> list:
        if index == 3:  # the other thread has a batch in the child or on its way
            os.kill(tagger.pid, signal.SIGKILL)
        return tagger.encode_messages(*batches[index])

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(call, range(len(batches))))
    assert tagger.restarts == restarts + 1
    assert [[o.value for o in got] for got in outcomes] == [
        [e.value for e in inputs.encode_messages(engine, *batch)] for batch in batches]
