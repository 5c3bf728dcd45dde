"""Labelled series exist at 0 from the start, so rates and dashboard panels have data before the first event."""

from __future__ import annotations

import pytest
from pipeline_support import SETTINGS
from prometheus_client import CollectorRegistry, Histogram

from logdelim.daemon import inputs
from logdelim.daemon.encoder import LocalEncoder
from logdelim.daemon.metrics import BatchHistogram, Metrics
from logdelim.daemon.pipeline import Pipeline, PipelineSettings


async def test_every_topic_and_reason_is_exported_at_zero_before_any_line() -> None:
    metrics = Metrics(CollectorRegistry())
    # Clients and engine are not touched before run() (nor its worker thread started before the
    # first batch): construction alone must create the series.
    settings = PipelineSettings(**{**SETTINGS, "input_topics": ["in.a", "in.b"]})
    Pipeline(None, None, LocalEncoder(None), metrics, settings)

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert sample("logdelim_lines_consumed_total", topic="in.a") == 0
    assert sample("logdelim_lines_consumed_total", topic="in.b") == 0
    assert sample("logdelim_records_produced_total", topic="out") == 0
    for topic in ("out", "dead"):
        assert sample("logdelim_produce_errors_total", topic=topic) == 0
    for reason in (
        inputs.NULL_VALUE,
        inputs.TOO_LONG,
        inputs.INVALID_UTF8,
        inputs.CONTROL_CHARS,
        inputs.TAGGING_ERROR,
        inputs.NOT_JSON,
        inputs.MISSING_FIELD,
        inputs.FIELD_NOT_STRING,
    ):
        assert sample("logdelim_dead_letters_total", reason=reason) == 0
    assert sample("logdelim_new_templates_total") == 0
    assert sample("logdelim_templates_tracked") == 0


def test_a_batch_histogram_exports_what_prometheus_clients_histogram_does() -> None:
    buckets = (0.005, 0.01, 0.25, 1.0)
    values = [0.0, 0.005, 0.0050001, 0.01, 0.2, 0.25, 0.9999, 1.0, 3.0, 120.0]
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("latency_seconds", "x", buckets=buckets, registry=theirs)
    histogram = BatchHistogram("latency_seconds", "x", buckets=buckets, registry=ours)
    for value in values:
        reference.observe(value)
    histogram.observe_many(values[:4])
    histogram.observe_many([])
    histogram.observe_many(values[4:-1])
    histogram.observe(values[-1])
    for le in ("0.005", "0.01", "0.25", "1.0", "+Inf"):
        want = theirs.get_sample_value("latency_seconds_bucket", {"le": le})
        assert ours.get_sample_value("latency_seconds_bucket", {"le": le}) == want, le
    assert ours.get_sample_value("latency_seconds_count") == len(values)
    assert ours.get_sample_value("latency_seconds_sum") == theirs.get_sample_value("latency_seconds_sum")
    # A histogram's name is taken once per registry, as for prometheus-client's own.
    with pytest.raises(ValueError):
        BatchHistogram("latency_seconds", "again", buckets=buckets, registry=ours)
