"""The embedded broker: `logdelim broker` listens, and the session broker round-trips messages."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from logdelim.tools.broker import free_port, wait_for_port

pytestmark = pytest.mark.broker


def test_broker_command_listens_on_requested_port_and_stops_on_sigterm() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "logdelim.daemon.cli", "broker", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout_s=20, process=process)
    finally:
        process.send_signal(signal.SIGTERM)
        rc = process.wait(timeout=10)
    assert rc in (0, -signal.SIGTERM)


def test_session_broker_round_trips_values_and_headers(kafka_io, make_topic) -> None:
    topic = make_topic("roundtrip", partitions=2)
    kafka_io.produce(topic, [b"a", b"b", b"c", None], headers=[("origin", b"test")])
    messages = kafka_io.consume(topic, count=4, timeout_s=20)
    assert sorted((m.value or b"<null>") for m in messages) == [b"<null>", b"a", b"b", b"c"]
    assert {m.partition for m in messages} == {0, 1}
    assert all(("origin", b"test") in list(m.headers) for m in messages)
