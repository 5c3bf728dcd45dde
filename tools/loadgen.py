"""The pipeline bench's paced producer and output watchers, in a process of their own, on librdkafka.

The latency a consumer sees is only as good as the consumer timing it. In the
bench's own process the paced producer and the watcher were pure-Python aiokafka
clients sharing one event loop (and, for the floor, that loop with the bare
passthrough loop itself): a burst of sends held the watcher's fetch back, so the
floor's consumer-seen p99 swung from 200 ms to over a second while the daemon's
own histogram stayed near 150 ms. Here librdkafka's threads (``confluent-kafka``)
send and fetch, in a child process of the bench, and Python only paces the sends
and notes arrivals.

The child (``python -m logdelim.tools.loadgen BOOTSTRAP LINES_JSON``) reads one
JSON request per line on stdin and answers each with one JSON line on stdout:

- ``{"op": "watch", "topic": T}``: read ``T`` from its start from now on, noting
  when each distinct record (by key: at-least-once repeats count once) arrived
  and its input timestamp (the record's ``source.timestamp_ms``);
- ``{"op": "wait", "topic": T, "count": N, "timeout_s": S}``: until ``N``
  distinct records of ``T`` were seen;
- ``{"op": "pace", "topic": IN, "watch": T, "rate_per_s": R, "seconds": S,
  "partitions": P, "start": K}``: send the lines from index ``K`` (wrapping round)
  at ``R`` lines/s for ``S`` seconds round-robin over ``P`` partitions, wait for
  their records on ``T``, and answer the latencies (input timestamp to arrival).

:class:`LoadGenerator` is the bench's asyncio handle on the child.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

# How often the paced producer wakes up to send what is due.
PACE_TICK_S = 0.005
# A watcher's fetch wait: latency it adds to a record when the topic is quiet.
WATCH_FETCH_WAIT_MS = 10
# Records per consume call of a watcher.
WATCH_BATCH = 10_000
# Python hands the GIL between the pacing and watching threads at least this often (default 5 ms).
SWITCH_INTERVAL_S = 0.0005
# How long a pace request waits for its records after the last send, beyond its seconds.
TAIL_TIMEOUT_S = 30.0
# How long the child may take to start (import confluent-kafka, connect).
START_TIMEOUT_S = 60.0


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank ``q`` quantile of already sorted values; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, -(-int(q * len(sorted_values) * 1000) // 1000))  # ceil(q * n) without float surprises
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


class _Watcher(threading.Thread):
    """Reads every partition of a topic from its start; notes ``(arrival_ms, input_timestamp_ms)`` per record."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        super().__init__(name=f"watch-{topic}", daemon=True)
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        self.arrivals: list[tuple[float, int | None]] = []
        self._keys: set[bytes | None] = set()
        self._changed = threading.Condition()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": f"bench-watch-{uuid.uuid4().hex[:8]}",  # never joins: partitions are assigned
                "enable.auto.commit": False,
                "fetch.wait.max.ms": WATCH_FETCH_WAIT_MS,
                "fetch.min.bytes": 1,
            }
        )
        partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(partitions)])

    @property
    def count(self) -> int:
        """Distinct records seen so far."""
        return len(self._keys)

    def run(self) -> None:
        keys, arrivals = self._keys, self.arrivals
        while True:
            # consume() waits for a whole batch or its timeout: poll() returns with the first record,
            # then consume() takes whatever else has arrived without waiting.
            first = self._consumer.poll(0.1)
            if first is None:
                continue
            seen_at_ms = time.time() * 1000
            messages = [first, *self._consumer.consume(WATCH_BATCH, timeout=0)]
            for message in messages:
                key, value = message.key(), message.value()
                if message.error() is not None or value is None or key in keys:
                    continue
                keys.add(key)
                arrivals.append((seen_at_ms, orjson.loads(value)["source"]["timestamp_ms"]))
            with self._changed:
                self._changed.notify_all()

    def wait_for(self, count: int, timeout_s: float) -> bool:
        """Block until ``count`` distinct records were seen; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while self.count < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.5))
        return True


class _Child:
    """The child's state: its producer, its lines and a watcher per watched topic."""

    def __init__(self, bootstrap_servers: str, lines: list[str]) -> None:
        from confluent_kafka import Producer

        self.bootstrap_servers = bootstrap_servers
        self.lines = [line.encode("utf-8") for line in lines]
        self.watchers: dict[str, _Watcher] = {}
        # The daemon's delivery settings (Tansu has no idempotent producer). The input timestamp is
        # taken at produce(); a linger of one pacing tick sends each tick's burst as one batch per
        # partition, where no linger sent a request per few lines and loaded the broker.
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "acks": "all",
                "enable.idempotence": False,
                "linger.ms": PACE_TICK_S * 1000,
            }
        )

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "watch":
            if request["topic"] not in self.watchers:
                watcher = self.watchers[request["topic"]] = _Watcher(self.bootstrap_servers, request["topic"])
                watcher.start()
            return {"ok": True}
        if op == "wait":
            watcher = self.watchers[request["topic"]]
            complete = watcher.wait_for(request["count"], request["timeout_s"])
            return {"complete": complete, "count": watcher.count}
        if op == "pace":
            return self.pace(self.watchers[request["watch"]], request)
        raise ValueError(f"unknown op {op!r}")

    def pace(self, watcher: _Watcher, request: dict[str, Any]) -> dict[str, Any]:
        """Send lines at the asked rate (bursts every ``PACE_TICK_S``), then time their records on ``watcher``.

        Acknowledgements are waited for at the end, not per send, so a slow broker
        does not lower the offered load.
        """
        topic, partitions, start = request["topic"], request["partitions"], request["start"]
        rate_per_s, seconds = request["rate_per_s"], request["seconds"]
        lines, produce, poll = self.lines, self.producer.produce, self.producer.poll
        first, target = len(watcher.arrivals), watcher.count
        total = int(seconds * rate_per_s)
        began = time.perf_counter()
        sent = 0
        while sent < total:
            elapsed = time.perf_counter() - began
            # The last tick sends what is left: the phase offers rate_per_s * seconds lines exactly.
            due = total if elapsed >= seconds else min(int(elapsed * rate_per_s) + 1, total)
            while sent < due:
                try:
                    produce(topic, lines[(start + sent) % len(lines)], partition=sent % partitions)
                except BufferError:  # librdkafka's local queue is full: let deliveries drain it
                    poll(PACE_TICK_S)
                    continue
                sent += 1
            poll(0)
            time.sleep(PACE_TICK_S)
        unsent = self.producer.flush(TAIL_TIMEOUT_S)
        complete = watcher.wait_for(target + sent, TAIL_TIMEOUT_S + seconds)
        latencies_ms = sorted(seen - stamp for seen, stamp in watcher.arrivals[first:] if stamp is not None)
        return {
            "offered_lines_per_s": rate_per_s,
            "achieved_input_lines_per_s": sent / seconds,
            "records": len(latencies_ms),
            "sent": sent,
            "unacknowledged": unsent,
            "complete": complete,
            "p50_ms": percentile(latencies_ms, 0.50),
            "p99_ms": percentile(latencies_ms, 0.99),
            "max_ms": latencies_ms[-1] if latencies_ms else None,
        }


def main(argv: Sequence[str] | None = None) -> int:
    """The child: ``BOOTSTRAP LINES_JSON``; requests on stdin, answers on stdout (one JSON line each)."""
    bootstrap_servers, lines_path = argv if argv is not None else sys.argv[1:]
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    child = _Child(bootstrap_servers, orjson.loads(Path(lines_path).read_bytes()))
    print(json.dumps({"ready": True}), flush=True)
    for text in sys.stdin:
        try:
            answer = child.handle(json.loads(text))
        except Exception as exc:  # the bench shows the child's failure; the child stays for the next
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)
    return 0


class LoadGenerator:
    """The bench's handle on the child process: one request at a time.

    Args:
        bootstrap_servers: the broker.
        lines: the lines a pace request sends from (by index, wrapping round).
        directory: where the lines are written for the child.
    """

    def __init__(self, bootstrap_servers: str, lines: Sequence[str], directory: Path) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.lines_path = directory / f"loadgen-{uuid.uuid4().hex[:8]}.json"
        self.lines_path.write_bytes(orjson.dumps(list(lines)))
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> LoadGenerator:
        """Start the child and wait until it is ready."""
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "logdelim.tools.loadgen",
            self.bootstrap_servers,
            str(self.lines_path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        await self._answer(START_TIMEOUT_S)
        return self

    async def watch(self, topic: str) -> None:
        """Begin reading ``topic`` from its start."""
        await self._request({"op": "watch", "topic": topic}, START_TIMEOUT_S)

    async def wait_for(self, topic: str, count: int, timeout_s: float) -> tuple[bool, int]:
        """Wait until ``count`` distinct records of a watched ``topic`` were seen: (complete, seen)."""
        answer = await self._request({"op": "wait", "topic": topic, "count": count, "timeout_s": timeout_s}, timeout_s)
        return answer["complete"], answer["count"]

    async def pace(
        self, topic: str, watch: str, *, rate_per_s: float, seconds: float, partitions: int, start: int
    ) -> dict[str, Any]:
        """Paced lines from index ``start`` into ``topic``; their latencies as seen on the watched ``watch``."""
        request = {
            "op": "pace",
            "topic": topic,
            "watch": watch,
            "rate_per_s": rate_per_s,
            "seconds": seconds,
            "partitions": partitions,
            "start": start,
        }
        return await self._request(request, 2 * TAIL_TIMEOUT_S + seconds)

    async def stop(self) -> None:
        """Close the child's stdin (it exits) and reap it."""
        if self._process is None:
            return
        process, self._process = self._process, None
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()

    async def _request(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        async with self._lock:
            if self._process is None or self._process.stdin is None:
                raise RuntimeError("the load generator is not running")
            self._process.stdin.write(json.dumps(request).encode() + b"\n")
            await self._process.stdin.drain()
            return await self._answer(timeout_s + 5)

    async def _answer(self, timeout_s: float) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), timeout_s)
        if not line:
            raise RuntimeError(f"the load generator exited (status {await self._process.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"the load generator failed: {answer['error']}")
        return answer


if __name__ == "__main__":
    sys.exit(main())
