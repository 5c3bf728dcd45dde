"""The LRU cache: bounds in entries and bytes, recency order, and what an entry really costs."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from logdelim.model.lru import ENTRY_OVERHEAD_BYTES, LRU


def test_bounded_in_entries_evicting_the_least_recently_used() -> None:
    cache: LRU[str, int] = LRU(3)
    for i, key in enumerate("abc"):
        cache.put(key, i, 10)
    assert cache.get("a") == 0  # now the most recent: "b" is the oldest
    cache.put("d", 3, 10)
    assert len(cache) == 3 and "b" not in cache
    assert [cache.get(k) for k in "acd"] == [0, 2, 3]
    assert cache.evictions == 1
    assert cache.bytes == 3 * (10 + ENTRY_OVERHEAD_BYTES)


def test_bounded_in_bytes() -> None:
    entry = 1000 + ENTRY_OVERHEAD_BYTES
    cache: LRU[int, str] = LRU(1_000_000, max_bytes=5 * entry)
    for i in range(100):
        cache.put(i, "x", 1000)
        assert cache.bytes <= 5 * entry
    assert len(cache) == 5 and sorted(cache.get_many(range(100))[0]) == [95, 96, 97, 98, 99]
    # A bigger entry makes room by evicting the oldest, however many that takes.
    cache.put(100, "big", 3 * entry - ENTRY_OVERHEAD_BYTES)
    assert len(cache) == 3 and 100 in cache and 99 in cache and 97 not in cache
    assert cache.bytes == 5 * entry


def test_an_entry_bigger_than_the_bound_is_not_kept_and_evicts_nothing() -> None:
    cache: LRU[str, str] = LRU(10, max_bytes=10_000)
    cache.put("a", "kept", 100)
    cache.put("huge", "dropped", 20_000)
    assert "huge" not in cache and cache.get("a") == "kept"
    assert cache.bytes == 100 + ENTRY_OVERHEAD_BYTES


def test_replacing_a_key_counts_its_new_size_only() -> None:
    cache: LRU[str, str] = LRU(10, max_bytes=None)
    cache.put("a", "one", 100)
    cache.put("a", "two", 300)
    assert len(cache) == 1 and cache.get("a") == "two"
    assert cache.bytes == 300 + ENTRY_OVERHEAD_BYTES


def test_zero_bounds_keep_nothing() -> None:
    for cache in (LRU[str, str](0), LRU[str, str](10, max_bytes=0)):
        cache.put("a", "x", 1)
        assert len(cache) == 0 and cache.bytes == 0 and cache.get("a") is None


def test_get_many_dedups_keeps_order_and_refreshes_hits() -> None:
    cache: LRU[str, int] = LRU(3)
    for i, key in enumerate("abc"):
        cache.put(key, i, 0)
    found, missing = cache.get_many(["x", "a", "y", "a", "x", "b"])
    assert found == {"a": 0, "b": 1}
    assert missing == ["x", "y"]
    cache.put("z", 9, 0)  # "c" was not looked up: it is now the least recently used
    assert "c" not in cache and "a" in cache and "b" in cache


def test_clear_and_invalid_bounds() -> None:
    cache: LRU[str, str] = LRU(5, max_bytes=10_000)
    cache.put("a", "x", 10)
    cache.clear()
    assert len(cache) == 0 and cache.bytes == 0
    with pytest.raises(ValueError):
        LRU(-1)
    with pytest.raises(ValueError):
        LRU(1, max_bytes=-1)
    with pytest.raises(ValueError):
        cache.put("a", None, 1)


@pytest.mark.parametrize("max_entries", [2_000, 50_000])
def test_entry_overhead_matches_measured_memory(max_entries: int) -> None:
    """What the cache adds per entry beyond its key and value, as tracemalloc measures it while the
    cache churns (entries evicted as new ones arrive), is within 25 % of ``ENTRY_OVERHEAD_BYTES``."""
    keys = [b"key-%010d" % i for i in range(3 * max_entries)]  # made before measuring: not the cache's
    value = "shared value"
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        cache: LRU[bytes, str] = LRU(max_entries)
        for key in keys:
            cache.put(key, value, 1000)  # a size past the small ints, as real entries have
        gc.collect()
        measured = (tracemalloc.get_traced_memory()[0] - before) / len(cache)
    finally:
        tracemalloc.stop()
    # tracemalloc counts bytes asked for; the allocator hands out 16-byte multiples, which
    # the constant includes (about 10 bytes an entry).
    assert 0.75 * ENTRY_OVERHEAD_BYTES <= measured <= 1.25 * ENTRY_OVERHEAD_BYTES, measured
