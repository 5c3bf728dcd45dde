"""The ``.ann`` converter, and the shipped held-out set of hand-annotated lines from other programs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from logdelim.model.annotated import load_annotated, parse_annotated
from logdelim.model.baselines import common_separators
from logdelim.model.scores import Scorer

OTHER_PROGRAMS = Path(__file__).parent / "data" / "other_programs.ann"


def test_labels_follow_the_spec() -> None:
    example = parse_annotated("demo\tat ⟦10.0.0.1:80⟧, took=⟦3 ms⟧ (ok.)")
    assert example["system"] == "demo"
    assert example["line"] == "at 10.0.0.1:80, took=3 ms (ok.)"
    # Inside a variable: punctuation O, whitespace D. Outside: punctuation D, letters O.
    assert example["labels"] == "OODOOOOOOOOOOODDOOOODODOODDOODD"
    assert len(example["labels"]) == len(example["line"])


def test_whitespace_inside_a_variable_is_a_delimiter() -> None:
    assert parse_annotated("p\t⟦a\tb c⟧")["labels"] == "ODODO"


def test_empty_variable_and_line() -> None:
    assert parse_annotated('p\tk="⟦⟧"') == {"system": "p", "line": 'k=""', "labels": "ODDD", "kinds": "CDDD"}
    assert parse_annotated("p\t") == {"system": "p", "line": "", "labels": "", "kinds": ""}


def test_kinds_of_fields_variables_and_constant_text() -> None:
    example = parse_annotated("demo\t⟬12:00:01⟭ ⟬INFO⟭ [⟬main⟭] took ⟦3 ms⟧ (ok)")
    assert example["line"] == "12:00:01 INFO [main] took 3 ms (ok)"
    assert example["kinds"] == "FFFFFFFFDFFFFDDFFFFDDCCCCDVDVVDDCCD"
    assert example["labels"] == example["kinds"].translate(str.maketrans("CFV", "OOO"))


@pytest.mark.parametrize("text", ["p\t⟦a", "p\ta⟧", "p\t⟦a⟦b⟧⟧", "no tab here", "p\t⟬a⟧", "p\t⟦a⟬b⟭⟧", "p\t⟬a"])
def test_malformed_rows_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_annotated(text)


def test_load_names_the_line_of_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.ann"
    path.write_text("# comment\n\np\t⟦ok⟧\np\t⟦broken\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.ann:4:"):
        load_annotated(path)


def test_shipped_set_parses_and_is_not_trivial() -> None:
    examples = load_annotated(OTHER_PROGRAMS)
    programs = Counter(example["system"] for example in examples)
    assert len(examples) >= 200
    assert len(programs) >= 15
    assert all(len(example["labels"]) == len(example["line"]) > 0 for example in examples)
    scorer = Scorer()
    for example in examples:
        scorer.add(example["line"], example["labels"], common_separators(example["line"]))
    assert scorer.result()["delimiter_f1"] < 1.0
