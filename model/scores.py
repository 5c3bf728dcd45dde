"""Accuracy scores of delimiter labels, as defined in ``shared/spec/labels.md``.

Two accumulators, both fed one line at a time and both additive (their counts
can be saved, merged and pooled, which is how leave-one-system-out pools every
held-out prediction into one overall row):

- :class:`Scorer`: the spec's four scores of ``O``/``D`` labels -- delimiter F1,
  punctuation accuracy, line exact match and token F1.
- :class:`Confusion`: a confusion matrix and per-class precision/recall/F1 for
  any label alphabet (a ``str`` of ``O``/``D`` or a list of names such as
  ``B-ORG``).
- :class:`KindScorer`: the spec's scores of kinds (``D``/``F``/``C``/``V``) --
  kind accuracy and template exact match.
- :class:`Grouping` and :func:`grouping_accuracy`: grouping accuracy (GA) as the
  Loghub benchmark defines it. GA is not additive over lines (a line is right or
  wrong depending on every other line of its system), but it is over systems:
  a :class:`Grouping` keeps one count per system, and pools to the mean over
  systems and the line-weighted GA.

Predicted labels are expected to be derived from predicted token spans
(``logdelim.model.spans.spans_to_labels``); token spans of both sides come from
``logdelim.model.spans.labels_to_spans`` so that the scorer and the tagger agree
on what a token is.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from logdelim.model.charclass import is_punctuation
from logdelim.model.spans import labels_to_spans
from logdelim.model.templates import TOKEN_KINDS, template

DELIMITER = "D"

# Names of the counters a Scorer keeps; saving and merging go through this list.
_COUNTS = (
    "lines",
    "exact_lines",
    "chars",
    "delim_tp",
    "delim_fp",
    "delim_fn",
    "punct_chars",
    "punct_correct",
    "gold_tokens",
    "pred_tokens",
    "matched_tokens",
)


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, 0.0 when there is nothing to divide."""
    return numerator / denominator if denominator else 0.0


def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from true/false positive and false negative counts."""
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    return precision, recall, _ratio(2 * tp, 2 * tp + fp + fn)


_C = TypeVar("_C", bound="_Counters")


class _Counters:
    """Integer counters named in ``NAMES``, starting at 0, that can be saved, merged and pooled."""

    NAMES: tuple[str, ...] = ()

    def __init__(self) -> None:
        for name in self.NAMES:
            setattr(self, name, 0)

    def merge(self: _C, other: _C) -> None:
        """Adds ``other``'s counts to these (pooling two sets of lines)."""
        for name in self.NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def counts(self) -> dict[str, int]:
        """The raw counts, JSON-ready; :meth:`from_counts` rebuilds the scorer."""
        return {name: getattr(self, name) for name in self.NAMES}

    @classmethod
    def from_counts(cls: type[_C], counts: Mapping[str, int]) -> _C:
        """A scorer holding saved :meth:`counts` (for pooling results saved apart)."""
        scorer = cls()
        for name in cls.NAMES:
            setattr(scorer, name, int(counts[name]))
        return scorer


class Scorer(_Counters):
    """Accumulates the spec's four scores over lines of ``O``/``D`` labels.

    All four are micro-averaged: counts are summed over every line added, so
    adding the lines of several systems to one scorer gives the pooled score.
    """

    NAMES = _COUNTS
    # The counters, set in __init__ (declared here for the type checker).
    lines: int
    exact_lines: int
    chars: int
    delim_tp: int
    delim_fp: int
    delim_fn: int
    punct_chars: int
    punct_correct: int
    gold_tokens: int
    pred_tokens: int
    matched_tokens: int

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
        total = int(sum(row["support"] for row in out.values()))
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


# --------------------------------------------------------------------------- kinds

# Gold kinds scored by kind accuracy, each with the name of its per-kind accuracy.
_KIND_COUNTS = (
    "lines",
    "exact_lines",
    "template_lines",
    "kind_chars",
    "kind_correct",
    *(f"{name}_{what}" for name in TOKEN_KINDS.values() for what in ("chars", "correct")),
)


class KindScorer(_Counters):
    """Accumulates the spec's scores of kinds over lines (section "Kinds" of ``shared/spec/labels.md``).

    - kind accuracy: over the characters that are not ``D`` in the gold kinds, the share whose
      predicted kind is the gold one (a predicted ``D`` there is wrong);
    - template exact match: the share of lines whose predicted kinds are all right, every
      character included (as line exact match is for labels);
    - template match: the share of lines whose predicted template equals the gold one. It forgives
      what the template does not show (a ``.`` in constant text predicted ``C`` instead of ``D``),
      so it is at least template exact match; reported beside it, not instead of it.

    Counts are micro-averaged and additive, like :class:`Scorer`'s: they can be saved, merged and
    pooled over systems.
    """

    NAMES = _KIND_COUNTS
    # The counters, set in __init__ (declared here for the type checker).
    lines: int
    exact_lines: int
    template_lines: int
    kind_chars: int
    kind_correct: int

    def add(self, line: str, gold_kinds: str, pred_kinds: str) -> None:
        """Scores one line.

        Args:
            line: the log line.
            gold_kinds: its true kinds, one of ``D``/``F``/``C``/``V`` per character.
            pred_kinds: the predicted kinds, one per character.

        Raises:
            ValueError: when a kinds string's length differs from the line's.
        """
        if len(gold_kinds) != len(line) or len(pred_kinds) != len(line):
            raise ValueError(
                f"line has {len(line)} characters, gold kinds {len(gold_kinds)}, predicted kinds {len(pred_kinds)}"
            )
        self.lines += 1
        exact = pred_kinds == gold_kinds
        for kind, name in TOKEN_KINDS.items():
            chars = gold_kinds.count(kind)
            # The common case for a good tagger is an exact line: no per-character walk then.
            correct = chars if exact else sum(1 for g, p in zip(gold_kinds, pred_kinds) if g == p == kind)
            setattr(self, f"{name}_chars", getattr(self, f"{name}_chars") + chars)
            setattr(self, f"{name}_correct", getattr(self, f"{name}_correct") + correct)
            self.kind_chars += chars
            self.kind_correct += correct
        if exact:
            self.exact_lines += 1
            self.template_lines += 1
        elif template(line, pred_kinds) == template(line, gold_kinds):
            self.template_lines += 1

    def result(self) -> dict[str, float | int]:
        """Kind accuracy, template exact match, template match, per-kind accuracy and the line count."""
        out: dict[str, float | int] = {
            "kind_accuracy": _ratio(self.kind_correct, self.kind_chars),
            "template_exact_match": _ratio(self.exact_lines, self.lines),
            "template_match": _ratio(self.template_lines, self.lines),
        }
        for name in TOKEN_KINDS.values():
            # Per gold kind: how many of its characters were predicted right (its recall).
            out[f"{name}_accuracy"] = _ratio(getattr(self, f"{name}_correct"), getattr(self, f"{name}_chars"))
        out["lines"] = self.lines
        return out


# --------------------------------------------------------------------------- grouping accuracy


def _missing_event(event: Hashable | None) -> bool:
    """Whether a line has no ground-truth event (the Loghub evaluator drops such lines)."""
    return event is None or event == ""


def grouping_accuracy(triples: Iterable[tuple[str, Hashable | None, Hashable]]) -> dict[str, dict[str, int]]:
    """Grouping accuracy counts per system, as the Loghub benchmark defines GA.

    Zhu et al., "Tools and Benchmarks for Automated Log Parsing" (ICSE-SEIP 2019), and
    ``logparser/utils/evaluator.py`` of logpai/logparser: within a system, a line is parsed right
    when the set of lines in its predicted group is exactly the set of lines of its ground-truth
    event. So a predicted group either counts all its lines or none: it must hold one event only,
    and all of that event's lines.

    Args:
        triples: ``(system, gold event, predicted group key)`` per line. Keys are compared within a
            system only. Lines whose event is None or empty are left out altogether, as the
            benchmark's evaluator drops lines without a ground-truth event id.

    Returns:
        ``{system: {"correct": right lines, "lines": scored lines}}``, systems in order of first
        appearance; GA of a system is ``correct / lines``.
    """
    # system -> predicted key -> {event: lines}, and system -> event -> lines
    groups: dict[str, dict[Hashable, dict[Hashable, int]]] = {}
    events: dict[str, dict[Hashable, int]] = {}
    for system, event, key in triples:
        if _missing_event(event):
            continue
        by_event = groups.setdefault(system, {}).setdefault(key, {})
        by_event[event] = by_event.get(event, 0) + 1
        system_events = events.setdefault(system, {})
        system_events[event] = system_events.get(event, 0) + 1
    out = {}
    for system, by_key in groups.items():
        correct = 0
        for by_event in by_key.values():
            if len(by_event) == 1:
                ((event, size),) = by_event.items()
                if size == events[system][event]:
                    correct += size
        out[system] = {"correct": correct, "lines": sum(events[system].values())}
    return out


class Grouping:
    """Grouping accuracy counts, one per system: saveable and mergeable over disjoint systems.

    Two figures pool several systems: the mean of the systems' GA (what the Loghub benchmark
    reports, and what the project's bars use) and the line-weighted GA (right lines over all lines).
    """

    def __init__(self) -> None:
        self.systems: dict[str, tuple[int, int]] = {}  # system -> (correct, lines)

    def add(self, triples: Iterable[tuple[str, Hashable | None, Hashable]]) -> None:
        """Scores every line of one or more whole systems (see :func:`grouping_accuracy`).

        Raises:
            ValueError: a system is already held: GA of part of a system cannot be added to the rest.
        """
        self._add(grouping_accuracy(triples))

    def add_system(self, system: str, events: Sequence[Hashable | None], keys: Sequence[Hashable]) -> None:
        """Scores all lines of ``system``: their gold events and predicted group keys, in the same order.

        Raises:
            ValueError: the sequences differ in length, or the system is already held.
        """
        if len(events) != len(keys):
            raise ValueError(f"{system}: {len(events)} events but {len(keys)} group keys")
        counts = grouping_accuracy((system, event, key) for event, key in zip(events, keys))
        self._add(counts or {system: {"correct": 0, "lines": 0}})

    def _add(self, counts: Mapping[str, Mapping[str, int]]) -> None:
        for system, entry in counts.items():
            if system in self.systems:
                raise ValueError(f"grouping accuracy of {system} is already counted")
            self.systems[system] = (int(entry["correct"]), int(entry["lines"]))

    def merge(self, other: Grouping) -> None:
        """Adds ``other``'s systems (which must not be held here already)."""
        self._add(other.counts())

    def counts(self) -> dict[str, dict[str, int]]:
        """``{system: {"correct", "lines"}}``, JSON-ready; :meth:`from_counts` rebuilds it."""
        return {system: {"correct": correct, "lines": lines} for system, (correct, lines) in self.systems.items()}

    @classmethod
    def from_counts(cls, counts: Mapping[str, Mapping[str, int]]) -> Grouping:
        """A grouping holding saved :meth:`counts`."""
        grouping = cls()
        grouping._add(counts)
        return grouping

    def result(self) -> dict[str, float | int]:
        """``grouping_accuracy`` (mean over systems), ``grouping_accuracy_pooled`` (line-weighted),
        and how many systems and lines they cover. Systems with no scored line are not in the mean."""
        scored = [(correct, lines) for correct, lines in self.systems.values() if lines]
        return {
            "grouping_accuracy": sum(c / n for c, n in scored) / len(scored) if scored else 0.0,
            "grouping_accuracy_pooled": _ratio(sum(c for c, _ in scored), sum(n for _, n in scored)),
            "ga_systems": len(scored),
            "ga_lines": sum(n for _, n in scored),
        }
