"""Labels <-> spans round trip, on hand cases and on every shared Loghub line."""

from __future__ import annotations

import pytest

from logdelim.model.data import load_jsonl
from logdelim.model.spans import Span, labels_to_spans, spans_to_labels


def test_spec_example() -> None:
    line = "src: /10.0.0.1:50010 done"
    labels = "OOODDOOOOOOOOOOOOOOODOOOO"
    assert [s.text for s in labels_to_spans(line, labels)] == ["src", "/10.0.0.1:50010", "done"]


def test_offsets_are_code_points() -> None:
    line = "héllo → wörld"
    labels = "OOOOODDDOOOOO"
    spans = labels_to_spans(line, labels)
    assert spans == [Span("héllo", 0, 5), Span("wörld", 8, 13)]
    assert all(line[s.start : s.end] == s.text for s in spans)


def test_empty_and_all_delimiters() -> None:
    assert labels_to_spans("", "") == []
    assert labels_to_spans(" :: ", "DDDD") == []
    assert spans_to_labels(0, []) == ""


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="labels has 2 characters"):
        labels_to_spans("abc", "OO")
    with pytest.raises(ValueError, match="outside"):
        spans_to_labels(3, [(2, 5)])


def test_round_trip_on_every_shared_line(loghub_files) -> None:
    lines = 0
    for path in loghub_files:
        for example in load_jsonl(path):
            line, labels = example["line"], example["labels"]
            spans = labels_to_spans(line, labels)
            assert spans_to_labels(len(line), spans) == labels
            assert all(line[s.start : s.end] == s.text for s in spans)
            lines += 1
    assert lines == 22_000
