"""Starting Kafka clients against a broker that may not be up yet.

A sidecar starts beside its broker, and brokers restart: the daemon waits for
one instead of exiting. Each attempt first opens a TCP connection to every
bootstrap server (cheap, and silent: aiokafka logs an error per failed
bootstrap), then starts the clients; a failed start closes what it opened. The
wait is logged once per ``log_interval_s``, not once per attempt.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 2.0
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 5.0)
LOG_INTERVAL_S = 30.0
CLIENT_STOP_TIMEOUT_S = 1.0


def bootstrap_addresses(bootstrap_servers: str) -> list[tuple[str, int]]:
    """``"a:9092,[::1]:9093"`` -> ``[("a", 9092), ("::1", 9093)]`` (port 9092 when none is given)."""
    out = []
    for server in bootstrap_servers.split(","):
        server = server.strip()
        host, sep, port = server.rpartition(":")
        if not sep or host.endswith(":") or (":" in host and not host.startswith("[")):  # no port given
            host, port = server, "9092"
        out.append((host.strip("[]"), int(port)))
    return out


async def _reachable(addresses: Sequence[tuple[str, int]]) -> str | None:
    """None when some bootstrap server accepts a TCP connection, else why none did."""
    problems = []
    for host, port in addresses:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as exc:
            problems.append(f"{host}:{port}: {exc!r}")
            continue
        writer.close()
        return None
    return "; ".join(problems)


async def stop_client(name: str, client: Any) -> None:
    """``client.stop()`` within ``CLIENT_STOP_TIMEOUT_S``; a failure is logged, not raised (exiting anyway)."""
    try:
        await asyncio.wait_for(client.stop(), CLIENT_STOP_TIMEOUT_S)
    # aiokafka's fetcher can leak a CancelledError out of stop() when the broker is gone.
    except (asyncio.CancelledError, Exception) as exc:  # noqa: BLE001 - exiting anyway
        logger.warning("%s did not stop cleanly: %r", name, exc)


async def start_when_reachable(build: Callable[[], Sequence[tuple[str, Any]]], bootstrap_servers: str,
                               timeout_s: float | None, stop: asyncio.Event,
                               log_interval_s: float = LOG_INTERVAL_S) -> list[Any] | None:
    """Build and start clients once the broker answers, retrying with backoff.

    Args:
        build: makes a fresh set of unstarted ``(name, client)`` pairs, started in that
            order (a client whose start failed is not started again: aiokafka's are single use).
        bootstrap_servers: the clients' ``host:port[,host:port]``.
        timeout_s: give up after this long (None: wait until ``stop``).
        stop: set to give up at once (a SIGTERM while waiting).

    Returns:
        The started clients, in ``build``'s order; None after ``timeout_s`` or ``stop``.
    """
    addresses = bootstrap_addresses(bootstrap_servers)
    started_at = time.monotonic()
    attempts = 0
    logged_at: float | None = None
    while not stop.is_set():
        problem = await _reachable(addresses)
        if problem is None:
            clients = list(build())
            try:
                for _, client in clients:
                    await client.start()
                if attempts:
                    logger.info("connected to %s after %.1f s", bootstrap_servers, time.monotonic() - started_at)
                return [client for _, client in clients]
            except Exception as exc:  # noqa: BLE001 - any failure to start is retried
                problem = repr(exc)
                await asyncio.gather(*(stop_client(name, client) for name, client in clients))
        attempts += 1
        waited_s = time.monotonic() - started_at
        if timeout_s is not None and waited_s >= timeout_s:
            logger.error("broker at %s not reachable within kafka.startup_timeout_s=%g s (%d attempts): %s",
                         bootstrap_servers, timeout_s, attempts, problem)
            return None
        if logged_at is None or time.monotonic() - logged_at >= log_interval_s:
            logged_at = time.monotonic()
            logger.warning("broker at %s not reachable yet (%d attempts in %.0f s): %s; still trying",
                           bootstrap_servers, attempts, waited_s, problem)
        delay_s = BACKOFF_S[min(attempts - 1, len(BACKOFF_S) - 1)]
        if timeout_s is not None:
            delay_s = min(delay_s, max(0.0, timeout_s - waited_s))
        try:
            await asyncio.wait_for(stop.wait(), delay_s)
        except asyncio.TimeoutError:
            pass
    return None
