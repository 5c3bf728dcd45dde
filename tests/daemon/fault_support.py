"""Helpers of the fault suite and the replay tests: test lines, figures, memory, whole-topic reads.

Figures of each fault run are printed and appended as one JSON line to
``$LOGDELIM_FAULT_REPORT`` (default ``build/fault-report.jsonl``); docs/operations.md
("The fault suite") says what each test asserts and how to get its figures.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import multiprocessing.context
import os
import time
from pathlib import Path
from typing import Any

from logdelim.tools.daemon_process import descendants

REPO = Path(__file__).resolve().parents[2]
REPORT_ENV = "LOGDELIM_FAULT_REPORT"


def short_lines(count: int, start: int = 0) -> list[str]:
    """Short, repetitive log lines (about 60 bytes; few distinct ones, so the engine's cache serves most)."""
    return [
        f"2026-11-22 10:{i % 60:02d}:00 INFO svc-{i % 7} GET /api/item/{i % 50} status={200 + i % 3}"
        for i in range(start, start + count)
    ]


def record_figures(test: str, **figures: Any) -> None:
    """Print the figures of a run and append them, with the test name and time, to the report file."""
    entry = {"test": test, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **figures}
    line = json.dumps(entry, sort_keys=False)
    print(f"FAULT-FIGURES {line}")
    path = Path(os.environ.get(REPORT_ENV) or REPO / "build" / "fault-report.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of ``pid`` in MiB: ``VmRSS`` now, or ``VmHWM`` for the peak so far (0 if gone)."""
    try:
        for row in Path(f"/proc/{pid}/status").read_text().splitlines():
            if row.startswith(field + ":"):
                return int(row.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def read_topic(bootstrap_servers: str, topic: str, timeout_s: float = 120.0) -> list[Any]:
    """Every message of ``topic`` up to its log end now (exact on the embedded broker, see replay)."""
    return asyncio.run(_read_topic(bootstrap_servers, topic, timeout_s))


async def _read_topic(bootstrap_servers: str, topic: str, timeout_s: float) -> list[Any]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from logdelim.daemon.replay import Pick, Position, resolve_ranges

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        ranges = await resolve_ranges(consumer, [Pick(topic, None)], Position("earliest"), Position("latest"))
        ends = {TopicPartition(r.topic, r.partition): r.end for r in ranges}
        consumer.assign(list(ends))
        for r in ranges:
            consumer.seek(TopicPartition(r.topic, r.partition), r.start)
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: read {len(out)} messages, not at the end after {timeout_s} s")
            for tp, messages in (await consumer.getmany(timeout_ms=200, max_records=10_000)).items():
                out.extend(m for m in messages if m.offset < ends[tp])
        return out
    finally:
        await consumer.stop()


def is_tagging_process(pid: int) -> bool:
    """Whether ``pid`` is a process multiprocessing spawned to run a target (not its resource tracker)."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def tagging_child(pid: int) -> int:
    """The daemon's tagging process (the one spawned child that is not multiprocessing's resource tracker)."""
    children = [child for child in descendants(pid) if is_tagging_process(child)]
    assert len(children) == 1, f"tagging processes below {pid}: {children}"
    return children[0]


class SlowStartProcess(multiprocessing.context.SpawnProcess):
    """A spawned process that takes ``SlowStartContext.delay_s`` to start (a loaded machine's spawn).

    At module level: a spawned child unpickles its process object, so it imports this class.
    """

    def start(self) -> None:
        time.sleep(SlowStartContext.delay_s)
        super().start()


class SlowStartContext:
    """The spawn context, with processes slow to start (four tagging watchdog passes)."""

    delay_s = 1.0
    Process = SlowStartProcess

    def Pipe(self) -> Any:  # noqa: N802 - the context's own name
        return multiprocessing.get_context("spawn").Pipe()
