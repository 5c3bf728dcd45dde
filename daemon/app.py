"""Composition root of ``logdelim run``: config -> engine, clients, metrics, pipeline.

Everything it builds receives plain values from the config. SIGTERM and SIGINT
start a graceful stop: stop fetching, drain, commit, exit 0 (while still waiting
for the model or the broker: exit 0 at once).
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Callable, Mapping
from typing import Any

from logdelim.daemon.clients import start_when_reachable, stop_client
from logdelim.daemon.config import Config, ConfigError, ModelConfig, load
from logdelim.daemon.endpoints import MetricsServer
from logdelim.daemon.health import LoopHeartbeat
from logdelim.daemon.lag import HighWatermarkProbe
from logdelim.daemon.logging_setup import configure_logging
from logdelim.daemon.metrics import Metrics, process_registry
from logdelim.daemon.pipeline import MissingTopicError, Pipeline

logger = logging.getLogger(__name__)

PRODUCER_LINGER_MS = 5
# aiokafka blocks a send while its partition's open batch is full and unsent, and Tansu
# answers each produce request in tens of milliseconds: large batches keep records
# (about 1 KB of JSON each) flowing. Measured: 16 KiB batches cap the daemon near 400
# records/s against Tansu; 1 MiB ones leave the model as the bottleneck.
PRODUCER_BATCH_BYTES = 1024 * 1024


def security_options(security: Mapping[str, Any]) -> dict[str, Any]:
    """aiokafka keyword arguments for ``kafka.security`` (ssl_* files become an ``ssl_context``)."""
    options = {k: v for k, v in security.items() if not k.startswith("ssl_")}
    ssl_files = {k[4:]: v for k, v in security.items() if k.startswith("ssl_") and k != "ssl_check_hostname"}
    if ssl_files or "ssl_check_hostname" in security:
        from aiokafka.helpers import create_ssl_context

        context = create_ssl_context(**ssl_files)
        context.check_hostname = bool(security.get("ssl_check_hostname", True))
        options["ssl_context"] = context
    return options


def build_clients(config: Config) -> tuple[Any, Any, Any]:
    """Unstarted clients for ``config``: the group consumer (manual commits), the producer
    (acks=all) and the group-less consumer behind the high-watermark probe (started when first used)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    kafka = config.kafka
    common = {"bootstrap_servers": kafka.bootstrap_servers, "client_id": kafka.client_id,
              **security_options(kafka.security)}
    consumer = AIOKafkaConsumer(
        **common, group_id=kafka.group_id, enable_auto_commit=False, auto_offset_reset=kafka.auto_offset_reset,
        session_timeout_ms=kafka.session_timeout_ms, heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        fetch_max_wait_ms=kafka.fetch_max_wait_ms, max_partition_fetch_bytes=kafka.max_message_bytes,
        fetch_max_bytes=max(kafka.max_message_bytes, 50 * 1024 * 1024))
    # Tansu has no idempotent producer; duplicates are what the record key is for.
    producer = AIOKafkaProducer(
        **common, acks="all", enable_idempotence=False, linger_ms=PRODUCER_LINGER_MS,
        max_batch_size=PRODUCER_BATCH_BYTES,
        max_request_size=kafka.max_message_bytes, request_timeout_ms=kafka.produce_timeout_ms)
    # Only watermarks are wanted from it: small fetches, short waits.
    probe = AIOKafkaConsumer(**common, group_id=None, enable_auto_commit=False, max_partition_fetch_bytes=65536,
                             fetch_max_wait_ms=100)
    return consumer, producer, probe


async def serve(config: Config, on_started: Callable[[MetricsServer], None] | None = None,
                stop: asyncio.Event | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT (or ``stop`` is set); returns the exit status.

    The order matters to an operator: the metrics port is bound first (a port in use
    fails in milliseconds, not after the model loads), ``/healthz`` answers from then on
    and ``/readyz`` 503 until records flow; then the model loads, then the daemon waits
    for the broker (``kafka.startup_timeout_s``). Every early exit closes what was opened.

    Args:
        config: validated configuration.
        on_started: called with the metrics server once it listens (the demo prints its URL).
        stop: an extra stop trigger for in-process callers.
    """
    registry = process_registry()
    metrics = Metrics(registry)
    stopping = asyncio.Event()
    heartbeat = LoopHeartbeat(config.metrics.loop_stall_s)
    pipeline: Any = None
    try:
        server = MetricsServer(config.metrics.host, config.metrics.port, registry,
                               is_ready=lambda: pipeline is not None and pipeline.is_ready(),
                               is_live=heartbeat.alive)
    except OSError as exc:
        logger.error("cannot serve metrics on %s:%d: %s", config.metrics.host, config.metrics.port, exc)
        return 1
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    background = [asyncio.create_task(heartbeat.run(), name="heartbeat")]
    if stop is not None:
        background.append(asyncio.create_task(_set_when(stop, stopping), name="stop"))
    engine: Any = None
    try:
        server.start()
        logger.info("metrics on http://%s:%d/metrics", config.metrics.host, server.port)
        if on_started is not None:
            on_started(server)
        engine = await _load_engine(config.model, metrics)
        if engine is None:
            return 1
        metrics.model_info.labels(engine.model_id, engine.device).set(1)
        # Everything loaded so far (torch, aiokafka, the model: ~180,000 objects) lives as long as
        # the process: out of the garbage collector's sight, a full collection no longer walks it
        # (180 ms each, measured; a latency spike every few seconds of traffic).
        gc.freeze()
        if stopping.is_set():
            return 0
        kafka = config.kafka

        def build() -> list[tuple[str, Any]]:
            consumer, producer, probe_consumer = build_clients(config)
            return [("producer", producer), ("consumer", consumer), ("lag probe", HighWatermarkProbe(probe_consumer))]

        clients = await start_when_reachable(build, kafka.bootstrap_servers, kafka.startup_timeout_s, stopping)
        if clients is None:
            return 0 if stopping.is_set() else 1
        producer, consumer, lag_probe = clients
        try:
            pipeline = _pipeline(config, engine, metrics, consumer, producer, lag_probe)
            background.append(asyncio.create_task(_set_when(stopping, pipeline), name="stop-pipeline"))
            logger.info("consuming %s as group %s -> %s (dead letters: %s)", ",".join(kafka.input_topics),
                        kafka.group_id, kafka.output_topic, kafka.dead_letter_topic)
            try:
                await pipeline.run()
            except MissingTopicError as exc:
                logger.error("%s", exc)
                return 1
            return 0
        finally:
            # Bounded: with the broker gone, leaving the group or flushing could otherwise
            # outlast the 10 s a stop may take (what was not acknowledged is not committed).
            await asyncio.gather(*(stop_client(name, client) for name, client in
                                   (("consumer", consumer), ("producer", producer), ("lag probe", lag_probe))))
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if engine is not None and config.model.tagging_process:
            await asyncio.to_thread(engine.close)
        server.stop()
        logger.info("stopped")


async def _load_engine(model: ModelConfig, metrics: Metrics) -> Any:
    """The tagging process (or, with ``model.tagging_process`` off, an engine here); None if it cannot load.

    Loaded in a thread: the event loop keeps answering heartbeats (``/healthz``) meanwhile.
    """
    from logdelim.daemon.tagging import TaggingProcess
    from logdelim.model.engine import Engine

    options = {"path": model.path, "device": model.device, "num_threads": model.num_threads,
               "quantize": model.quantize, "cache_size": model.cache_size, "cache_max_bytes": model.cache_max_bytes}
    try:
        if model.tagging_process:
            return await asyncio.to_thread(TaggingProcess, options, metrics.tagging_restarts.inc,
                                           model.tagger_timeout_s)
        engine = await asyncio.to_thread(Engine.load, **options)
    except (RuntimeError, OSError, ValueError) as exc:
        logger.error("cannot load the model: %s", exc)
        return None
    warm_up_s = await asyncio.to_thread(engine.warm_up)
    logger.info("model %s on %s (network warmed up in %.2f s)", engine.model_id, engine.device, warm_up_s)
    return engine


def _pipeline(config: Config, engine: Any, metrics: Metrics, consumer: Any, producer: Any,
              lag_probe: HighWatermarkProbe) -> Pipeline:
    """The pipeline, wired from the config's plain values."""
    kafka, batching, model = config.kafka, config.batching, config.model
    # The tagging process answers calls in order, so two threads keep it busy; an
    # engine in this process takes one caller at a time.
    return Pipeline(
        consumer, producer, engine, metrics,
        input_topics=kafka.input_topics, output_topic=kafka.output_topic, dead_letter_topic=kafka.dead_letter_topic,
        max_lines=batching.max_lines, max_wait_ms=batching.max_wait_ms,
        max_in_flight_lines=batching.max_in_flight_lines, max_line_bytes=config.input.max_line_bytes,
        max_message_bytes=kafka.max_message_bytes, commit_interval_ms=kafka.commit_interval_ms,
        produce_retries=kafka.produce_retries, drain_timeout_s=kafka.drain_timeout_s, lag_probe=lag_probe,
        encode=engine.encode_messages if model.tagging_process else None,
        encode_workers=2 if model.tagging_process else 1, max_tracked_templates=model.max_tracked_templates,
        tagger_stall_s=model.tagger_stall_s)


async def _set_when(event: asyncio.Event, target: Any) -> None:
    """Once ``event`` is set: set ``target`` (an event) or ask it to stop (the pipeline)."""
    await event.wait()
    if isinstance(target, asyncio.Event):
        target.set()
    else:
        target.request_stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logdelim run``."""
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="YAML config (keys: see README); omitted = all defaults")
    parser.add_argument("--set", metavar="SECTION.KEY=VALUE", action="append", default=[], dest="overrides",
                        help="override one key (value parsed as YAML); repeatable; wins over "
                             "LOGDELIM_SECTION__KEY environment variables")


def parse_overrides(items: list[str]) -> dict[str, str]:
    """``["a.b=1"]`` -> ``{"a.b": "1"}``.

    Raises:
        ConfigError: for an item without ``=``.
    """
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"{item}: --set takes SECTION.KEY=VALUE")
        out[key.strip()] = value
    return out


def run(args: argparse.Namespace) -> int:
    """``logdelim run``: validate the config (exit 2 naming the bad key), then serve."""
    try:
        config = load(args.config, parse_overrides(args.overrides))
    except ConfigError as exc:
        sys.stderr.write(f"logdelim run: config error: {exc}\n")
        return 2
    configure_logging(config.logging.level, config.logging.format)
    return asyncio.run(serve(config))
