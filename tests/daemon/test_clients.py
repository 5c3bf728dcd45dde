"""Waiting for a broker: bootstrap parsing, give-up after the timeout, one log line per interval."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from logdelim.daemon.clients import bootstrap_addresses, start_when_reachable
from logdelim.tools.broker import free_port


def test_bootstrap_addresses() -> None:
    assert bootstrap_addresses("a:9093, b ,[::1]:9094") == [("a", 9093), ("b", 9092), ("::1", 9094)]


class _Client:
    def __init__(self) -> None:
        self.started = self.stopped = 0

    async def start(self) -> None:
        self.started += 1

    async def stop(self) -> None:
        self.stopped += 1


async def test_an_unreachable_broker_is_retried_quietly_until_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    built: list[_Client] = []

    def build() -> list[tuple[str, _Client]]:
        built.append(_Client())
        return [("client", built[-1])]

    caplog.set_level(logging.INFO)
    started = time.monotonic()
    clients = await start_when_reachable(
        build, f"127.0.0.1:{free_port()}", timeout_s=3.0, stop=asyncio.Event(), log_interval_s=30.0
    )
    assert clients is None and 2.5 < time.monotonic() - started < 6
    assert built == [], "no client is built while nothing listens"
    messages = [r.getMessage() for r in caplog.records]
    assert sum("not reachable yet" in m for m in messages) == 1, messages
    assert sum("startup_timeout_s" in m for m in messages) == 1, messages
    assert not any(r.name.startswith("aiokafka") for r in caplog.records)


async def test_a_stop_while_waiting_returns_at_once() -> None:
    stop = asyncio.Event()
    waiting = asyncio.create_task(start_when_reachable(list, f"127.0.0.1:{free_port()}", None, stop))
    await asyncio.sleep(1.0)
    stop.set()
    assert await asyncio.wait_for(waiting, 2.0) is None


async def test_a_failed_start_closes_what_it_opened_and_tries_again() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    attempts: list[tuple[_Client, _Client]] = []

    class Failing(_Client):
        async def start(self) -> None:
            await super().start()
            if len(attempts) <= 2:  # the first two attempts fail
                raise ConnectionError("broker not ready")

    def build() -> list[tuple[str, _Client]]:
        attempts.append((_Client(), Failing()))
        return [("first", attempts[-1][0]), ("second", attempts[-1][1])]

    async with server:
        clients = await start_when_reachable(build, f"127.0.0.1:{port}", 30.0, asyncio.Event())
    assert clients is not None and clients == list(attempts[-1]) and len(attempts) == 3
    for first, second in attempts[:2]:
        assert first.stopped == 1 and second.stopped == 1, "a failed attempt closes every client it built"
    assert all(c.stopped == 0 for c in attempts[-1])
