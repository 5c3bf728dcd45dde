"""Shared fixtures: the embedded broker, unique names, Kafka I/O helpers, daemon subprocesses.

The broker is a real Tansu process (``logdelim.tools.broker``) started once per
session on a free port and stopped at the end; tests never mock Kafka. Every test
gets its own topics and consumer groups from the factory fixtures, so tests do
not see each other's data on the shared broker.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from logdelim.model.data import loghub_label_dir, loghub_label_files
from logdelim.tools.broker import EmbeddedBroker, broker_binary, create_topics, free_port
from logdelim.tools.daemon_process import DaemonProcess

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip the test when ``condition`` is false, or fail it under CI=true (nothing may skip there)."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


# --------------------------------------------------------------------------- broker


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """A Tansu broker for the whole session on a free 127.0.0.1 port (memory storage)."""
    try:
        broker_binary()
    except Exception as exc:  # noqa: BLE001 - any failure to locate it means "no broker"
        require(False, f"no Tansu binary: {exc}")
    with EmbeddedBroker() as running:
        yield running


_counter = itertools.count()


def _unique(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def unique_name() -> Callable[[str], str]:
    """Factory of names unique in the session (topics, groups): ``unique_name("group")``."""
    return _unique


@pytest.fixture(scope="session")
def make_topic(broker: EmbeddedBroker) -> Callable[..., str]:
    """Factory creating a fresh topic on the session broker: ``make_topic("in", partitions=4)``."""

    def make(prefix: str = "topic", partitions: int = 1) -> str:
        name = _unique(prefix)
        asyncio.run(create_topics(broker.bootstrap_servers, {name: partitions}))
        return name

    return make


# --------------------------------------------------------------------------- Kafka I/O


class KafkaIO:
    """Blocking produce/consume/committed helpers over aiokafka for test bodies."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers

    def produce(
        self,
        topic: str,
        values: Sequence[bytes | None],
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
        max_request_size: int = 4 * 1024 * 1024,
    ) -> None:
        """Send ``values`` (round-robin over partitions unless ``partition`` is given) and wait for acks."""
        asyncio.run(self._produce(topic, values, partition, headers, max_request_size))

    async def _produce(
        self,
        topic: str,
        values: Sequence[bytes | None],
        partition: int | None,
        headers: Sequence[tuple[str, bytes]] | None,
        max_request_size: int,
    ) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            acks="all",
            enable_idempotence=False,
            linger_ms=5,
            max_request_size=max_request_size,
        )
        await producer.start()
        try:
            count = len(await producer.partitions_for(topic))
            futures = []
            for i, value in enumerate(values):
                # A tombstone needs a key; give every message one so null values are sendable.
                futures.append(
                    await producer.send(
                        topic,
                        value,
                        key=f"k{i}".encode(),
                        partition=partition if partition is not None else i % count,
                        headers=list(headers or []),
                    )
                )
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    def consume(
        self, topic: str, count: int, timeout_s: float = 60.0, max_fetch_bytes: int = 8 * 1024 * 1024
    ) -> list[Any]:
        """Read ``topic`` from the start until ``count`` messages arrived or ``timeout_s`` passed.

        Returns aiokafka ``ConsumerRecord`` objects (possibly fewer than ``count`` on timeout).
        """
        return asyncio.run(self._consume(topic, count, timeout_s, max_fetch_bytes))

    async def _consume(self, topic: str, count: int, timeout_s: float, max_fetch_bytes: int) -> list[Any]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=max_fetch_bytes,
            fetch_max_bytes=max_fetch_bytes,
        )
        await consumer.start()
        try:
            await consumer.topics()  # refreshes metadata so the partition count is known
            partitions = consumer.partitions_for_topic(topic) or set()
            consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
            await consumer.seek_to_beginning()
            out: list[Any] = []
            deadline = time.monotonic() + timeout_s
            while len(out) < count and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for messages in batch.values():
                    out.extend(messages)
            return out
        finally:
            await consumer.stop()

    def committed(self, group_id: str, topic: str, partitions: int) -> dict[int, int | None]:
        """The group's committed offset of each partition of ``topic`` (None when none)."""
        return asyncio.run(self._committed(group_id, topic, partitions))

    async def _committed(self, group_id: str, topic: str, partitions: int) -> dict[int, int | None]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        # Same group id, but never subscribed: committed() is an OffsetFetch, not a join.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers, group_id=group_id, enable_auto_commit=False
        )
        await consumer.start()
        try:
            return {p: await consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
        finally:
            await consumer.stop()


@pytest.fixture(scope="session")
def kafka_io(broker: EmbeddedBroker) -> KafkaIO:
    """Blocking Kafka helpers bound to the session broker."""
    return KafkaIO(broker.bootstrap_servers)


# --------------------------------------------------------------------------- test data


@pytest.fixture(scope="session")
def loghub_lines() -> Callable[[int | None], list[str]]:
    """``loghub_lines(n)``: the first ``n`` real log lines (see :func:`read_loghub_lines`)."""
    return read_loghub_lines


@pytest.fixture(scope="session")
def loghub_files() -> list[Path]:
    """The 11 labelled Loghub files (skipped without them, failed under CI=true)."""
    return require_loghub_files()


def require_loghub_files() -> list[Path]:
    """The shared labelled Loghub files; skips (fails under CI=true) when the data is absent."""
    files = loghub_label_files()
    require(bool(files), f"labelled data not found under {loghub_label_dir()}")
    return files


def read_loghub_lines(limit: int | None = None) -> list[str]:
    """Real log lines from the shared labelled LogHub data, interleaving the systems.

    Skips (fails under CI=true) when the data is absent.
    """
    per_system = [
        [json.loads(row)["line"] for row in f.read_text(encoding="utf-8").splitlines() if row.strip()]
        for f in require_loghub_files()
    ]
    lines = [line for group in itertools.zip_longest(*per_system) for line in group if line is not None]
    return lines[:limit] if limit is not None else lines


# --------------------------------------------------------------------------- daemon subprocess
# The runner is logdelim.tools.daemon_process.DaemonProcess, shared with the bench.


class DaemonLauncher:
    """Starts ``logdelim run --config`` subprocesses against one broker, writing configs under ``directory``.

    ``launch(input_topics=[...], output_topic=..., dead_letter_topic=..., group_id=..., batching={...},
    ...)`` writes a config (sections given as dicts are merged over the defaults), starts the
    daemon on a free metrics port and waits until it is ready (``wait_ready=False`` to skip).
    ``kill_all`` kills what is still running.
    """

    def __init__(self, bootstrap_servers: str, directory: Path, model_path: str | None) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.directory = directory
        self.model_path = model_path
        self.started: list[DaemonProcess] = []

    def launch(
        self,
        *,
        input_topics: list[str] | None,
        output_topic: str,
        dead_letter_topic: str,
        group_id: str,
        wait_ready: bool = True,
        env: dict[str, str] | None = None,
        **sections: dict[str, Any],
    ) -> DaemonProcess:

        port = free_port()
        config: dict[str, Any] = {
            "kafka": {
                "bootstrap_servers": self.bootstrap_servers,
                "input_topics": input_topics,
                "output_topic": output_topic,
                "dead_letter_topic": dead_letter_topic,
                "group_id": group_id,
                # Tansu answers a join after half the session timeout: keep test starts short.
                "session_timeout_ms": 4000,
                "heartbeat_interval_ms": 1000,
            },
            "metrics": {"host": "127.0.0.1", "port": port},
            "model": {"path": self.model_path},
        }
        if input_topics is None:  # e.g. kafka={"input_pattern": ...} instead
            del config["kafka"]["input_topics"]
        for section, values in sections.items():
            config.setdefault(section, {}).update(values)
        daemon = DaemonProcess.launch(config, self.directory, f"daemon-{len(self.started)}", env)
        self.started.append(daemon)
        if wait_ready:
            daemon.wait_ready()
        return daemon

    def kill_all(self) -> None:
        """Kill daemons still running (teardown)."""
        for daemon in self.started:
            daemon.kill()


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> str | None:
    """Checkpoint for daemon tests: None (the shipped model) when model/default.pt exists, else a tiny
    checkpoint trained here in seconds (only the plumbing is under test, not accuracy)."""
    from importlib import resources

    if resources.files("logdelim.model").joinpath("default.pt").is_file():
        return None
    require(not IN_CI, "the shipped model logdelim/model/default.pt is missing")
    out = tmp_path_factory.mktemp("tiny-model")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "logdelim.daemon.cli",
            "train",
            "--out",
            str(out),
            "--synthetic-lines",
            "500",
            "--epochs",
            "1",
            "--threads",
            "1",
            "--hidden-size",
            "16",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return str(out / "model.pt")


@pytest.fixture(scope="session")
def daemon_launcher(broker: EmbeddedBroker, model_path: str | None) -> Callable[..., DaemonLauncher]:
    """``daemon_launcher(directory, bootstrap_servers=None)`` -> a :class:`DaemonLauncher` for the
    session broker (or another one), e.g. in module-scoped fixtures."""
    return lambda directory, bootstrap_servers=None: DaemonLauncher(
        bootstrap_servers or broker.bootstrap_servers, directory, model_path
    )


@pytest.fixture
def start_daemon(
    daemon_launcher: Callable[[Path], DaemonLauncher], tmp_path: Path
) -> Iterator[Callable[..., DaemonProcess]]:
    """Factory running ``logdelim run`` subprocesses (see :class:`DaemonLauncher`); killed at teardown."""
    launcher = daemon_launcher(tmp_path)
    yield launcher.launch
    launcher.kill_all()
