"""The watch a stop request arms (``app._watch_stop``): a stop that hangs says where, before it is killed."""

from __future__ import annotations

import subprocess
import sys


def _stderr_of(script: str) -> str:
    """Run ``script`` in a fresh interpreter (the watch dumps to the process's stderr) and return its stderr."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_a_stop_that_hangs_dumps_where_every_thread_is() -> None:
    # Past its time the stacks go to stderr, so a stop the orchestrator has to kill leaves a
    # record of where it hung. Here the event loop itself is stuck (a blocking call): only the
    # threads' dump can say where.
    stderr = _stderr_of(
        "import asyncio, time\n"
        "from logdelim.daemon.app import _watch_stop\n"
        "def stuck_in_stop():\n"
        "    time.sleep(3)\n"
        "async def main():\n"
        "    _watch_stop(0.2)\n"
        "    stuck_in_stop()\n"
        "asyncio.run(main())\n"
    )
    assert "most recent call first" in stderr and "stuck_in_stop" in stderr, stderr


def test_a_stop_that_hangs_logs_every_unfinished_task_with_its_await_chain() -> None:
    # The loop is idle in a hung stop, so a thread dump shows only select(); the task log names
    # the coroutine that waits.
    stderr = _stderr_of(
        "import asyncio, faulthandler, logging\n"
        "from logdelim.daemon.app import _watch_stop\n"
        "logging.basicConfig()\n"
        "async def stuck_in_stop(future):\n"
        "    await future\n"
        "async def main():\n"
        "    future = asyncio.get_running_loop().create_future()\n"
        "    task = asyncio.create_task(stuck_in_stop(future), name='stuck')\n"
        "    _watch_stop(1.3)\n"
        "    await asyncio.sleep(2)\n"
        "    future.set_result(None)\n"
        "    await task\n"
        "    faulthandler.cancel_dump_traceback_later()\n"
        "asyncio.run(main())\n"
    )
    assert "stop still waiting: task 'stuck'" in stderr, stderr
    assert "in stuck_in_stop" in stderr and "awaiting <Future pending" in stderr, stderr
    # The task log comes before the threads' dump.
    assert stderr.index("stop still waiting") < stderr.index("most recent call first"), stderr
