"""The spec's scores (of delimiters and of kinds), grouping accuracy and the per-class report, on hand-made cases."""

from __future__ import annotations

import random

import pytest

from logdelim.model.scores import (
    Confusion,
    Grouping,
    KindScorer,
    Scorer,
    format_confusion,
    format_report,
    grouping_accuracy,
)

LINE = "a=1, b:c"
GOLD = "ODODDODO"  # tokens a | 1 | b | c ; ':' sits in constant text here


def test_perfect_prediction_scores_one_everywhere() -> None:
    scorer = Scorer()
    scorer.add(LINE, GOLD, GOLD)
    scorer.add("x y", "ODO", "ODO")
    result = scorer.result()
    assert result["delimiter_f1"] == 1.0
    assert result["punctuation_accuracy"] == 1.0
    assert result["line_exact_match"] == 1.0
    assert result["token_f1"] == 1.0
    assert result["lines"] == 2


def test_all_wrong_prediction_scores_zero() -> None:
    inverted = "".join("O" if c == "D" else "D" for c in GOLD)
    scorer = Scorer()
    scorer.add(LINE, GOLD, inverted)
    result = scorer.result()
    assert result["delimiter_f1"] == 0.0
    assert result["punctuation_accuracy"] == 0.0
    assert result["line_exact_match"] == 0.0
    # Predicted tokens '=' ', ' ':' share no (start, end) with the gold ones.
    assert result["token_f1"] == 0.0


def test_token_f1_counts_only_exact_boundaries() -> None:
    line = "10.0.0.1:80 ok"
    gold = "OOOOOOOODOODOO"  # 10.0.0.1 | 80 | ok
    pred = "OOOOOOOOOOODOO"  # 10.0.0.1:80 | ok -- one merge error
    scorer = Scorer()
    scorer.add(line, gold, pred)
    result = scorer.result()
    # gold 3 tokens, predicted 2, matched 1 ("ok"): P = 1/2, R = 1/3, F1 = 2PR/(P+R) = 0.4
    assert result["token_f1"] == pytest.approx(0.4)
    # delimiters: gold 2, predicted 1, both at the space: P = 1, R = 1/2
    assert result["delimiter_precision"] == 1.0
    assert result["delimiter_recall"] == 0.5
    assert result["delimiter_f1"] == pytest.approx(2 / 3)
    assert result["line_exact_match"] == 0.0


def test_punctuation_accuracy_ignores_alphanumerics_and_whitespace() -> None:
    line = "ab-c d.e"
    gold = "OOOODOOO"  # '-' and '.' are inside tokens
    # Wrong on 'a' and on the space (never happens with a real tagger), right on '-' and '.'.
    pred = "DOOOOOOO"
    scorer = Scorer()
    scorer.add(line, gold, pred)
    assert scorer.result()["punctuation_accuracy"] == 1.0
    # Now wrong on '.', right on '-': one of two punctuation characters.
    scorer = Scorer()
    scorer.add(line, gold, "OOOODODO")
    assert scorer.result()["punctuation_accuracy"] == 0.5


def test_scores_pool_micro_and_survive_save_and_merge() -> None:
    first, second = Scorer(), Scorer()
    first.add(LINE, GOLD, GOLD)
    second.add("x-y", "ODO", "OOO")
    pooled = Scorer()
    pooled.add(LINE, GOLD, GOLD)
    pooled.add("x-y", "ODO", "OOO")
    merged = Scorer.from_counts(first.counts())
    merged.merge(second)
    assert merged.result() == pooled.result()
    # 4 gold delimiters found, 1 missed: micro F1 = 8 / 9, not the mean of per-line F1s.
    assert pooled.result()["delimiter_f1"] == pytest.approx(8 / 9)
    assert pooled.result()["line_exact_match"] == 0.5


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        Scorer().add("abc", "OO", "OOO")
    with pytest.raises(ValueError):
        Confusion().add("OO", "OOO")


def test_multiclass_report_and_confusion() -> None:
    gold = ["B-ORG", "I-ORG", "O", "B-PER", "O"]
    pred = ["B-ORG", "O", "O", "B-PER", "B-PER"]
    confusion = Confusion()
    confusion.add(gold, pred)
    report = confusion.report()
    assert report["B-ORG"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert report["I-ORG"]["recall"] == 0.0 and report["I-ORG"]["support"] == 1
    assert report["O"]["precision"] == 0.5 and report["O"]["recall"] == 0.5
    assert report["B-PER"]["precision"] == 0.5 and report["B-PER"]["recall"] == 1.0
    assert report["micro avg"]["f1"] == pytest.approx(3 / 5)
    assert report["macro avg"]["recall"] == pytest.approx((1 + 0 + 0.5 + 1) / 4)
    assert confusion.count("O", "B-PER") == 1
    assert confusion.count("I-ORG", "O") == 1
    data = confusion.to_dict()
    assert data["labels"] == ["B-ORG", "I-ORG", "O", "B-PER"]
    assert Confusion.from_dict(data).report() == report
    text = format_report(report)
    assert "B-PER" in text and "macro avg" in text
    assert format_confusion(confusion).splitlines()[0].split() == ["gold\\pred", *data["labels"]]


def test_confusion_of_delimiter_strings() -> None:
    confusion = Confusion(["O", "D"])
    confusion.add("OODO", "ODDO")
    assert confusion.to_dict() == {"labels": ["O", "D"], "matrix": [[2, 1], [0, 1]]}
    report = confusion.report()
    assert report["D"]["precision"] == 0.5 and report["D"]["recall"] == 1.0


# --------------------------------------------------------------------------- kinds

KIND_LINE = "ab 12 cd"
KIND_GOLD = "FFDVVDCC"  # field "ab", variable "12", constant "cd"


def test_kind_scores_by_hand() -> None:
    scorer = KindScorer()
    scorer.add(KIND_LINE, KIND_GOLD, KIND_GOLD)
    # Wrong on 'a' (F -> C), on '2' (V -> C) and on 'd' (C -> D): right on 'b', '1', 'c'.
    scorer.add(KIND_LINE, KIND_GOLD, "CFDVCDCD")
    result = scorer.result()
    # 12 characters that are not D in the gold kinds, 6 + 3 right.
    assert result["kind_accuracy"] == pytest.approx(9 / 12)
    assert result["template_exact_match"] == 0.5
    # The second line's template is "a<*>2 cd", not "<*> cd".
    assert result["template_match"] == 0.5
    assert result["field_accuracy"] == pytest.approx(3 / 4)
    assert result["variable_accuracy"] == pytest.approx(3 / 4)
    assert result["constant_accuracy"] == pytest.approx(3 / 4)
    assert result["lines"] == 2


def test_kind_accuracy_ignores_gold_delimiters_but_template_exact_match_does_not() -> None:
    # '.' is a delimiter of the constant text; predicting it C changes no token kind and no template.
    scorer = KindScorer()
    scorer.add("a.b x", "CDCDV", "CCCDV")
    result = scorer.result()
    assert result["kind_accuracy"] == 1.0
    assert result["template_exact_match"] == 0.0  # not every character's kind is right
    assert result["template_match"] == 1.0  # "a.b <*>" either way
    # A predicted delimiter where gold has a variable character is wrong.
    scorer = KindScorer()
    scorer.add("a.b x", "CDCDV", "CDCDD")
    assert scorer.result()["kind_accuracy"] == pytest.approx(2 / 3)


def test_kind_scores_pool_micro_and_survive_save_and_merge() -> None:
    first, second, pooled = KindScorer(), KindScorer(), KindScorer()
    first.add(KIND_LINE, KIND_GOLD, KIND_GOLD)
    second.add("x 1", "CDV", "CDC")
    for line, gold, pred in ((KIND_LINE, KIND_GOLD, KIND_GOLD), ("x 1", "CDV", "CDC")):
        pooled.add(line, gold, pred)
    merged = KindScorer.from_counts(first.counts())
    merged.merge(second)
    assert merged.result() == pooled.result()
    assert pooled.result()["kind_accuracy"] == pytest.approx(7 / 8)  # micro: 7 of 8 characters
    with pytest.raises(ValueError):
        KindScorer().add("abc", "CCC", "CC")
    assert KindScorer().result()["kind_accuracy"] == 0.0  # nothing scored: 0, not a division error


# --------------------------------------------------------------------------- grouping accuracy

GA_TRIPLES = [
    # A: group k1 is exactly event E1 (2 right); k2 holds half of E2; k3 mixes E2 and E3.
    ("A", "E1", "k1"),
    ("A", "E1", "k1"),
    ("A", "E2", "k2"),
    ("A", "E2", "k3"),
    ("A", "E3", "k3"),
    # B: the line without an event is dropped (as the benchmark's evaluator drops it), so k1 is exactly X.
    ("B", "X", "k1"),
    ("B", "X", "k1"),
    ("B", None, "k1"),
    # C: two events in one group: both lines wrong.
    ("C", "P", "k"),
    ("C", "Q", "k"),
]


def test_grouping_accuracy_by_hand() -> None:
    assert grouping_accuracy(GA_TRIPLES) == {
        "A": {"correct": 2, "lines": 5},
        "B": {"correct": 2, "lines": 2},
        "C": {"correct": 0, "lines": 2},
    }
    grouping = Grouping()
    grouping.add(GA_TRIPLES)
    result = grouping.result()
    assert result["grouping_accuracy"] == pytest.approx((2 / 5 + 1 + 0) / 3)  # mean over systems
    assert result["grouping_accuracy_pooled"] == pytest.approx(4 / 9)  # line-weighted
    assert result["ga_systems"] == 3 and result["ga_lines"] == 9


def test_grouping_keys_only_matter_as_a_partition_within_a_system() -> None:
    renamed = [(system, event, f"{system}-{key}-renamed") for system, event, key in GA_TRIPLES]
    assert grouping_accuracy(renamed) == grouping_accuracy(GA_TRIPLES)
    # The same key in two systems is two groups.
    assert grouping_accuracy([("A", "E", "k"), ("B", "E", "k")]) == {
        "A": {"correct": 1, "lines": 1},
        "B": {"correct": 1, "lines": 1},
    }


def test_grouping_accuracy_matches_the_definition_on_random_partitions() -> None:
    """Brute force of the definition: a line is right when its predicted group's lines are its event's lines."""
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 12)
        events = [rng.choice("abc") for _ in range(n)]
        keys = [rng.choice("xyz") for _ in range(n)]
        right = sum(
            1
            for i in range(n)
            if {j for j in range(n) if keys[j] == keys[i]} == {j for j in range(n) if events[j] == events[i]}
        )
        assert grouping_accuracy(("S", e, k) for e, k in zip(events, keys)) == {"S": {"correct": right, "lines": n}}


def test_grouping_merges_disjoint_systems_and_survives_save() -> None:
    first, second = Grouping(), Grouping()
    first.add_system("A", ["E1", "E1", "E2"], [1, 1, 2])
    second.add_system("B", ["X", "Y"], [1, 1])
    merged = Grouping.from_counts(first.counts())
    merged.merge(second)
    assert merged.counts() == {"A": {"correct": 3, "lines": 3}, "B": {"correct": 0, "lines": 2}}
    assert merged.result()["grouping_accuracy"] == 0.5
    assert merged.result()["grouping_accuracy_pooled"] == pytest.approx(3 / 5)
    # GA of part of a system cannot be added to the rest of it.
    with pytest.raises(ValueError, match="already counted"):
        merged.merge(first)
    with pytest.raises(ValueError):
        Grouping().add_system("A", ["E1"], [1, 2])


def test_grouping_of_a_system_without_events_is_kept_but_not_in_the_mean() -> None:
    grouping = Grouping()
    grouping.add_system("A", ["E1"], [1])
    grouping.add_system("B", [None, ""], [1, 2])
    assert grouping.counts()["B"] == {"correct": 0, "lines": 0}
    assert grouping.result()["grouping_accuracy"] == 1.0 and grouping.result()["ga_systems"] == 1
