"""The event loop's heartbeat: /healthz turns 503 while the loop is stuck, 200 once it runs again."""

from __future__ import annotations

import asyncio
import threading
import time

from logdelim.daemon.health import LoopHeartbeat


async def test_a_blocked_loop_is_reported_and_a_running_one_is_alive() -> None:
    heartbeat = LoopHeartbeat(stall_s=0.3, interval_s=0.05)
    task = asyncio.create_task(heartbeat.run())
    await asyncio.sleep(0.2)
    seen: list[bool] = []
    watcher = threading.Thread(target=lambda: (time.sleep(0.6), seen.append(heartbeat.alive())))
    try:
        assert heartbeat.alive()
        watcher.start()
        time.sleep(1.0)  # blocks the event loop: the heartbeat task cannot run
        watcher.join()
        assert seen == [False], "a loop blocked past stall_s is not alive"
        await asyncio.sleep(0.2)
        assert heartbeat.alive(), "alive again once the loop runs"
    finally:
        task.cancel()
