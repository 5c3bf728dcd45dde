"""Liveness of the daemon's event loop, for ``/healthz``.

A process that is alive but whose event loop is stuck (a blocking call on the loop,
a deadlock) fetches, commits and heartbeats nothing. A task stamps the time every
``interval_s``; the HTTP server's threads compare that stamp with the clock, so a
loop that has not run the task for ``stall_s`` answers 503 and the liveness probe
restarts the pod. Readiness (is it making progress) is the pipeline's business.
"""
from __future__ import annotations

import asyncio
import time

HEARTBEAT_INTERVAL_S = 0.5


class LoopHeartbeat:
    """The event loop's sign of life.

    Args:
        stall_s: how long without a beat before :meth:`alive` says no.
        interval_s: how often :meth:`run` beats.
    """

    def __init__(self, stall_s: float, interval_s: float = HEARTBEAT_INTERVAL_S) -> None:
        self.stall_s = stall_s
        self.interval_s = interval_s
        self._last_beat = time.monotonic()

    async def run(self) -> None:
        """Beat until cancelled (run as a task on the loop being watched)."""
        while True:
            self._last_beat = time.monotonic()
            await asyncio.sleep(self.interval_s)

    def since_last_beat_s(self) -> float:
        """Seconds since the loop last ran the heartbeat task."""
        return time.monotonic() - self._last_beat

    def alive(self) -> bool:
        """False once the loop has not beaten for ``stall_s`` (safe to call from any thread)."""
        return self.since_last_beat_s() <= self.stall_s
