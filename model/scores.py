"""Accuracy scores of delimiter labels, as defined in ``shared/spec/labels.md``.

Two accumulators, both fed one line at a time and both additive (their counts
can be saved, merged and pooled, which is how leave-one-system-out pools every
held-out prediction into one overall row):

- :class:`Scorer`: the spec's four scores of ``O``/``D`` labels -- delimiter F1,
  punctuation accuracy, line exact match and token F1.
- :class:`Confusion`: a confusion matrix and per-class precision/recall/F1 for
  any label alphabet (a ``str`` of ``O``/``D`` or a list of names such as
  ``B-ORG``).

Predicted labels are expected to be derived from predicted token spans
(``logdelim.model.spans.spans_to_labels``); token spans of both sides come from
``logdelim.model.spans.labels_to_spans`` so that the scorer and the tagger agree
on what a token is.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from logdelim.model.spans import labels_to_spans

DELIMITER = "D"

# Names of the counters a Scorer keeps; saving and merging go through this list.
_COUNTS = (
    "lines", "exact_lines", "chars",
    "delim_tp", "delim_fp", "delim_fn",
    "punct_chars", "punct_correct",
    "gold_tokens", "pred_tokens", "matched_tokens",
)


def _ratio(numerator: int, denominator: int) -> float:
    """``numerator / denominator``, 0.0 when there is nothing to divide."""
    return numerator / denominator if denominator else 0.0


def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from true/false positive and false negative counts."""
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    return precision, recall, _ratio(2 * tp, 2 * tp + fp + fn)


def is_punctuation(char: str) -> bool:
    """Whether ``char`` counts for punctuation accuracy: neither alphanumeric nor whitespace."""
    return not char.isalnum() and not char.isspace()


class Scorer:
    """Accumulates the spec's four scores over lines of ``O``/``D`` labels.

    All four are micro-averaged: counts are summed over every line added, so
    adding the lines of several systems to one scorer gives the pooled score.
    """

    def __init__(self) -> None:
        for name in _COUNTS:
            setattr(self, name, 0)

    def add(self, line: str, gold_labels: str, pred_labels: str) -> None:
        """Scores one line.

        Args:
            line: the log line.
            gold_labels: its true ``O``/``D`` labels, one per character.
            pred_labels: the predicted ``O``/``D`` labels, one per character.

        Raises:
            ValueError: when a label string's length differs from the line's.
        """
        gold_spans = labels_to_spans(line, gold_labels)  # also checks the lengths
        self.lines += 1
        self.chars += len(line)
        gold_delims = gold_labels.count(DELIMITER)
        punct = [i for i, char in enumerate(line) if is_punctuation(char)]
        self.punct_chars += len(punct)
        self.gold_tokens += len(gold_spans)
        if pred_labels == gold_labels:
            # The common case for a good tagger: everything is right, skip the per-character walk.
            self.exact_lines += 1
            self.delim_tp += gold_delims
            self.punct_correct += len(punct)
            self.pred_tokens += len(gold_spans)
            self.matched_tokens += len(gold_spans)
            return
        pred_spans = labels_to_spans(line, pred_labels)
        tp = sum(1 for g, p in zip(gold_labels, pred_labels) if g == p == DELIMITER)
        self.delim_tp += tp
        self.delim_fp += pred_labels.count(DELIMITER) - tp
        self.delim_fn += gold_delims - tp
        self.punct_correct += sum(1 for i in punct if gold_labels[i] == pred_labels[i])
        self.pred_tokens += len(pred_spans)
        gold_bounds = {(s.start, s.end) for s in gold_spans}
        self.matched_tokens += sum(1 for s in pred_spans if (s.start, s.end) in gold_bounds)

    def merge(self, other: Scorer) -> None:
        """Adds ``other``'s counts to this scorer (pooling two sets of lines)."""
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def counts(self) -> dict[str, int]:
        """The raw counts, JSON-ready; :meth:`from_counts` rebuilds the scorer."""
        return {name: getattr(self, name) for name in _COUNTS}

    @classmethod
    def from_counts(cls, counts: dict[str, int]) -> Scorer:
        """A scorer holding saved :meth:`counts` (for pooling results saved apart)."""
        scorer = cls()
        for name in _COUNTS:
            setattr(scorer, name, int(counts[name]))
        return scorer

    def result(self) -> dict[str, float | int]:
        """The four scores (plus delimiter precision/recall and the line count)."""
        precision, recall, f1 = _f1(self.delim_tp, self.delim_fp, self.delim_fn)
        _, _, token_f1 = _f1(
            self.matched_tokens,
            self.pred_tokens - self.matched_tokens,
            self.gold_tokens - self.matched_tokens,
        )
        return {
            "delimiter_f1": f1,
            "delimiter_precision": precision,
            "delimiter_recall": recall,
            "punctuation_accuracy": _ratio(self.punct_correct, self.punct_chars),
            "line_exact_match": _ratio(self.exact_lines, self.lines),
            "token_f1": token_f1,
            "lines": self.lines,
        }


class Confusion:
    """Confusion matrix and per-class report for any label alphabet.

    Labels are compared position by position; a label sequence is a ``str``
    (one character per label, such as ``O``/``D``) or a sequence of names
    (``["B-ORG", "I-ORG", "O", ...]``).
    """

    def __init__(self, labels: Iterable[str] = ()) -> None:
        """Args:
            labels: the alphabet in display order; labels first seen later are appended.
        """
        self.labels: list[str] = []
        self.matrix: dict[str, dict[str, int]] = {}  # gold -> predicted -> count
        for label in labels:
            self._ensure(label)

    def _ensure(self, label: str) -> None:
        if label not in self.matrix:
            self.labels.append(label)
            self.matrix[label] = {}

    def add(self, gold_labels: Sequence[str], pred_labels: Sequence[str]) -> None:
        """Counts one line's labels.

        Raises:
            ValueError: when the two sequences differ in length.
        """
        if len(gold_labels) != len(pred_labels):
            raise ValueError(f"gold has {len(gold_labels)} labels, prediction has {len(pred_labels)}")
        for gold, pred in zip(gold_labels, pred_labels):
            self._ensure(gold)
            self._ensure(pred)
            row = self.matrix[gold]
            row[pred] = row.get(pred, 0) + 1

    def merge(self, other: Confusion) -> None:
        """Adds ``other``'s counts to this matrix."""
        for gold, row in other.matrix.items():
            self._ensure(gold)
            for pred, count in row.items():
                self._ensure(pred)
                self.matrix[gold][pred] = self.matrix[gold].get(pred, 0) + count

    def count(self, gold: str, pred: str) -> int:
        """How many positions had label ``gold`` and were predicted ``pred``."""
        return self.matrix.get(gold, {}).get(pred, 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"labels": [...], "matrix": [[...], ...]}`` (rows gold, columns predicted)."""
        return {
            "labels": list(self.labels),
            "matrix": [[self.count(g, p) for p in self.labels] for g in self.labels],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Confusion:
        """Rebuilds a matrix saved with :meth:`to_dict`."""
        confusion = cls(data["labels"])
        for gold, row in zip(data["labels"], data["matrix"]):
            for pred, count in zip(data["labels"], row):
                if count:
                    confusion.matrix[gold][pred] = int(count)
        return confusion

    def report(self) -> dict[str, dict[str, float | int]]:
        """Per-class precision/recall/F1/support, plus ``micro avg`` and ``macro avg`` rows."""
        out: dict[str, dict[str, float | int]] = {}
        for label in self.labels:
            tp = self.count(label, label)
            support = sum(self.matrix[label].values())
            predicted = sum(self.count(g, label) for g in self.labels)
            precision, recall, f1 = _f1(tp, predicted - tp, support - tp)
            out[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
        total = sum(row["support"] for row in out.values())
        correct = sum(self.count(label, label) for label in self.labels)
        # Every position has exactly one gold and one predicted label, so micro P = R = F1 = accuracy.
        accuracy = _ratio(correct, total)
        out["micro avg"] = {"precision": accuracy, "recall": accuracy, "f1": accuracy, "support": total}
        classes = [out[label] for label in self.labels]
        macro = {key: _ratio(sum(c[key] for c in classes), len(classes)) for key in ("precision", "recall", "f1")}
        out["macro avg"] = {**macro, "support": total}
        return out


def format_report(report: dict[str, dict[str, float | int]]) -> str:
    """A :meth:`Confusion.report` as a fixed-width text table."""
    width = max([len(name) for name in report] + [9])
    lines = [f"{'':{width}}  precision  recall      f1   support"]
    for name, row in report.items():
        lines.append(
            f"{name:>{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:6.3f}  {row['support']:8d}"
        )
    return "\n".join(lines)


def format_confusion(confusion: Confusion) -> str:
    """A confusion matrix as a text table: rows gold, columns predicted."""
    data = confusion.to_dict()
    corner = "gold\\pred"
    width = max([len(label) for label in data["labels"]] + [len(corner)])
    cells = max([len(str(c)) for row in data["matrix"] for c in row] + [len(label) for label in data["labels"]])
    lines = [f"{corner:>{width}}  " + "  ".join(f"{label:>{cells}}" for label in data["labels"])]
    for label, row in zip(data["labels"], data["matrix"]):
        lines.append(f"{label:>{width}}  " + "  ".join(f"{count:>{cells}d}" for count in row))
    return "\n".join(lines)
