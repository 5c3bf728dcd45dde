"""Offset bookkeeping (commit only the acknowledged prefix) and the micro-batcher's flush rules."""

from __future__ import annotations

import asyncio
import time

from logdelim.daemon.batcher import BACKLOG_BATCHES, BACKLOG_FACTOR, MicroBatcher
from logdelim.daemon.offsets import OffsetTracker


def test_commit_offset_is_end_of_contiguous_acked_prefix() -> None:
    tracker = OffsetTracker()
    state = tracker.partition("p0")
    for offset in (10, 11, 12, 13):
        state.add(offset)
    state.ack(11)
    state.ack(13)
    assert tracker.to_commit() == {}  # 10 is not acknowledged: nothing may be committed
    state.ack(10)
    assert tracker.to_commit() == {"p0": 12}
    assert tracker.pending() == 1 and tracker.in_flight == 4, "in flight until committed"
    tracker.committed({"p0": 12})
    assert tracker.to_commit() == {}
    assert tracker.in_flight == 2
    state.ack(12)
    assert tracker.to_commit() == {"p0": 14}
    tracker.committed({"p0": 14})
    assert tracker.in_flight == 0 and tracker.pending() == 0


def test_commit_counts_only_what_was_acknowledged_when_it_was_taken() -> None:
    tracker = OffsetTracker()
    state = tracker.partition("p0")
    for offset in range(5):
        state.add(offset)
    state.ack(0)
    offsets = tracker.to_commit()
    state.ack(1)  # acknowledged while the commit of offset 1 is on its way
    tracker.committed(offsets)
    assert tracker.in_flight == 4
    assert tracker.to_commit() == {"p0": 2}


def test_forgotten_partition_ignores_late_acks() -> None:
    tracker = OffsetTracker()
    old = tracker.partition("p0")
    old.add(5)
    tracker.forget("p0")
    fresh = tracker.partition("p0")
    old.ack(5)
    assert fresh.next_commit is None and tracker.in_flight == 0
    assert tracker.pending(["p0", "p1"]) == 0 and old.unacked == 0


async def test_batcher_flushes_at_max_lines_without_waiting() -> None:
    batcher: MicroBatcher[int] = MicroBatcher(max_lines=3, max_wait_ms=10_000)
    waiter = asyncio.create_task(batcher.next_batch())
    await asyncio.sleep(0.01)
    started = time.monotonic()
    for i in range(3):
        batcher.add(i)
    assert await asyncio.wait_for(waiter, 2) == [0, 1, 2]
    assert time.monotonic() - started < 1.0


async def test_batcher_takes_twice_max_lines_of_a_backlog() -> None:
    assert (BACKLOG_FACTOR, BACKLOG_BATCHES) == (2, 4)
    batcher: MicroBatcher[int] = MicroBatcher(max_lines=3, max_wait_ms=10_000)
    for i in range(14):
        batcher.add(i)
    started = time.monotonic()
    # Fourteen waiting, four batches' worth or more: a backlog, taken six at a time.
    assert await batcher.next_batch() == [0, 1, 2, 3, 4, 5]
    # Eight waiting: less than a backlog, so batches of max_lines again, near the limit or not.
    assert await batcher.next_batch() == [6, 7, 8]
    assert await batcher.next_batch() == [9, 10, 11]
    # Fewer than max_lines: the deadline again (flushed here, rather than waited for).
    batcher.flush()
    assert await batcher.next_batch() == [12, 13]
    assert time.monotonic() - started < 1.0


async def test_batcher_flushes_partial_batch_at_deadline() -> None:
    batcher: MicroBatcher[int] = MicroBatcher(max_lines=100, max_wait_ms=50)
    waiter = asyncio.create_task(batcher.next_batch())
    await asyncio.sleep(0.01)
    started = time.monotonic()
    batcher.add(1)
    batcher.add(2)
    assert await asyncio.wait_for(waiter, 2) == [1, 2]
    assert 0.03 <= time.monotonic() - started < 1.0


async def test_batcher_close_hands_out_rest_then_empty() -> None:
    batcher: MicroBatcher[int] = MicroBatcher(max_lines=100, max_wait_ms=10_000)
    batcher.add(1)
    batcher.close()
    assert await batcher.next_batch() == [1]
    assert await batcher.next_batch() == []


async def test_batcher_flush_skips_deadline() -> None:
    batcher: MicroBatcher[int] = MicroBatcher(max_lines=100, max_wait_ms=10_000)
    batcher.add(1)
    batcher.flush()
    assert await asyncio.wait_for(batcher.next_batch(), 1) == [1]
