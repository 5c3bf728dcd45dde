"""Composition root of ``logdelim run``: config -> encoder (the model), clients, metrics, pipeline.

Everything it builds receives plain values from the config. SIGTERM and SIGINT
start a graceful stop: stop fetching, drain, commit, exit 0 (while still waiting
for the model or the broker: exit 0 at once).
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import gc
import logging
import signal
import ssl
import sys
from collections.abc import Callable
from typing import Any

from logdelim.daemon.clients import build_clients, start_when_reachable, stop_client
from logdelim.daemon.config import Config, ConfigError, ModelConfig, load
from logdelim.daemon.encoder import Encoder, LocalEncoder
from logdelim.daemon.endpoints import MetricsServer
from logdelim.daemon.health import LoopHeartbeat
from logdelim.daemon.lag import HighWatermarkProbe
from logdelim.daemon.logging_setup import configure_logging
from logdelim.daemon.metrics import Metrics, build_labels, process_registry
from logdelim.daemon.pipeline import MissingTopicError, Pipeline, PipelineSettings
from logdelim.daemon.tasks import await_chain, cancel_and_settle

logger = logging.getLogger(__name__)

# A stop takes the drain's timeout, then the final commit (pipeline.FINAL_COMMIT_TIMEOUT_S), the
# clients' stops (clients.CLIENT_STOP_TIMEOUT_S) and the tagging processes' exit; one that runs
# this much past the drain's timeout is stuck.
STOP_SLACK_S = 6.0
# The unfinished tasks are logged this long before the threads' dump (both after the stop's budget).
TASK_DUMP_LEAD_S = 1.0


async def serve(
    config: Config, on_started: Callable[[MetricsServer], None] | None = None, stop: asyncio.Event | None = None
) -> int:
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
    pipeline: Pipeline | None = None
    try:
        server = MetricsServer(
            config.metrics.host,
            config.metrics.port,
            registry,
            is_ready=lambda: pipeline is not None and pipeline.is_ready(),
            is_live=heartbeat.alive,
        )
    except OSError as exc:
        logger.error("cannot serve metrics on %s:%d: %s", config.metrics.host, config.metrics.port, exc)
        return 1
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    background = [
        asyncio.create_task(heartbeat.run(), name="heartbeat"),
        asyncio.create_task(
            _call_when(stopping, lambda: _watch_stop(config.kafka.drain_timeout_s + STOP_SLACK_S)), name="stop-watch"
        ),
    ]
    if stop is not None:
        background.append(asyncio.create_task(_call_when(stop, stopping.set), name="stop"))
    encoder: Encoder | None = None
    unstarted: list[list[tuple[str, Any]]] = []
    try:
        server.start()
        logger.info("metrics on http://%s:%d/metrics", config.metrics.host, server.port)
        if on_started is not None:
            on_started(server)
        # Built before the model loads: unreadable TLS files or a client option aiokafka
        # refuses fail the start at once (exit 2, a configuration error).
        try:
            unstarted.append(_client_set(config.kafka))
        except (OSError, ssl.SSLError, ValueError, TypeError, RuntimeError) as exc:
            logger.error("cannot build the Kafka clients from kafka.security / kafka.*_options: %s", exc)
            return 2
        encoder = await _load_encoder(config.model, metrics)
        if encoder is None:
            return 1
        metrics.model_info.labels(encoder.model_id, encoder.device).set(1)
        metrics.build_info.labels(*build_labels(encoder.model_id)).set(1)
        # Everything loaded so far (aiokafka; torch and the model with no tagging process) lives as long
        # as the process: out of the garbage collector's sight, a full collection no longer walks
        # it (each such walk was a latency spike every few seconds of traffic).
        gc.freeze()
        if stopping.is_set():
            return 0
        kafka = config.kafka
        clients = await start_when_reachable(
            lambda: unstarted.pop() if unstarted else _client_set(kafka),
            kafka.bootstrap_servers,
            kafka.startup_timeout_s,
            stopping,
        )
        if clients is None:
            return 0 if stopping.is_set() else 1
        producer, consumer, lag_probe = clients
        try:
            pipeline = _pipeline(config, encoder, metrics, consumer, producer, lag_probe)
            background.append(asyncio.create_task(_call_when(stopping, pipeline.request_stop), name="stop-pipeline"))
            logger.info(
                "consuming %s as group %s -> %s (dead letters: %s)",
                f"/{kafka.input_pattern}/" if kafka.input_pattern else ",".join(kafka.input_topics),
                kafka.group_id,
                kafka.output_topic,
                kafka.dead_letter_topic,
            )
            try:
                await pipeline.run()
            except MissingTopicError as exc:
                logger.error("%s", exc)
                return 1
            return 0
        finally:
            # Bounded: with the broker gone, leaving the group or flushing could otherwise
            # outlast the 10 s a stop may take (what was not acknowledged is not committed).
            await asyncio.gather(
                *(
                    stop_client(name, client)
                    for name, client in (("consumer", consumer), ("producer", producer), ("lag probe", lag_probe))
                )
            )
    finally:
        for pairs in unstarted:  # built, never handed to a start: aiokafka reports unclosed clients
            await asyncio.gather(*(stop_client(name, client) for name, client in pairs))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await cancel_and_settle(background)
        if encoder is not None:
            await asyncio.to_thread(encoder.close)
        server.stop()
        faulthandler.cancel_dump_traceback_later()
        logger.info("stopped")


def _client_set(kafka: Any) -> list[tuple[str, Any]]:
    """Unstarted ``(name, client)`` pairs in the order they are started (see ``clients``)."""
    consumer, producer, probe_consumer = build_clients(kafka)
    return [("producer", producer), ("consumer", consumer), ("lag probe", HighWatermarkProbe(probe_consumer))]


def engine_options(model: ModelConfig) -> dict[str, Any]:
    """``Engine.load``'s keyword arguments for the ``model`` section (plain values: a tagging process gets them pickled).

    ``model.parallel_tiles`` network calls at once: only a batch of many new line shapes
    makes several tiles, so they speed up a stream of new shapes (docs/performance.md).
    """
    return {
        "path": model.path,
        "device": model.device,
        "num_threads": model.num_threads,
        "parallel_tiles": model.parallel_tiles,
        "quantize": model.quantize,
        "cache_size": model.cache_size,
        "cache_max_bytes": model.cache_max_bytes,
    }


async def _load_encoder(model: ModelConfig, metrics: Metrics) -> Encoder | None:
    """The tagging processes (or, with ``model.tagging_process`` off, an engine here); None if it cannot load.

    Loaded in a thread: the event loop keeps answering heartbeats (``/healthz``) meanwhile.
    """
    from logdelim.daemon.tagging import TaggingPool

    options = engine_options(model)
    try:
        if model.tagging_process:
            return await asyncio.to_thread(
                TaggingPool, options, model.workers, metrics.tagging_restarts.inc, model.tagger_timeout_s
            )
        # Imported only here: where the network runs in tagging processes, torch in the daemon's
        # own process would be most of its memory, for nothing.
        from logdelim.model.engine import Engine

        engine = await asyncio.to_thread(Engine.load, **options)
    except (RuntimeError, OSError, ValueError) as exc:
        logger.error("cannot load the model: %s", exc)
        return None
    warm_up_s = await asyncio.to_thread(engine.warm_up)
    logger.info("model %s on %s (network warmed up in %.2f s)", engine.model_id, engine.device, warm_up_s)
    return LocalEncoder(engine)


def _pipeline(
    config: Config, encoder: Encoder, metrics: Metrics, consumer: Any, producer: Any, lag_probe: HighWatermarkProbe
) -> Pipeline:
    """The pipeline, wired from the config's plain values."""
    kafka, batching, model, output = config.kafka, config.batching, config.model, config.output
    settings = PipelineSettings(
        # A pattern replaces the topic list (whose default then does not apply).
        input_topics=kafka.input_topics if kafka.input_pattern is None else (),
        input_pattern=kafka.input_pattern,
        output_topic=kafka.output_topic,
        dead_letter_topic=kafka.dead_letter_topic,
        input_format=config.input.format,
        input_field=config.input.field,
        output_mode=output.mode,
        output_key=output.key,
        enrich_key=output.enrich_key,
        max_lines=batching.max_lines,
        max_wait_ms=batching.max_wait_ms,
        max_in_flight_lines=batching.max_in_flight_lines,
        max_line_bytes=config.input.max_line_bytes,
        max_message_bytes=kafka.max_message_bytes,
        commit_interval_ms=kafka.commit_interval_ms,
        produce_retries=kafka.produce_retries,
        drain_timeout_s=kafka.drain_timeout_s,
        # A tagging process answers calls in order, so two threads keep each busy; an
        # engine in this process takes one caller at a time.
        encode_workers=2 * model.workers if model.tagging_process else 1,
        max_tracked_templates=model.max_tracked_templates,
        tagger_stall_s=model.tagger_stall_s,
    )
    return Pipeline(consumer, producer, encoder, metrics, settings, lag_probe)


def _watch_stop(after_s: float) -> None:
    """Dump where the stop waits if it takes longer than ``after_s``.

    A stop that hangs is otherwise silent until the orchestrator kills the process. Two
    records: every thread's stack (from faulthandler's own thread, so also when the event
    loop or the GIL is stuck) and, just before, every unfinished asyncio task with the
    chain of awaits it is suspended in (what a thread dump of an idle loop cannot show).
    """
    faulthandler.dump_traceback_later(after_s, exit=False)
    asyncio.get_running_loop().call_later(max(0.0, after_s - TASK_DUMP_LEAD_S), _log_unfinished_tasks)


def _log_unfinished_tasks() -> None:
    for task in asyncio.all_tasks():
        if not task.done():
            logger.warning("stop still waiting: task %r\n%s", task.get_name(), await_chain(task))


async def _call_when(event: asyncio.Event, callback: Callable[[], None]) -> None:
    """Call ``callback`` once ``event`` is set."""
    await event.wait()
    callback()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logdelim run``."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="YAML config (keys: docs/configuration.md); omitted = all defaults",
    )
    parser.add_argument(
        "--set",
        metavar="SECTION.KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override one key (value parsed as YAML); repeatable; wins over "
        "LOGDELIM_SECTION__KEY environment variables",
    )


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
