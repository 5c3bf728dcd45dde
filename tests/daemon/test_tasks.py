"""Where a stuck task waits, and the bounded wait a stop gives cancelled tasks."""

from __future__ import annotations

import asyncio
import logging
import time

from logdelim.daemon.tasks import await_chain, cancel_and_settle


async def _inner(future: asyncio.Future) -> None:
    await future


async def _outer(future: asyncio.Future) -> None:
    await _inner(future)


async def _ignores_cancellation(future: asyncio.Future) -> None:
    # As a library's shielded call does: the cancellation reaches the shield, not the future.
    while True:
        try:
            await asyncio.shield(future)
            return
        except asyncio.CancelledError:
            continue


def test_the_await_chain_names_every_coroutine_down_to_the_future() -> None:
    async def scenario() -> str:
        future = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(_outer(future))
        await asyncio.sleep(0)
        chain = await_chain(task)
        task.cancel()
        return chain

    lines = asyncio.run(scenario()).splitlines()
    assert [line.rsplit(" ", 1)[-1] for line in lines[:2]] == ["_outer", "_inner"], lines
    assert lines[2].startswith("  awaiting <Future pending"), lines


def test_cancel_and_settle_leaves_a_task_that_ignores_its_cancellation_behind_and_says_where_it_waits(caplog) -> None:
    async def scenario() -> tuple[float, bool]:
        future = asyncio.get_running_loop().create_future()
        stuck = asyncio.create_task(_ignores_cancellation(future), name="stubborn")
        quiet = asyncio.create_task(asyncio.sleep(60), name="quiet")
        await asyncio.sleep(0)
        started = time.monotonic()
        await cancel_and_settle([stuck, quiet], timeout_s=0.3)
        elapsed = time.monotonic() - started
        left_running = not stuck.done()
        future.set_result(None)  # lets the stubborn task end: the loop closes cleanly
        await stuck
        return elapsed, left_running

    with caplog.at_level(logging.ERROR, logger="logdelim.daemon.tasks"):
        elapsed, left_running = asyncio.run(scenario())
    assert left_running and 0.25 <= elapsed < 2.0, elapsed
    (record,) = caplog.records
    assert "'stubborn' did not finish within 0.3 s" in record.getMessage()
    assert "_ignores_cancellation" in record.getMessage()


def test_cancel_and_settle_logs_a_task_that_failed_instead_of_losing_its_error(caplog) -> None:
    async def fails() -> None:
        raise RuntimeError("flush failed")

    async def scenario() -> None:
        task = asyncio.create_task(fails(), name="flusher")
        await asyncio.sleep(0)
        await cancel_and_settle([task])

    with caplog.at_level(logging.ERROR, logger="logdelim.daemon.tasks"):
        asyncio.run(scenario())
    (record,) = caplog.records
    assert "'flusher' failed while stopping" in record.getMessage()
    assert record.exc_info is not None and "flush failed" in str(record.exc_info[1])
