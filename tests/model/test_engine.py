"""The inference engine: exact cache, batch independence, long lines, any input."""
from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

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
    tagged = _Tagged("OOODOO", ((0, 3), (4, 6)), (), 1.0, "CV", "v0 <*>", "x", True)
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
    out = subprocess.run([sys.executable, "-m", "logdelim.daemon.cli", "tag", "--model", str(toy_checkpoint),
                          str(path)], capture_output=True, check=True, text=True).stdout
    records = [json.loads(x) for x in out.splitlines()]
    assert [r["line"] for r in records] == ["time: 1:2 ok", "\ufffd\ufffd bad", "", "port: 3 ok"]
    assert records[1]["invalid_utf8"] is True and "invalid_utf8" not in records[0]
    for r in records:
        assert all(r["line"][t["start"]:t["end"]] == t["text"] for t in r["tokens"])
    assert [t["text"] for t in records[0]["tokens"]] == ["time", "1:2", "ok"]


def test_warm_up_changes_no_result(toy_checkpoint, toy_line) -> None:
    lines = _lines(80, toy_line) + ["x" * 700 + ": 1"]
    cold = Engine.load(str(toy_checkpoint), device="cpu", cache_size=0)
    warm = Engine.load(str(toy_checkpoint), device="cpu", cache_size=0)
    assert warm.warm_up() > 0
    assert [r.labels for r in warm.tag(lines)] == [r.labels for r in cold.tag(lines)]


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
