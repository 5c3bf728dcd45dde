"""The daemon as an operator meets it: health that follows progress, a start that waits for
its broker, early exits that are quick and clean (each test runs ``logdelim run`` subprocesses)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_support import tagging_child

from logdelim.tools.broker import EmbeddedBroker, create_topics, free_port

pytestmark = pytest.mark.broker

LINES = [f"2024-05-01 12:00:{i % 60:02d} INFO worker {i}: job done in {i}ms".encode() for i in range(200)]


def _offsets(kafka_io, topic: str, count: int) -> list[int]:
    return sorted(json.loads(m.value)["source"]["offset"] for m in kafka_io.consume(topic, count=count, timeout_s=30))


def test_a_stopped_tagging_process_takes_the_daemon_out_of_service_until_it_answers_or_is_replaced(
    make_topic, kafka_io, unique_name, start_daemon
) -> None:
    source, output, dead = make_topic("stall-in"), make_topic("stall-out"), make_topic("stall-dead")
    kafka_io.produce(source, LINES)
    daemon = start_daemon(
        input_topics=[source],
        output_topic=output,
        dead_letter_topic=dead,
        group_id=unique_name("stall"),
        model={"tagger_timeout_s": 20.0},
    )

    def produced() -> float:
        return daemon.metric("logdelim_records_produced_total", topic=output)

    daemon.wait_for(lambda: produced() >= 200, 60, "the first records")

    # 1. Stopped, then resumed before its deadline: not ready meanwhile, the same child afterwards.
    child = tagging_child(daemon.process.pid)
    os.kill(child, signal.SIGSTOP)
    stopped_at = time.monotonic()
    kafka_io.produce(source, [line + b" (stopped)" for line in LINES])
    daemon.wait_for(lambda: daemon.get("/readyz")[0] == 503, 10, "/readyz 503 with the tagger stopped")
    unready_after_s = time.monotonic() - stopped_at
    assert daemon.metric("logdelim_ready") == 0
    assert daemon.metric("logdelim_tagging_oldest_call_age_seconds") > 4
    assert daemon.get("/healthz")[0] == 200, "the event loop still runs: alive, just not ready"
    os.kill(child, signal.SIGCONT)
    daemon.wait_for(lambda: produced() >= 400, 30, "records once the tagger resumes")
    daemon.wait_for(lambda: daemon.get("/readyz")[0] == 200, 10, "ready again")
    assert daemon.metric("logdelim_tagging_process_restarts_total") == 0

    # 2. Stopped past model.tagger_timeout_s: killed and replaced, its batch retried.
    os.kill(child, signal.SIGSTOP)
    stopped_at = time.monotonic()
    kafka_io.produce(source, [line + b" (replaced)" for line in LINES])
    daemon.wait_for(lambda: produced() >= 600, 60, "records after the replacement")
    replaced_after_s = time.monotonic() - stopped_at
    assert daemon.metric("logdelim_tagging_process_restarts_total") == 1
    assert tagging_child(daemon.process.pid) != child
    assert 20 <= replaced_after_s < 45, replaced_after_s
    daemon.wait_for(lambda: daemon.get("/readyz")[0] == 200, 10, "ready after the replacement")
    assert daemon.metric("logdelim_dead_letters_total") == 0
    rc, _ = daemon.stop()
    assert rc == 0, daemon.log()
    assert _offsets(kafka_io, output, 600) == list(range(600)), "one record per input, none lost"
    print(f"/readyz 503 {unready_after_s:.1f} s after SIGSTOP; replaced and caught up {replaced_after_s:.1f} s after")


def test_a_tagging_process_that_dies_while_idle_is_replaced_before_traffic_comes(
    make_topic, kafka_io, unique_name, start_daemon
) -> None:
    source, output, dead = make_topic("idle-in"), make_topic("idle-out"), make_topic("idle-dead")
    daemon = start_daemon(
        input_topics=[source], output_topic=output, dead_letter_topic=dead, group_id=unique_name("idle")
    )
    child = tagging_child(daemon.process.pid)
    os.kill(child, signal.SIGKILL)
    daemon.wait_for(
        lambda: daemon.metric("logdelim_tagging_process_restarts_total") == 1,
        30,
        "the idle death noticed and the process replaced",
    )
    assert not Path(f"/proc/{child}").exists(), "not left <defunct>"
    kafka_io.produce(source, LINES)
    daemon.wait_for(lambda: daemon.metric("logdelim_records_produced_total", topic=output) >= 200, 60, "records")
    assert "while idle" in daemon.log()
    assert daemon.stop()[0] == 0


def test_a_daemon_started_before_its_broker_waits_and_then_annotates(daemon_launcher, kafka_io, tmp_path) -> None:
    port = free_port()
    launcher = daemon_launcher(tmp_path, f"127.0.0.1:{port}")
    try:
        daemon = launcher.launch(
            input_topics=["late-in"],
            output_topic="late-out",
            dead_letter_topic="late-dead",
            group_id="late",
            wait_ready=False,
        )
        daemon.wait_for(lambda: daemon.get("/healthz")[0] == 200, 30, "/healthz while waiting")
        statuses = []
        for _ in range(10):  # the broker comes 10 s after the daemon
            statuses.append((daemon.get("/healthz")[0], daemon.get("/readyz")[0]))
            time.sleep(1.0)
        assert daemon.process.poll() is None, daemon.log()
        assert set(statuses) == {(200, 503)}, statuses
        with EmbeddedBroker(port) as broker:
            asyncio.run(create_topics(broker.bootstrap_servers, {"late-in": 1, "late-out": 1, "late-dead": 1}))
            kafka = type(kafka_io)(broker.bootstrap_servers)  # the session helpers, on this test's own broker
            kafka.produce("late-in", LINES)
            daemon.wait_for(
                lambda: daemon.metric("logdelim_records_produced_total", topic="late-out") >= 200,
                90,
                "records once the broker is up",
            )
            daemon.wait_ready(30)
            assert daemon.stop()[0] == 0
            assert _offsets(kafka, "late-out", 200) == list(range(200))
    finally:
        launcher.kill_all()
    log = daemon.log()
    assert log.count("not reachable yet") == 1, "one line per interval, not one per attempt"
    assert "Unable connect" not in log and "Unclosed" not in log, log


def test_a_broker_that_never_comes_ends_the_start_after_the_timeout(daemon_launcher, tmp_path) -> None:
    launcher = daemon_launcher(tmp_path, f"127.0.0.1:{free_port()}")
    try:
        daemon = launcher.launch(
            input_topics=["x-in"],
            output_topic="x-out",
            dead_letter_topic="x-dead",
            group_id="x",
            wait_ready=False,
            kafka={"startup_timeout_s": 3.0},
        )
        rc = daemon.process.wait(timeout=60)
    finally:
        launcher.kill_all()
    log = daemon.log()
    assert rc == 1, log
    assert "kafka.startup_timeout_s" in log and "Unclosed" not in log and "Traceback" not in log, log


@pytest.fixture
def waiting_daemon(daemon_launcher, tmp_path) -> Iterator[Any]:
    """A daemon whose broker never comes, once its tagging process is up and it waits for the broker."""
    launcher = daemon_launcher(tmp_path, f"127.0.0.1:{free_port()}")
    try:
        daemon = launcher.launch(
            input_topics=["w-in"], output_topic="w-out", dead_letter_topic="w-dead", group_id="w", wait_ready=False
        )
        daemon.wait_for(lambda: "not reachable yet" in daemon.log(), 60, "the wait for the broker")
        yield daemon
    finally:
        launcher.kill_all()


def test_sigterm_while_waiting_for_the_broker_exits_0_at_once(waiting_daemon) -> None:
    rc, stop_s = waiting_daemon.stop(signal.SIGTERM)
    log = waiting_daemon.log()
    assert rc == 0 and stop_s < 10, log
    assert "Unclosed" not in log and "Traceback" not in log


def test_the_daemons_own_process_does_not_load_torch(waiting_daemon) -> None:
    # The network runs in the tagging process: torch in the daemon's process as well would be most
    # of that process's memory.
    pid = waiting_daemon.process.pid
    tagging_maps = Path(f"/proc/{tagging_child(pid)}/maps").read_text()
    assert "libtorch" in tagging_maps  # the check below looks for the right library
    assert "libtorch" not in Path(f"/proc/{pid}/maps").read_text()


def test_a_metrics_port_in_use_fails_the_start_before_the_model_loads(daemon_launcher, tmp_path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    launcher = daemon_launcher(tmp_path, f"127.0.0.1:{free_port()}")
    try:
        daemon = launcher.launch(
            input_topics=["p-in"],
            output_topic="p-out",
            dead_letter_topic="p-dead",
            group_id="p",
            wait_ready=False,
            metrics={"host": "127.0.0.1", "port": taken.getsockname()[1]},
        )
        rc = daemon.process.wait(timeout=60)
    finally:
        launcher.kill_all()
        taken.close()
    log = daemon.log()
    assert rc == 1 and "cannot serve metrics" in log, log
    assert "tagging process" not in log, "the model is not loaded when the port is taken"
    assert "Unclosed" not in log and "Traceback" not in log, log
