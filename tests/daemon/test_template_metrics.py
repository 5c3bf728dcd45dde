"""Templates seen, with bounded memory: the table of recent template ids and the two metrics it drives."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry

from logdelim.daemon.config import ConfigError, ModelConfig, from_mapping
from logdelim.daemon.metrics import Metrics, TemplateTable, TemplateTracker


def test_a_template_is_new_once() -> None:
    table = TemplateTable(10)
    assert table.see("a") is True
    assert table.see("a") is False
    assert table.see("b") is True
    assert len(table) == 2 and "a" in table and "c" not in table


def test_the_least_recently_seen_template_is_forgotten_first() -> None:
    table = TemplateTable(3)
    for template_id in ("a", "b", "c"):
        table.see(template_id)
    table.see("a")  # a is now the most recent; b the least
    assert table.see("d") is True
    assert len(table) == 3 and "b" not in table and all(t in table for t in "acd")
    assert table.see("b") is True, "a forgotten template counts as new again"
    assert "c" not in table


def test_the_table_never_holds_more_than_its_bound() -> None:
    table = TemplateTable(100)
    rng = random.Random(7)
    for _ in range(5_000):
        table.see(f"{rng.randrange(1_000):016x}")
        assert len(table) <= 100
    assert len(table) == 100


def test_a_table_holds_at_least_one_template() -> None:
    with pytest.raises(ValueError):
        TemplateTable(0)


def _sample(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(name)


def test_tracker_counts_new_templates_and_tracks_the_table_size() -> None:
    registry = CollectorRegistry()
    tracker = TemplateTracker(Metrics(registry), max_templates=3)
    assert _sample(registry, "logdelim_new_templates_total") == 0
    assert _sample(registry, "logdelim_templates_tracked") == 0
    assert tracker.observe(["a", "b", "a", None, "b"]) == 2  # None: a record without a template
    assert _sample(registry, "logdelim_new_templates_total") == 2
    assert _sample(registry, "logdelim_templates_tracked") == 2
    assert tracker.observe(["a", "b"]) == 0
    assert _sample(registry, "logdelim_new_templates_total") == 2
    assert tracker.observe(["c", "d", "e"]) == 3
    assert _sample(registry, "logdelim_new_templates_total") == 5
    assert _sample(registry, "logdelim_templates_tracked") == 3, "bounded by max_templates"
    assert tracker.observe([]) == 0 and tracker.observe([None]) == 0
    assert _sample(registry, "logdelim_new_templates_total") == 5


def test_two_trackers_on_two_registries_count_apart() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    TemplateTracker(Metrics(first), 10).observe(["a", "b"])
    TemplateTracker(Metrics(second), 10).observe(["a"])
    assert _sample(first, "logdelim_new_templates_total") == 2
    assert _sample(second, "logdelim_new_templates_total") == 1


def test_max_tracked_templates_has_one_default_and_is_validated() -> None:
    assert ModelConfig().max_tracked_templates == 50_000
    assert from_mapping({"model": {"max_tracked_templates": 10}}).model.max_tracked_templates == 10
    for bad, message in ((0, "must be > 0"), ("many", "is not an integer")):
        with pytest.raises(ConfigError) as info:
            from_mapping({"model": {"max_tracked_templates": bad}})
        assert str(info.value).startswith("model.max_tracked_templates:") and message in str(info.value)
