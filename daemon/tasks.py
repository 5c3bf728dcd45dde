"""Where an asyncio task waits, and a bounded wait for cancelled tasks: what keeps a stop from hanging silently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

# How long a stop waits for a cancelled task: long enough for a client's close, short
# enough that a task deaf to its cancellation cannot hold the stop.
CANCEL_TIMEOUT_S = 1.0


def await_chain(task: asyncio.Task) -> str:
    """Where a suspended task waits: each coroutine in its chain of awaits (file, line, function), then the awaited object.

    ``Task.get_stack`` shows only the outermost coroutine; the ``cr_await`` chain reaches
    the future at the bottom (a library's shield, a lock, an executor's future).
    """
    lines: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            # A future's await iterator says nothing of the future: the task knows which one it is.
            waiter = getattr(task, "_fut_waiter", None)
            lines.append(f"  awaiting {waiter if waiter is not None else awaited!r}"[:500])
            break
        code = frame.f_code
        lines.append(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}')
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return "\n".join(lines)


async def cancel_and_settle(tasks: Iterable[asyncio.Task], timeout_s: float = CANCEL_TIMEOUT_S) -> None:
    """Cancel ``tasks`` and wait up to ``timeout_s`` for them to finish; log each that does not, with where it waits.

    A task already done is not cancelled; its error, if it failed, is logged.

    ``asyncio.gather`` (and a timed-out ``asyncio.wait_for``) would wait for a task that
    ignores its cancellation for ever: the stop would hang until the orchestrator kills
    the process. A task still running is left behind (the process is exiting).
    """
    tasks = set(tasks)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    done, stuck = await asyncio.wait(tasks, timeout=timeout_s)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            logger.error("task %r failed while stopping", task.get_name(), exc_info=task.exception())
    for task in stuck:
        logger.error(
            "task %r did not finish within %.1f s of its cancellation; it waits in\n%s",
            task.get_name(),
            timeout_s,
            await_chain(task),
        )
