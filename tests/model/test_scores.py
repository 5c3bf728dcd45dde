"""The spec's four scores and the per-class report, on hand-made cases."""
from __future__ import annotations

import pytest

from logdelim.model.scores import Confusion, Scorer, format_confusion, format_report

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
