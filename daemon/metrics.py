"""Prometheus metrics of the daemon (the HTTP endpoints that serve them are in :mod:`.endpoints`).

Names are a contract with deploy/ (dashboards, alerts).
Everything is declared once, in :class:`Metrics`, on a registry passed in, so
tests use a fresh registry and the daemon one with the process collectors.
Buckets fit the latencies involved (milliseconds to seconds), not the library
defaults.

Templates are counted without a label per template (their number is unbounded):
:class:`TemplateTracker` keeps the ids of the templates seen most recently in a
bounded table and counts the ones it did not hold, so a rate of
``logdelim_new_templates_total`` is the rate of templates new to this process
(a new release or a new failure mode shows up as a burst of it). The ids are the
records' ``group_id``: a template the stream has already grouped with a known one
(a user name the tagger kept as text) is no new event.
"""

from __future__ import annotations

import bisect
import importlib.metadata
import itertools
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    platform_collector,
    process_collector,
)
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

logger = logging.getLogger(__name__)

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
INFERENCE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Every 50 ms from 100 to 300 ms: a p99 near the 250 ms alert is read to within a bucket of 50 ms.
END_TO_END_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONFIDENCE_BUCKETS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0)


def build_labels(model_id: str) -> tuple[str, str, str]:
    """The labels of ``logdelim_build_info``: (package version, ``model_id``, torch version).

    Versions come from the installed distributions' metadata, so this module does not
    import torch (the endpoints and tests import it without a model). "unknown" for a
    distribution that is not installed (a source tree run without ``pip install``).
    """

    def version(distribution: str) -> str:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    return version("logdelim"), model_id, version("torch")


def process_registry() -> CollectorRegistry:
    """A fresh registry with prometheus-client's process, platform and GC collectors."""
    registry = CollectorRegistry()
    process_collector.ProcessCollector(registry=registry)
    platform_collector.PlatformCollector(registry=registry)
    gc_collector.GCCollector(registry=registry)
    return registry


class Metrics:
    """Every metric the daemon exports, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.lines_consumed = Counter("logdelim_lines_consumed", "Input messages fetched", ["topic"], registry=registry)
        self.records_produced = Counter(
            "logdelim_records_produced", "Output records acknowledged by the broker", ["topic"], registry=registry
        )
        self.dead_letters = Counter(
            "logdelim_dead_letters",
            "Input messages sent to the dead-letter topic (acknowledged), by reason",
            ["reason"],
            registry=registry,
        )
        self.tagging_restarts = Counter(
            "logdelim_tagging_process_restarts",
            "Tagging processes that died and were replaced (their batch retried message by message)",
            registry=registry,
        )
        self.produce_errors = Counter(
            "logdelim_produce_errors", "Failed produce attempts (each retry counts)", ["topic"], registry=registry
        )
        self.batch_size = Histogram(
            "logdelim_batch_size_lines", "Lines per tagging batch", buckets=BATCH_SIZE_BUCKETS, registry=registry
        )
        self.inference_seconds = Histogram(
            "logdelim_inference_seconds",
            "Wall time of one tagging batch in a tagging thread (queueing excluded)",
            buckets=INFERENCE_BUCKETS_S,
            registry=registry,
        )
        # Observed per record: a batch at a time (BatchHistogram).
        self.end_to_end_seconds = BatchHistogram(
            "logdelim_end_to_end_seconds",
            "Input message broker timestamp to acknowledgement of its output record",
            buckets=END_TO_END_BUCKETS_S,
            registry=registry,
        )
        self.delimiter_confidence = BatchHistogram(
            "logdelim_delimiter_confidence",
            "Lowest delimiter probability in each tagged line (drift shows as mass moving left)",
            buckets=CONFIDENCE_BUCKETS,
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "logdelim_consumer_lag_messages",
            "Fetch high watermark minus consumer position",
            ["topic", "partition"],
            registry=registry,
        )
        self.cache_hit_ratio = Gauge(
            "logdelim_cache_hit_ratio", "Engine line-cache hits / lookups, cumulative", registry=registry
        )
        self.lines_in_flight = Gauge(
            "logdelim_lines_in_flight",
            "Lines fetched but not yet committed (the backpressure measure)",
            registry=registry,
        )
        self.paused_partitions = Gauge(
            "logdelim_paused_partitions", "Partitions paused by backpressure", registry=registry
        )
        self.model_info = Gauge(
            "logdelim_model_info", "Model in use (value is always 1)", ["model_id", "device"], registry=registry
        )
        self.build_info = Gauge(
            "logdelim_build_info",
            "What this process runs: package version, model and torch version (value is always 1; see build_labels)",
            ["version", "model_id", "torch"],
            registry=registry,
        )
        self.ready = Gauge(
            "logdelim_ready",
            "1 while /readyz answers 200 (assignment, broker reachable, tagger answering, not stopping)",
            registry=registry,
        )
        self.oldest_tagging_age = Gauge(
            "logdelim_tagging_oldest_call_age_seconds",
            "Age of the oldest tagging call not answered yet (0 when none)",
            registry=registry,
        )
        self.cache_bytes = Gauge(
            "logdelim_cache_bytes",
            "Bytes held by the engine's line and shape caches (at most model.cache_max_bytes)",
            registry=registry,
        )
        self.new_templates = Counter(
            "logdelim_new_templates",
            "Records whose template (its group_id) was not in the table of recently seen templates (a rate is the new-template rate)",
            registry=registry,
        )
        self.templates_tracked = Gauge(
            "logdelim_templates_tracked",
            "Distinct templates in the table of recently seen templates (at most model.max_tracked_templates)",
            registry=registry,
        )


class BatchHistogram:
    """A Prometheus histogram that takes a batch of values per call (a collector on ``registry``).

    prometheus-client's ``Histogram`` takes one value per call, each with a lock and a
    walk over the buckets in Python: per record, that was a seventh of the event loop's
    work at full speed. This one places a batch's values with ``bisect`` and adds them
    under one lock, and exports the same series (``_bucket`` with ``le``, ``_count``,
    ``_sum``), so queries, dashboards and alerts do not change.

    Args:
        name: the metric's name (without ``_bucket``, ``_count`` or ``_sum``).
        documentation: its help text.
        buckets: upper bounds, ascending (``+Inf`` is added).
        registry: where it is exported.
    """

    def __init__(self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry) -> None:
        if list(buckets) != sorted(buckets):
            raise ValueError(f"{name}: buckets must be ascending")
        self.name = name
        self.documentation = documentation
        self._bounds = (*(float(b) for b in buckets), math.inf)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._lock = threading.Lock()  # the HTTP server's threads collect while the event loop observes
        registry.register(self)

    def observe(self, value: float) -> None:
        """Count one value."""
        self.observe_many((value,))

    def observe_many(self, values: Sequence[float]) -> None:
        """Count every value of ``values`` (each in the first bucket whose bound it does not exceed)."""
        if not values:
            return
        bounds = self._bounds
        places = [bisect.bisect_left(bounds, value) for value in values]
        total = math.fsum(values)
        with self._lock:
            counts = self._counts
            for place in places:
                counts[place] += 1
            self._sum += total

    def describe(self) -> list[Metric]:
        """The family without samples (the registry checks names with it)."""
        return [HistogramMetricFamily(self.name, self.documentation)]

    def collect(self) -> Iterator[Metric]:
        """The cumulative buckets, count and sum, as prometheus-client's ``Histogram`` exports them."""
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative = itertools.accumulate(counts)
        yield HistogramMetricFamily(
            self.name,
            self.documentation,
            sum_value=total,
            buckets=[(floatToGoString(b), c) for b, c in zip(self._bounds, cumulative)],
        )


class TemplateTable:
    """The ids of the ``max_templates`` templates seen most recently (least recently seen go first).

    Bounded memory whatever the stream: about 220 bytes per id (a 16-character string
    and an ordered-dict entry; measured), so the default 50,000 ids take about 11 MB.
    """

    def __init__(self, max_templates: int) -> None:
        if max_templates < 1:
            raise ValueError(f"max_templates must be >= 1, not {max_templates}")
        self.max_templates = max_templates
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, template_id: object) -> bool:
        return template_id in self._ids

    def see(self, template_id: str) -> bool:
        """Mark ``template_id`` seen now; True when the table did not hold it (a new template)."""
        ids = self._ids
        if template_id in ids:
            ids.move_to_end(template_id)
            return False
        ids[template_id] = None
        if len(ids) > self.max_templates:
            ids.popitem(last=False)
        return True


class TemplateTracker:
    """Templates of the records this process writes, as ``logdelim_new_templates_total`` and
    ``logdelim_templates_tracked`` (see :class:`TemplateTable`).

    Called on the event loop with each batch's template ids: the table lives in the
    daemon's process, not the tagging process, so a tagging process that is replaced
    does not make every template new again.
    """

    def __init__(self, metrics: Metrics, max_templates: int) -> None:
        self.table = TemplateTable(max_templates)
        self._new = metrics.new_templates
        self._tracked = metrics.templates_tracked

    def observe(self, template_ids: Iterable[str | None]) -> int:
        """Count the templates of a batch of records (None: a record without a template); returns how many were new."""
        see = self.table.see
        new = sum(see(template_id) for template_id in template_ids if template_id is not None)
        if new:
            self._new.inc(new)
            self._tracked.set(len(self.table))
        return new
