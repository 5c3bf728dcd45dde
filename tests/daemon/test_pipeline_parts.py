"""The pipeline's parts without a broker: its settings' checks, readiness from events, shared record helpers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka import TopicPartition
from pipeline_support import SETTINGS
from prometheus_client import CollectorRegistry

from logdelim.daemon.batcher import MicroBatcher
from logdelim.daemon.health import PipelineHealth
from logdelim.daemon.intake import Pending
from logdelim.daemon.metrics import Metrics
from logdelim.daemon.pipeline import PipelineSettings
from logdelim.daemon.records import Source, message_source, output_partition
from logdelim.daemon.tag_stage import TagStage


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"input_format": "xml"}, "input_format 'xml' is not one of raw, json"),
        ({"output_mode": "both"}, "output_mode 'both' is not one of record, enrich"),
        ({"output_key": "none"}, "output_key 'none' is not one of source, input"),
        ({"output_mode": "enrich"}, "output_mode enrich needs input_format json"),
        ({"input_topics": [], "input_pattern": "o.*"}, "input pattern 'o.*' matches the output or dead-letter topic"),
    ],
)
def test_settings_refuse_what_cannot_run_naming_the_setting(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        PipelineSettings(**{**SETTINGS, **changes})


def test_settings_are_plain_frozen_values() -> None:
    settings = PipelineSettings(**SETTINGS)
    assert settings.input_topics == ("in",) and settings.encode_workers == 1 and not settings.enrich
    with pytest.raises(AttributeError):
        settings.max_lines = 9  # type: ignore[misc]


class _Consumer:
    """What readiness asks of a consumer before the monitor runs: nothing."""


def test_readiness_follows_events_and_a_stalled_tagging_call() -> None:
    metrics = Metrics(CollectorRegistry())
    health = PipelineHealth(_Consumer(), metrics, None, tagger_stall_s=0.05)

    def ready() -> float | None:
        return metrics.registry.get_sample_value("logdelim_ready")

    assert not health.is_ready() and ready() == 0, "not ready before an assignment"
    health.assignment({TopicPartition("in", 0)})
    assert health.is_ready() and ready() == 1
    with health.tagging_call():
        assert health.is_ready(), "a tagging call under tagger_stall_s"
        time.sleep(0.1)
        assert not health.is_ready() and health.oldest_tagging_age_s() >= 0.1, "a stalled tagging call"
    assert health.is_ready() and health.oldest_tagging_age_s() == 0.0
    health.rebalance_started()
    assert not health.is_ready() and health.rebalancing
    health.assignment(set())
    assert not health.is_ready(), "an empty assignment"
    health.assignment({TopicPartition("in", 0)})
    health.stopping()
    assert not health.is_ready()


def test_message_source_and_output_partition() -> None:
    assert message_source("in", 2, 7, -1) == Source("in", 2, 7, None), "the client reports no timestamp as -1"
    assert message_source("in", 2, 7, 1_700_000_000_000).timestamp_ms == 1_700_000_000_000
    assert output_partition(Source("in", 2, 7, None), 3) == 2
    assert output_partition(Source("in", 3, 7, None), 3) is None, "the producer picks one by key"


class _SlowEncoder:
    """An encoder whose every call takes ``call_s``: what a busy tagging thread looks like."""

    cache_hits = cache_misses = cache_bytes = 0

    def __init__(self, call_s: float) -> None:
        self.call_s = call_s
        self.calls = 0

    def encode_messages(self, lines: list[str], sources: list[Any]) -> list[Any]:
        self.calls += 1
        time.sleep(self.call_s)
        return []


class _Emitter:
    async def emit(self, batch: list[Any], tagged: list[Any]) -> None:
        pass


class _Tracker:
    in_flight = 0


def test_inference_time_counts_tagging_not_the_wait_for_a_thread() -> None:
    """Regression: timed from submission, each batch's time held its wait behind the batch before
    it in the one tagging thread, and the histogram's sum ran at up to twice the wall time."""
    metrics = Metrics(CollectorRegistry())
    batcher: MicroBatcher[Pending] = MicroBatcher(max_lines=1, max_wait_ms=1)
    # Eight lines waiting: a backlog's batches (batcher.BACKLOG_FACTOR lines each), then one line each.
    for offset in range(8):
        batcher.add(Pending(message_source("in", 0, offset, None), None, f"line {offset}", None, ()))  # type: ignore[arg-type]
    batcher.close()
    encoder = _SlowEncoder(call_s=0.05)
    stage = TagStage(
        batcher,
        encoder,  # type: ignore[arg-type]
        _Emitter(),  # type: ignore[arg-type]
        PipelineHealth(_Consumer(), metrics, None, tagger_stall_s=5),
        _Tracker(),  # type: ignore[arg-type]
        metrics,
        encode_workers=1,
        enrich=None,
        max_tracked_templates=10,
    )
    started = time.perf_counter()
    asyncio.run(stage.run())
    wall_s = time.perf_counter() - started
    stage.close()
    total_s = metrics.registry.get_sample_value("logdelim_inference_seconds_sum")
    calls = encoder.calls
    assert calls >= 5 and metrics.registry.get_sample_value("logdelim_inference_seconds_count") == calls
    assert total_s is not None and calls * 0.05 <= total_s <= wall_s, (total_s, wall_s)
