"""Rules 4 and 5 of the spec: terminal escapes are delimiters, combining marks stay with their letter."""

from __future__ import annotations

import unicodedata

import pytest

from logdelim.model.engine import Engine
from logdelim.model.text import needs_rewrite, rewrite

COLOURED = "\x1b[32m2024-05-01T12:00:00Z\x1b[0m \x1b[1;31mERROR\x1b[0m pod/web-7d4b9 restarted"
DECOMPOSED = "user cafe\u0301 logged in as nai\u0308ve"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load(device="cpu", num_threads=1)


def test_rewrite_keeps_offsets_and_blanks_escapes() -> None:
    seen = rewrite(COLOURED)
    assert len(seen) == len(COLOURED) and "\x1b" not in seen
    assert seen.startswith("     2024-05-01T12:00:00Z    ")
    # OSC hyperlinks (ended by BEL or ST) and escapes cut off at the end of the line.
    assert rewrite("a \x1b]8;;http://x\x07b\x1b]8;;\x1b\\ c") == "a " + " " * 14 + "b" + " " * 7 + " c"
    assert rewrite("x \x1b]0;title") == "x " + " " * 9


def test_rewrite_gives_a_mark_its_base_character() -> None:
    assert rewrite(DECOMPOSED) == "user cafee logged in as naiive"
    assert not needs_rewrite("plain ascii line") and not needs_rewrite("précomposé ключ 東京")
    assert needs_rewrite(DECOMPOSED) and needs_rewrite(COLOURED)


def test_colour_is_never_part_of_a_token(engine: Engine) -> None:
    [result] = engine.tag([COLOURED])
    texts = [t.text for t in result.tokens]
    assert "ERROR" in texts and "2024-05-01T12:00:00Z" in texts
    assert not any("\x1b" in t or "[" in t or t.endswith("m") and t[:-1].isdigit() for t in texts)
    for t in result.tokens:
        assert COLOURED[t.start : t.end] == t.text  # offsets index the line as given
    assert all(result.labels[i] == "D" for i, c in enumerate(COLOURED) if c == "\x1b")


def test_a_combining_mark_stays_with_its_letter(engine: Engine) -> None:
    [result] = engine.tag([DECOMPOSED])
    texts = [t.text for t in result.tokens]
    assert "cafe\u0301" in texts and "nai\u0308ve" in texts
    for i, char in enumerate(DECOMPOSED):
        if unicodedata.category(char).startswith("M"):
            assert result.labels[i] == result.labels[i - 1]


@pytest.mark.parametrize(
    "line, tokens",
    [
        ("2024-05-01 12:00:00 INFO 東京 サーバー started", ["東京", "サーバー", "started"]),
        ("2024-05-01 12:00:00 INFO שלום עולם 42", ["שלום", "עולם", "42"]),
        ("2024-05-01 12:00:00 INFO deploy 🚀 done", ["deploy", "done"]),
    ],
)
def test_other_scripts_split_at_their_spaces(engine: Engine, line: str, tokens: list[str]) -> None:
    [result] = engine.tag([line])
    texts = [t.text for t in result.tokens]
    assert texts[-len(tokens) :] == tokens
    assert all(line[t.start : t.end] == t.text for t in result.tokens)


def test_cached_and_uncached_agree_on_rewritten_lines() -> None:
    lines = [COLOURED, DECOMPOSED, COLOURED.replace("31m", "33m")]
    cached = Engine.load(device="cpu", num_threads=1).tag(lines)
    plain = Engine.load(device="cpu", num_threads=1, cache_size=0).tag(lines)
    for got, want in zip(cached, plain):
        assert (got.labels, got.bounds, got.template, got.template_id) == (
            want.labels,
            want.bounds,
            want.template,
            want.template_id,
        )
    # Lines that differ only in a colour share a cache entry but keep their own template.
    assert cached[0].template != cached[2].template and "\x1b[1;33m" in cached[2].template
