"""The inference engine: exact cache, batch independence, long lines, any input."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from shared_support import distinct_word

from logdelim.model import text
from logdelim.model.engine import Engine, char_classes
from logdelim.model.spans import labels_to_spans


@pytest.fixture(scope="module")
def engine(toy_checkpoint) -> Engine:
    return Engine.load(str(toy_checkpoint), device="cpu", num_threads=1)


def _lines(n: int, toy_line) -> list[str]:
    rng = random.Random(7)
    return [toy_line(rng)["line"] for _ in range(n)]


def test_learns_the_toy_rule(engine, toy_line) -> None:
    rng = random.Random(99)
    examples = [toy_line(rng) for _ in range(200)]
    results = engine.tag([e["line"] for e in examples])
    exact = sum(r.labels == e["labels"] for r, e in zip(results, examples)) / len(examples)
    assert exact >= 0.95


def test_cached_equals_uncached(toy_checkpoint, toy_line) -> None:
    lines = _lines(300, toy_line) * 2
    cached = Engine.load(str(toy_checkpoint), device="cpu", cache_size=1000)
    plain = Engine.load(str(toy_checkpoint), device="cpu", cache_size=0)
    first = cached.tag(lines[:300])
    second = cached.tag(lines[300:])
    reference = plain.tag(lines)
    assert cached.cache_hits >= 300
    assert plain.cache_hits == 0 and plain.cache_misses == len(lines)  # the network ran on every line
    for got, want in zip(first + second, reference):
        assert got.labels == want.labels
        assert got.tokens == want.tokens
        assert got.delimiter_confidence == pytest.approx(want.delimiter_confidence, abs=1e-5)
        assert (got.kinds, got.template, got.template_id) == (want.kinds, want.template, want.template_id)


def test_kind_head_learns_the_toy_kinds_and_templates(engine, toy_line) -> None:
    rng = random.Random(98)
    examples = [toy_line(rng) for _ in range(200)]
    results = engine.tag([e["line"] for e in examples])
    assert sum(r.kinds == e["kinds"] for r, e in zip(results, examples)) / len(examples) >= 0.95
    first = next(r for r, e in zip(results, examples) if r.kinds == e["kinds"])
    key = first.line.split(":")[0]
    assert first.template == f"{key}: <*> ok"
    # Lines of one template share its id, whatever their values.
    ids = {r.template: r.template_id for r in results}
    assert all(ids[r.template] == r.template_id and len(r.template_id) == 16 for r in results)


def test_every_character_has_a_kind_delimiters_d(engine) -> None:
    for result in engine.tag(["port: 1:2 ok", "", "ключ: 3", "a  b", "  ", ": :"]):
        assert len(result.template_id) == 16  # a line without tokens has a template too
        assert len(result.kinds) == len(result.line)
        assert all((kind == "D") == (label == "D") for kind, label in zip(result.kinds, result.labels))
        assert set(result.kinds) <= set("DFCV")
        assert len(result.token_kinds) == len(result.bounds)
    assert [r.template for r in engine.tag(["", "  ", ": :"])] == ["", " ", ": :"]


def test_a_constant_digit_comes_from_the_line_not_the_cache_key(toy_checkpoint) -> None:
    """Lines differing only in digits share a cache entry; a constant digit in the template must not leak."""
    from logdelim.model.engine import _Tagged

    engine = Engine.load(str(toy_checkpoint), device="cpu")
    tagged = _Tagged("OOODOO", ((0, 3), (4, 6)), (), 1.0, "CV", "v0 <*>", "x", template_per_line=True)
    assert engine._result("v20 12", tagged).template == "v20 <*>"


def test_cache_is_bounded(toy_checkpoint) -> None:
    engine = Engine.load(str(toy_checkpoint), device="cpu", cache_size=10)
    engine.tag([f"key{'-' * i}: v" for i in range(50)])  # 50 distinct shapes, words folded or not
    assert len(engine._cache) == 10 and len(engine._shapes) == 10


def test_lines_of_one_shape_share_the_network_run_at_their_own_offsets(toy_checkpoint) -> None:
    lines = ["id 7: a:b", "id 123456: a:b", "id x9f: a:b", "id 7:  a:b"]
    cached = Engine.load(str(toy_checkpoint), device="cpu", cache_size=100)
    results = cached.tag(lines[:1]) + cached.tag(lines[1:])
    # The first three look alike to the network (vocab.shape); the fourth has another space.
    assert (cached.cache_misses, cached.cache_hits) == (2, 2)
    reference = Engine.load(str(toy_checkpoint), device="cpu", cache_size=0).tag(lines)
    for got, want in zip(results, reference):
        assert got.labels == want.labels and got.tokens == want.tokens
        assert [t.text for t in got.tokens] == [t.text for t in labels_to_spans(got.line, got.labels)]
    # Offsets are the line's own, not its shape's: the long number is whole in one token.
    assert results[1].tokens[0].text == "id" and results[1].tokens[1].text.startswith("123456")


def test_result_does_not_depend_on_the_batch(engine, toy_line) -> None:
    lines = _lines(64, toy_line) + ["x" * 300 + ": 1:2"]
    together = engine.tag(lines)
    alone = [engine.tag([line])[0] for line in lines[:5]]
    assert [r.labels for r in together[:5]] == [r.labels for r in alone]


def test_rules_hold_on_any_unicode(engine) -> None:
    lines = ["", " ", "ключ: значение 1:2", "a\u3000b\tc", "😀:😀", "\x00\x01:x", "x" * 3]
    for result in engine.tag(lines):
        classes = char_classes(result.line)
        assert len(result.labels) == len(result.line)
        for cls, label in zip(classes.tobytes().decode(), result.labels):
            if cls == "s":
                assert label == "D"
            if cls == "a":
                assert label == "O"
        assert [t.text for t in result.tokens] == [t.text for t in labels_to_spans(result.line, result.labels)]
        assert 0.0 <= result.min_confidence <= 1.0


def test_long_lines_are_fully_labelled(engine) -> None:
    unit = "time: 12:30 ok "
    line = (unit * 700).strip()  # 10,499 characters: many overlapping windows
    result = engine.tag([line])[0]
    assert len(result.labels) == len(line)
    short = engine.tag([unit.strip()])[0].labels
    assert result.labels == ((short + "D") * 700)[: len(line)]


def test_tag_cli_orders_lines_and_flags_invalid_utf8(toy_checkpoint, tmp_path) -> None:
    path = tmp_path / "in.log"
    path.write_bytes(b"time: 1:2 ok\r\n\xff\xfe bad\n\nport: 3 ok")
    out = subprocess.run(
        [sys.executable, "-m", "logdelim.daemon.cli", "tag", "--model", str(toy_checkpoint), str(path)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    records = [json.loads(x) for x in out.splitlines()]
    assert [r["line"] for r in records] == ["time: 1:2 ok", "\ufffd\ufffd bad", "", "port: 3 ok"]
    assert records[1]["invalid_utf8"] is True and "invalid_utf8" not in records[0]
    for r in records:
        assert all(r["line"][t["start"] : t["end"]] == t["text"] for t in r["tokens"])
    assert [t["text"] for t in records[0]["tokens"]] == ["time", "1:2", "ok"]


def test_warm_up_changes_no_result(toy_checkpoint, toy_line) -> None:
    lines = _lines(80, toy_line) + ["x" * 700 + ": 1"]
    cold = Engine.load(str(toy_checkpoint), device="cpu", cache_size=0)
    warm = Engine.load(str(toy_checkpoint), device="cpu", cache_size=0)
    assert warm.warm_up() > 0
    assert [r.labels for r in warm.tag(lines)] == [r.labels for r in cold.tag(lines)]


def test_warm_up_builds_the_combining_marks_pattern(toy_checkpoint) -> None:
    # Built on first use otherwise: a second's stall on the first non-ASCII line a daemon sees.
    text._marks.cache_clear()
    Engine.load(str(toy_checkpoint), device="cpu", cache_size=0).warm_up()
    assert text._marks.cache_info().currsize == 1


def test_int8_quantised_engine_keeps_the_labels(toy_checkpoint, toy_line) -> None:
    lines = _lines(200, toy_line)
    plain = Engine.load(str(toy_checkpoint), device="cpu", cache_size=0)
    quantised = Engine.load(str(toy_checkpoint), device="cpu", cache_size=0, quantize=True)
    same = sum(a.labels == b.labels for a, b in zip(plain.tag(lines), quantised.tag(lines)))
    assert same >= 0.95 * len(lines)


@pytest.mark.parametrize("cache_size", [0, 1000])
def test_parallel_tiles_change_no_result(toy_checkpoint, toy_line, cache_size: int) -> None:
    # Enough lines for several tiles, and long lines whose windows land in different tiles.
    lines = _lines(400, toy_line) + ["x" * 1500 + ": 1:2 ok", "", "port: 8080"]
    one = Engine.load(str(toy_checkpoint), device="cpu", cache_size=cache_size)
    two = Engine.load(str(toy_checkpoint), device="cpu", cache_size=cache_size, parallel_tiles=2)
    for a, b in zip(one.tag(lines), two.tag(lines), strict=True):
        assert (a.labels, a.bounds, a.delimiter_confidence) == (b.labels, b.bounds, b.delimiter_confidence)


# --------------------------------------------------------------------------- memory bound


def _distinct_lines(count: int, seed: int, repeat: int = 1) -> list[str]:
    """Realistic log lines (``synth``), each made distinct by a word of its own; ``repeat`` times as long."""
    from logdelim.model.synth import generate

    rows = generate(count, seed=seed)
    return [
        " | ".join(f"{row['line']} user={distinct_word(seed * 1_000_000 + i)}" for _ in range(repeat))
        for i, row in enumerate(rows)
    ]


def _traced_growth(engine: Engine, lines: list[str], batch: int = 256) -> int:
    """Bytes Python holds more after tagging ``lines`` (tracemalloc, after a collection)."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for start in range(0, len(lines), batch):
            engine.tag(lines[start : start + batch])
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_byte_bound_holds_after_many_distinct_long_lines(toy_checkpoint) -> None:
    import gc
    import tracemalloc

    bound = 512 * 1024
    engine = Engine.load(str(toy_checkpoint), device="cpu", num_threads=1, cache_max_bytes=bound)
    assert engine.cache_bytes == 0
    engine.tag(_distinct_lines(50, seed=1))  # the first calls' one-off allocations are not the caches'
    first, second = _distinct_lines(1_500, seed=2, repeat=4), _distinct_lines(1_500, seed=3, repeat=4)
    held = []
    gc.collect()
    tracemalloc.start()  # before the caches hold anything, so it sees every eviction's memory freed
    try:
        before = tracemalloc.get_traced_memory()[0]
        for lines in (first, second):  # about 500 characters each, windowed for some
            for start in range(0, len(lines), 250):
                engine.tag(lines[start : start + 250])
                assert 0 < engine.cache_bytes <= bound
                assert engine._cache.bytes <= bound // 2 and engine._shapes.bytes <= bound // 2
            gc.collect()
            held.append(tracemalloc.get_traced_memory()[0] - before)
    finally:
        tracemalloc.stop()
    # Both caches are full and keep evicting, far below their entry bound.
    assert engine._cache.bytes > 0.9 * bound // 2 and engine._shapes.bytes > 0.9 * bound // 2
    assert 0 < len(engine._cache) < 1_000 and 0 < len(engine._shapes) < 1_500
    # What Python really holds is within the bound, and does not grow with more lines.
    assert held[0] <= bound and held[1] <= bound, held
    assert abs(held[1] - held[0]) <= 0.1 * bound, held


def test_cache_estimate_is_within_a_factor_of_measured_memory(toy_checkpoint) -> None:
    """The per-entry estimate against tracemalloc, with lines of every size and alphabet.

    It is at least what tracemalloc measures, and at most 1.5 times it: it adds the
    allocator's rounding to 16 bytes (tracemalloc counts the bytes asked for), and
    counts in both caches the objects a line entry shares with its shape's entry.
    """
    engine = Engine.load(str(toy_checkpoint), device="cpu", num_threads=1)
    engine.tag(_distinct_lines(50, seed=4))
    short = _distinct_lines(1_500, seed=5)
    long = _distinct_lines(200, seed=6, repeat=8)  # windowed: about 1,000 characters
    unicode = [line.replace("e", "é").replace("a", "ж") for line in _distinct_lines(300, seed=7)]
    lines = short + long + unicode
    before = engine.cache_bytes
    measured = _traced_growth(engine, lines)
    estimated = engine.cache_bytes - before
    assert len(engine._cache) > 0.9 * (len(lines) + 50)  # every line made an entry
    assert measured <= estimated <= 1.5 * measured, (estimated, measured)


def test_results_equal_with_and_without_a_byte_bound(toy_checkpoint, toy_line) -> None:
    lines = _lines(300, toy_line) + _distinct_lines(300, seed=8) + ["x" * 1500 + ": 1:2 ok", "", "ключ: 3"]
    lines = lines + lines[::-1]  # repeats, so both engines have hits
    unbounded = Engine.load(str(toy_checkpoint), device="cpu", num_threads=1)
    bounded = Engine.load(str(toy_checkpoint), device="cpu", num_threads=1, cache_max_bytes=64 * 1024)
    nothing = Engine.load(str(toy_checkpoint), device="cpu", num_threads=1, cache_max_bytes=0)
    reference = Engine.load(str(toy_checkpoint), device="cpu", num_threads=1, cache_size=0).tag(lines)
    for engine in (unbounded, bounded, nothing):
        results = [r for start in range(0, len(lines), 100) for r in engine.tag(lines[start : start + 100])]
        assert engine.cache_hits + engine.cache_misses == len(lines)
        for got, want in zip(results, reference, strict=True):
            assert (got.line, got.labels, got.bounds, got.token_kinds, got.template, got.template_id) == (
                want.line,
                want.labels,
                want.bounds,
                want.token_kinds,
                want.template,
                want.template_id,
            )
            assert got.delimiter_confidence == pytest.approx(want.delimiter_confidence, abs=1e-5)
            assert got.min_confidence == pytest.approx(want.min_confidence, abs=1e-5)
    assert 0 < bounded.cache_bytes <= 64 * 1024 < unbounded.cache_bytes
    assert nothing.cache_bytes == 0 and len(nothing._cache) == 0
    assert unbounded.cache_hits > bounded.cache_hits > nothing.cache_hits > 0  # a batch's equal lines share a run


def test_negative_bounds_are_refused(toy_checkpoint) -> None:
    with pytest.raises(ValueError, match="cache_max_bytes"):
        Engine.load(str(toy_checkpoint), device="cpu", cache_max_bytes=-1)
    with pytest.raises(ValueError, match="cache_size"):
        Engine.load(str(toy_checkpoint), device="cpu", cache_size=-1)
