"""Templates, template ids and token kinds (``shared/spec/labels.md``, section "Kinds")."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from logdelim.model.spans import token_bounds
from logdelim.model.synth import generate
from logdelim.model.templates import (
    content_start,
    kinds_of_tokens,
    template,
    template_and_fields,
    template_id,
    template_of_tokens,
    token_kind,
    token_kinds,
)

HDFS = (
    "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating"
)
HDFS_KINDS = (
    "FFFFFFDFFFFFFDFFFDFFFFDFFFFFFFFFFFFFFFFFFFFFFFFFFFFDDCCCCCCCCCCCCCCCDVDCCCDCCCCCDVVVVVVVVVVVVVVVVVVVVVDCCCCCCCCCCC"
)


def test_the_specs_example() -> None:
    assert template(HDFS, HDFS_KINDS) == "<*>: PacketResponder <*> for block <*> terminating"


def test_whitespace_inside_a_variable_is_part_of_it() -> None:
    line = "sent 1.08 KB to chrome.exe *64"
    kinds = "CCCCDVVVVDVVDCCDVVVVVVVVVVDVVV"
    assert template(line, kinds) == "sent <*> to <*>"


def test_adjacent_field_and_variable_make_one_wildcard() -> None:
    # A field, a space, a variable: one run; a field glued to a variable: one run too.
    assert template("INFO 42 done", "FFFFDVVDCCCC") == "<*> done"
    assert template("x42", "FVV") == "<*>"
    # Punctuation between them that is not whitespace keeps them apart.
    assert template("a:1", "FDV") == "<*>:<*>"


def test_other_whitespace_runs_become_one_space() -> None:
    assert template("a  \t b", "CDDDDC") == "a b"
    assert template("took 3ms  now", "CCCCDVCCDDCCC") == "took <*>ms now"


def test_empty_line_and_length_mismatch() -> None:
    assert template("", "") == ""
    with pytest.raises(ValueError):
        template("ab", "C")


def test_unicode_whitespace_counts_as_whitespace() -> None:
    assert template("a\u00a0\u2003b", "CDDV") == "a <*>"
    # Any whitespace, not only spaces and tabs: the newline of a several-line message, CR, form feed.
    assert template("a\nb", "VDV") == "<*>"
    assert template("ok\r\n\x0cdone", "CCDDDCCCC") == "ok done"


def test_token_kinds() -> None:
    assert token_kind("FFF") == "field"
    assert token_kind("CC") == "constant"
    assert token_kind("V") == "variable"
    assert token_kind("VVCC") == "mixed"
    assert token_kinds("FFDVVCC", [(0, 2), (3, 7)]) == ["field", "mixed"]


def test_content_starts_after_the_header() -> None:
    assert HDFS[content_start(HDFS_KINDS) :].startswith("PacketResponder 1 for")
    assert content_start("CCDVV") == 0


def test_template_id_is_stable_across_processes() -> None:
    """Python salts ``hash()`` per process; the id must not depend on it."""
    code = "from logdelim.model.templates import template_id; print(template_id('<*>: took <*> ms'))"
    ids = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert ids == {template_id("<*>: took <*> ms")}
    assert len(template_id("x")) == 16 and template_id("x") != template_id("y")


def test_template_of_tokens_equals_the_character_walk() -> None:
    """The engine's token walk makes the spec's template, on lines of every synthetic family."""
    for row in generate(600, seed=3):
        line, labels = row["line"], row["labels"]
        bounds = token_bounds(labels)
        # One kind per token (the engine's rule): the first character's.
        kinds = "".join(row["kinds"][start] for start, _ in bounds)
        per_char = kinds_of_tokens(len(line), bounds, kinds)
        assert len(per_char) == len(line)
        assert template_of_tokens(line, bounds, kinds) == template(line, per_char), line


def test_template_fields_name_the_wildcards_made_of_header_fields() -> None:
    line = "2015-10-18 WARN [main] org.a.Client: took 5 ms for job 7"
    bounds = token_bounds(_labels_at_spaces_and(line, "[]:"))
    kinds = "FFFFCVCCCV"  # date, level, thread, logger: "org.a.Client" read as a field
    assert [line[s:e] for s, e in bounds][:4] == ["2015-10-18", "WARN", "main", "org.a.Client"]
    assert template_of_tokens(line, bounds, kinds) == "<*> [<*>] <*>: took <*> ms for job <*>"
    # One letter per wildcard, its run's first: a field, then a variable in the same
    # whitespace-joined run (a message's first value read into the header's run), make an F.
    assert template_and_fields(line, bounds, kinds)[1] == "FFFVV"
    assert template_and_fields(line, bounds, "FVFFCVCCCV")[1] == "FFFVV"
    assert template_and_fields(line, bounds, "VFFFCVCCCV")[1] == "VFFVV"
    assert template_and_fields("", (), "") == ("", "")
    for row in generate(300, seed=4):
        line, labels = row["line"], row["labels"]
        bounds = token_bounds(labels)
        kinds = "".join(row["kinds"][start] for start, _ in bounds)
        text, fields = template_and_fields(line, bounds, kinds)
        assert text == template_of_tokens(line, bounds, kinds)
        assert len(fields) == text.count("<*>"), line


def _labels_at_spaces_and(line: str, delimiters: str) -> str:
    return "".join("D" if char.isspace() or char in delimiters else "O" for char in line)
