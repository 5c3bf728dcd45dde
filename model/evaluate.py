"""``logdelim eval``: the tagger's scores beside the rule baselines, per system and overall.

Two modes:

- ``logdelim eval --data FILE...``: score one checkpoint (default: the shipped
  model) on labelled JSONL. Per system (the ``system`` field) and pooled over all
  lines: the spec's four scores of the tagger and of both rule baselines, a
  per-class report and a confusion matrix of the tagger's labels.
- ``logdelim eval --loso --data FILE... --out DIR``: leave one system out. For
  every system S, train with S excluded, score the model on S; the overall row
  pools every held-out prediction. Each system's result is saved as
  ``DIR/<S>/result.json`` as soon as it is known, and a system whose result
  exists is not trained again, so a long run can be resumed or split
  (``--systems``). ``--rescore`` scores the done folds' saved models again with
  this version's code and trains nothing.

Scores follow ``shared/spec/labels.md`` (see ``logdelim.model.scores``). The
rule baselines and the four scores apply to the ``O``/``D`` alphabet only; data
with other label alphabets get the per-class report and confusion matrix.

Systems whose lines carry ``kinds`` (section "Kinds" of the spec) also get the
scores of kinds, under ``kinds`` in the JSON and in a second table: kind
accuracy and template exact match of the tagger (when its checkpoint has a kind
head) and of the digit rule, and grouping accuracy (GA, when lines carry
``event``) of the tagger's templates, of the tagger's templates grouped online
by the stream's evidence (``grouping.StreamGroups``), the digit rule's, Drain3
with default settings on the content, Drain3 on the content masked by the Loghub benchmark's
per-system regexes, Drain3 on the content masked by the tagger's templates, and
the gold templates (the ceiling of any grouping by exact template). Overall, GA
is the mean over systems (the Loghub benchmark's figure) and, beside it, the
line-weighted GA.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from logdelim.model.annotated import load_annotated
from logdelim.model.baselines import BASELINES, GROUPING_BASELINES, KIND_BASELINES, drain3_masked
from logdelim.model.data import label_alphabet, load_jsonl
from logdelim.model.devices import device_error
from logdelim.model.engine import Engine
from logdelim.model.grouping import StreamGroups
from logdelim.model.scores import Confusion, Grouping, KindScorer, Scorer, format_confusion, format_report
from logdelim.model.spans import spans_to_labels
from logdelim.model.templates import template
from logdelim.model.train import TrainConfig, add_tuning_arguments, train, tuning_overrides

log = logging.getLogger(__name__)

TAGGER = "tagger"
OVERALL = "overall"
# Lines per engine.tag call: large enough for the engine's length bucketing to pay off.
TAG_CHUNK_LINES = 2048
# Display names of the scored systems (JSON keys are the dict keys).
TITLES = {TAGGER: "tagger", "whitespace": "whitespace", "common_separators": "common separators"}
RESULT_FILE = "result.json"
# Groupings beside the tagger's and the kind rules' templates (see logdelim.model.baselines).
DRAIN3_MASKED = "drain3_masked"
STREAM = "tagger_stream"
GOLD = "gold"
# Display names of everything scored on kinds, in display order (JSON keys are the dict keys).
KIND_TITLES = {
    TAGGER: "tagger",
    STREAM: "tagger + stream groups",
    "digit_rule": "digit rule",
    "drain3": "Drain3 default",
    "drain3_regex": "Drain3 + benchmark regexes",
    "drain3_tuned": "Drain3 tuned as the benchmark",
    DRAIN3_MASKED: "Drain3 on our masked content",
    GOLD: "gold templates",
}
# Folder in a leave-one-system-out run for the .ann files converted to JSONL for training.
TRAINING_DATA_DIR = "training-data"


class Evaluation:
    """Scores of the tagger and the rule baselines, per system, accumulated line by line.

    Everything kept is a count, so evaluations of different lines (such as the
    held-out systems of leave-one-system-out) merge into exact pooled scores.
    """

    def __init__(self, binary: bool = True) -> None:
        """Args:
        binary: whether labels are the spec's ``O``/``D`` (then the four scores and the rule
            baselines apply); other alphabets get only the per-class report and confusion matrix.
        """
        self.binary = binary
        self.scorers: dict[str, dict[str, Scorer]] = {}  # system -> scored system -> Scorer
        self.confusions: dict[str, Confusion] = {}  # system -> tagger's confusion matrix
        self.lines: dict[str, int] = {}
        # Systems whose lines carry kinds: system -> tagger or kind rule -> KindScorer, and
        # system -> grouping (tagger, rules, Drain3 baselines, gold) -> Grouping of that system.
        self.kind_scorers: dict[str, dict[str, KindScorer]] = {}
        self.groupings: dict[str, dict[str, Grouping]] = {}

    def _system(self, system: str) -> None:
        if system not in self.lines:
            self.lines[system] = 0
            self.confusions[system] = Confusion(["O", "D"] if self.binary else ())
            self.scorers[system] = {name: Scorer() for name in (TAGGER, *BASELINES)} if self.binary else {}

    def add(self, system: str, line: str, gold_labels: Sequence[str], tagger_labels: Sequence[str]) -> None:
        """Scores one line: the tagger's labels, and (``O``/``D`` data) each rule's."""
        self._system(system)
        self.lines[system] += 1
        self.confusions[system].add(gold_labels, tagger_labels)
        if self.binary:
            scorers = self.scorers[system]
            scorers[TAGGER].add(line, gold_labels, tagger_labels)
            for name, rule in BASELINES.items():
                scorers[name].add(line, gold_labels, rule(line))

    def add_kinds(self, system: str, line: str, gold_kinds: str, predicted: Mapping[str, str]) -> None:
        """Scores one line's predicted kinds: ``predicted`` maps the tagger and/or kind rules to their kinds."""
        scorers = self.kind_scorers.setdefault(system, {})
        for name, kinds in predicted.items():
            scorers.setdefault(name, KindScorer()).add(line, gold_kinds, kinds)

    def add_grouping(self, system: str, name: str, events: Sequence[Hashable | None], keys: Sequence[Hashable]) -> None:
        """Scores one grouping of all the lines of ``system``: gold events and predicted group keys, in order.

        Raises:
            ValueError: ``name`` already has a grouping of ``system`` (GA is not additive within a system).
        """
        grouping = Grouping()
        grouping.add_system(system, events, keys)
        self._merge_grouping(system, name, grouping)

    def _merge_grouping(self, system: str, name: str, grouping: Grouping) -> None:
        groupings = self.groupings.setdefault(system, {})
        if name in groupings:
            groupings[name].merge(grouping)
        else:
            groupings[name] = Grouping.from_counts(grouping.counts())

    def merge(self, other: Evaluation) -> None:
        """Adds ``other``'s systems (and their counts) to this evaluation.

        Raises:
            ValueError: both hold a grouping of the same system (GA of part of a system does not add up).
        """
        for system, lines in other.lines.items():
            self._system(system)
            self.lines[system] += lines
            self.confusions[system].merge(other.confusions[system])
            for name, scorer in other.scorers[system].items():
                self.scorers[system][name].merge(scorer)
        for system, scorers in other.kind_scorers.items():
            for name, kind_scorer in scorers.items():
                self.kind_scorers.setdefault(system, {}).setdefault(name, KindScorer()).merge(kind_scorer)
        for system, groupings in other.groupings.items():
            for name, grouping in groupings.items():
                self._merge_grouping(system, name, grouping)

    def pooled(self) -> Evaluation:
        """One system, ``overall``, holding every line of this evaluation."""
        pooled = Evaluation(self.binary)
        pooled._system(OVERALL)
        for system in self.lines:
            pooled.lines[OVERALL] += self.lines[system]
            pooled.confusions[OVERALL].merge(self.confusions[system])
            for name, scorer in self.scorers[system].items():
                pooled.scorers[OVERALL][name].merge(scorer)
        # Kind scores pool line by line; groupings keep one count per system, so the overall row
        # can give both the mean GA over systems and the line-weighted GA.
        for scorers in self.kind_scorers.values():
            for name, kind_scorer in scorers.items():
                pooled.kind_scorers.setdefault(OVERALL, {}).setdefault(name, KindScorer()).merge(kind_scorer)
        for groupings in self.groupings.values():
            for name, grouping in groupings.items():
                pooled._merge_grouping(OVERALL, name, grouping)
        return pooled

    def kinds_dict(self, system: str) -> dict[str, Any] | None:
        """One system's scores of kinds (None when its lines carry no kinds), JSON-ready.

        ``scores`` maps the tagger, the kind rules and the grouping baselines to what applies to each:
        ``KindScorer.result()`` (kind accuracy, template exact match...) for those that predict kinds,
        ``Grouping.result()`` (``grouping_accuracy``: the mean over systems, and line-weighted
        ``grouping_accuracy_pooled``) for every grouping. ``counts`` and ``grouping`` are the raw counts.
        """
        scorers = self.kind_scorers.get(system, {})
        groupings = self.groupings.get(system, {})
        if not scorers and not groupings:
            return None
        names = sorted({*scorers, *groupings}, key=_kind_order)
        return {
            "scores": {
                name: {
                    **(scorers[name].result() if name in scorers else {}),
                    **(groupings[name].result() if name in groupings else {}),
                }
                for name in names
            },
            "counts": {name: scorers[name].counts() for name in names if name in scorers},
            "grouping": {name: groupings[name].counts() for name in names if name in groupings},
        }

    def system_dict(self, system: str) -> dict[str, Any]:
        """One system's scores, per-class report, confusion matrix and raw counts, JSON-ready."""
        confusion = self.confusions[system]
        out = {
            "lines": self.lines[system],
            "scores": {name: scorer.result() for name, scorer in self.scorers[system].items()},
            "report": confusion.report(),
            "confusion": confusion.to_dict(),
            "counts": {name: scorer.counts() for name, scorer in self.scorers[system].items()},
        }
        kinds = self.kinds_dict(system)
        if kinds is not None:
            out["kinds"] = kinds
        return out

    def to_dict(self) -> dict[str, Any]:
        """``{"binary", "systems": {S: ...}, "overall": ...}``; see :meth:`system_dict`."""
        return {
            "binary": self.binary,
            "systems": {system: self.system_dict(system) for system in self.lines},
            OVERALL: self.pooled().system_dict(OVERALL),
        }

    @classmethod
    def from_system_dict(cls, system: str, data: dict[str, Any], binary: bool = True) -> Evaluation:
        """An evaluation of one system rebuilt from its :meth:`system_dict`."""
        evaluation = cls(binary)
        evaluation._system(system)
        evaluation.lines[system] = int(data["lines"])
        evaluation.confusions[system] = Confusion.from_dict(data["confusion"])
        evaluation.scorers[system] = {name: Scorer.from_counts(c) for name, c in data["counts"].items()}
        if "kinds" in data:
            evaluation.kind_scorers[system] = {
                name: KindScorer.from_counts(c) for name, c in data["kinds"]["counts"].items()
            }
            evaluation.groupings[system] = {
                name: Grouping.from_counts(c) for name, c in data["kinds"]["grouping"].items()
            }
        return evaluation


def _kind_order(name: str) -> tuple[int, str]:
    """Display order of what is scored on kinds: :data:`KIND_TITLES`' order, unknown names last."""
    order = list(KIND_TITLES)
    return (order.index(name) if name in order else len(order), name)


def tag_lines(
    engine: Engine, lines: Sequence[str], binary: bool
) -> tuple[list[Sequence[str]], list[str] | None, list[str]]:
    """The tagger's labels of ``lines``, its kinds (None when its checkpoint has no kind head), and
    which wildcards of each line's template are header fields (``TagResult.template_fields``).

    For ``O``/``D`` the labels are derived from the predicted token spans, as the
    spec prescribes (what a consumer of the tokens sees is what is scored).
    """
    labels: list[Sequence[str]] = []
    kinds: list[str] = []
    fields: list[str] = []
    for start in range(0, len(lines), TAG_CHUNK_LINES):
        for result in engine.tag(lines[start : start + TAG_CHUNK_LINES]):
            labels.append(spans_to_labels(len(result.line), result.tokens) if binary else result.labels)
            # '' without a kind head (and from engines that predate kinds).
            kinds.append(getattr(result, "kinds", ""))
            fields.append(getattr(result, "template_fields", ""))
    # An empty line's kinds are '' with a kind head too: only a non-empty line tells.
    has_head = all(len(k) == len(line) for k, line in zip(kinds, lines))
    return labels, kinds if has_head else None, fields


def load_examples(path: str | Path) -> list[dict]:
    """A labelled file's examples: hand-annotated ``.ann`` (see ``logdelim.model.annotated``) or JSONL."""
    return load_annotated(path) if Path(path).suffix == ".ann" else load_jsonl(path)


def group_by_system(examples: Iterable[dict]) -> dict[str, list[dict]]:
    """Examples per ``system`` field, systems in order of first appearance."""
    groups: dict[str, list[dict]] = {}
    for example in examples:
        groups.setdefault(example["system"], []).append(example)
    return groups


def evaluate(engine: Engine, examples: Sequence[dict]) -> Evaluation:
    """Tags every example's line and scores it, with the baselines, per system.

    A system whose every line carries ``kinds`` is scored on kinds too (see :func:`score_kinds`).
    """
    binary = label_alphabet(list(examples)) == ["O", "D"]
    evaluation = Evaluation(binary)
    for system, group in group_by_system(examples).items():
        lines = [example["line"] for example in group]
        log.info("scoring %s: %d lines", system, len(lines))
        labels, kinds, fields = tag_lines(engine, lines, binary)
        for example, predicted in zip(group, labels):
            evaluation.add(system, example["line"], example["labels"], predicted)
        if all(isinstance(example.get("kinds"), str) for example in group):
            score_kinds(evaluation, system, group, kinds, fields)
    return evaluation


def score_kinds(
    evaluation: Evaluation,
    system: str,
    examples: Sequence[dict],
    tagger_kinds: Sequence[str] | None,
    tagger_fields: Sequence[str] = (),
) -> None:
    """Scores of kinds of every line of ``system``, in log order: the tagger's and the baselines'.

    Kind accuracy and template exact match of the tagger (when ``tagger_kinds`` is given) and of the
    kind rules; when lines carry ``event``, GA of the templates of each, of the Drain3 baselines, of
    Drain3 on the content masked by the tagger's templates, of the tagger's templates grouped by
    the stream (``StreamGroups``, told which wildcards are header fields by ``tagger_fields``
    when given), and of the gold templates.

    Raises:
        ValueError: a line's kinds are not as long as the line.
    """
    lines = [example["line"] for example in examples]
    gold = [example["kinds"] for example in examples]
    for number, (line, kinds) in enumerate(zip(lines, gold), 1):
        if len(kinds) != len(line):
            raise ValueError(f"{system}, line {number}: {len(kinds)} kinds for {len(line)} characters")
    predicted = {name: [rule(line) for line in lines] for name, rule in KIND_BASELINES.items()}
    if tagger_kinds is not None:
        predicted = {TAGGER: list(tagger_kinds), **predicted}
    for i, (line, kinds) in enumerate(zip(lines, gold)):
        evaluation.add_kinds(system, line, kinds, {name: values[i] for name, values in predicted.items()})
    events = [example.get("event") for example in examples]
    if not any(events):
        return
    # Drain3 is an online parser: each baseline sees the system's lines in log order, from a fresh miner.
    keys: dict[str, Sequence[Hashable] | None] = {
        name: [template(line, kinds) for line, kinds in zip(lines, values)] for name, values in predicted.items()
    }
    keys.update({name: baseline(system, lines, gold) for name, baseline in GROUPING_BASELINES.items()})
    if tagger_kinds is not None:
        keys[DRAIN3_MASKED] = drain3_masked(lines, gold, tagger_kinds)
        # The stream seen in log order; each line then takes its template's group at the end,
        # as a store that maps template ids to groups would show it.
        stream = StreamGroups()
        templates = [template(line, kinds) for line, kinds in zip(lines, tagger_kinds)]
        fields = list(tagger_fields) or [""] * len(templates)
        for text, text_fields in zip(templates, fields):
            stream.group(text, text_fields)
        keys[STREAM] = [stream.group_of(text, text_fields) for text, text_fields in zip(templates, fields)]
    keys[GOLD] = [template(line, kinds) for line, kinds in zip(lines, gold)]
    for name, values in keys.items():
        if values is not None:  # None: the baseline is not defined for this system
            evaluation.add_grouping(system, name, events, values)


def _score_cell(scores: dict[str, float]) -> str:
    return " / ".join(
        f"{scores[key]:.3f}" for key in ("delimiter_f1", "punctuation_accuracy", "line_exact_match", "token_f1")
    )


def _f1_margin(entry: dict[str, Any], baseline: str) -> float:
    """The tagger's delimiter F1 minus ``baseline``'s, in one system's (or the overall) entry."""
    return entry["scores"][TAGGER]["delimiter_f1"] - entry["scores"][baseline]["delimiter_f1"]


def markdown_table(
    data: dict[str, Any], names: Sequence[str] = (TAGGER, *BASELINES), margin_over: str | None = None
) -> str:
    """The scores of :meth:`Evaluation.to_dict` as a markdown table, one row per system plus overall.

    Args:
        data: an evaluation's dict.
        names: which scored systems get a column (tagger and/or baselines).
        margin_over: a baseline; adds a column with the tagger's delimiter F1 minus that baseline's.
    """
    head = ["system", "lines"] + [f"{TITLES[name]} F1 / punct / exact / token F1" for name in names]
    if margin_over:
        head.append(f"F1 over {TITLES[margin_over]}")
    rows = [head, ["---"] * len(head)]
    for system, entry in [*data["systems"].items(), (f"**{OVERALL}**", data[OVERALL])]:
        row = [system, str(entry["lines"])] + [_score_cell(entry["scores"][name]) for name in names]
        if margin_over:
            row.append(f"{_f1_margin(entry, margin_over):+.3f}")
        rows.append(row)
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def _kind_cell(scores: dict[str, float] | None, keys: Sequence[str]) -> str:
    if scores is None:
        return "-"
    return " / ".join(f"{scores[key]:.3f}" if key in scores else "-" for key in keys)


def kinds_markdown(data: dict[str, Any]) -> str | None:
    """The scores of kinds of :meth:`Evaluation.to_dict` as a markdown table (None when no system has kinds).

    Tagger and kind rules: kind accuracy / template exact match / GA; other groupings: GA. The overall
    row pools kind scores over lines and gives GA as the mean over systems; the line-weighted GA follows
    the table.
    """
    entries = [(system, entry) for system, entry in data["systems"].items() if "kinds" in entry]
    if not entries:
        return None
    overall = data[OVERALL].get("kinds") or {"scores": {}}
    names = sorted({name for _, entry in entries for name in entry["kinds"]["scores"]}, key=_kind_order)
    predicts = {name for _, entry in entries for name in entry["kinds"]["counts"]}
    keys = {
        name: ("kind_accuracy", "template_exact_match", "grouping_accuracy")
        if name in predicts
        else ("grouping_accuracy",)
        for name in names
    }
    head = ["system", "lines"] + [
        KIND_TITLES.get(name, name) + (" kind acc / template exact / GA" if name in predicts else " GA")
        for name in names
    ]
    rows = [head, ["---"] * len(head)]
    for system, entry in [*entries, (f"**{OVERALL}**", {**data[OVERALL], "kinds": overall})]:
        scores = entry["kinds"]["scores"]
        rows.append([system, str(entry["lines"])] + [_kind_cell(scores.get(name), keys[name]) for name in names])
    table = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    pooled = []
    for name in names:
        scores = overall["scores"].get(name, {})
        if "grouping_accuracy_pooled" in scores:
            # A baseline defined on fewer systems (benchmark regexes) has a mean over those only: say so.
            systems = scores["ga_systems"]
            covered = "" if systems == len(entries) else f" ({systems} of {len(entries)} systems)"
            pooled.append(f"{KIND_TITLES.get(name, name)} {scores['grouping_accuracy_pooled']:.3f}{covered}")
    if pooled:
        table += "\n\nOverall GA is the mean over systems; line-weighted: " + ", ".join(pooled) + "."
    return table


def format_text(data: dict[str, Any]) -> str:
    """A full evaluation for the terminal: score tables, then the tagger's report and confusion matrix."""
    parts = [f"model {data['model_id']} on {data['device']}"]
    if data["binary"]:
        parts += ["", markdown_table(data)]
    kinds = kinds_markdown(data)
    if kinds:
        parts += ["", "kinds and grouping:", kinds]
    overall = data[OVERALL]
    parts += [
        "",
        "tagger, per character, all lines:",
        format_report(overall["report"]),
        "",
        format_confusion(Confusion.from_dict(overall["confusion"])),
    ]
    return "\n".join(parts)


def run_loso(
    files: Sequence[str],
    out_dir: Path,
    *,
    systems: Sequence[str] | None = None,
    max_minutes: float | None = None,
    synthetic_lines: int | None = None,
    seed: int | None = None,
    device: str = "auto",
    num_threads: int | None = None,
    tuning: Mapping[str, Any] | None = None,
    rescore: bool = False,
) -> dict[str, Any]:
    """Leave-one-system-out: for each system, train without it and score the model on it.

    Args:
        files: labelled JSONL or ``.ann`` files; every system in them is a fold (``.ann`` files are
            converted to JSONL for training, see :func:`training_files`).
        out_dir: one sub-folder per system (checkpoint, training metrics, ``result.json``)
            plus ``loso.md`` and ``loso.json``.
        systems: only these folds (default: all). Folds whose ``result.json`` exists are skipped.
        max_minutes, synthetic_lines, seed: training budget and data per fold (None: the trainer's default).
        device, num_threads: where to train and tag.
        tuning: other ``TrainConfig`` fields (``hidden_size``, ...) every fold trains with.
        rescore: score each done fold's saved model again with today's code (its scores,
            baselines and stream groups) instead of skipping it, and train nothing: a change
            downstream of the network is measured on stored folds in minutes, not hours.

    Returns:
        The table as a dict (:meth:`Evaluation.to_dict` shape, plus ``missing`` systems), built from
        every fold whose result exists, this run's or an earlier one's.
    """
    examples = [example for path in files for example in load_examples(path)]
    if label_alphabet(examples) != ["O", "D"]:
        raise ValueError("leave-one-system-out needs O/D delimiter labels")
    by_system = group_by_system(examples)
    unknown = set(systems or ()) - set(by_system)
    if unknown:
        raise ValueError(f"systems not in the data: {', '.join(sorted(unknown))}")
    out_dir.mkdir(parents=True, exist_ok=True)
    overrides = {"max_minutes": max_minutes, "synthetic_lines": synthetic_lines, "seed": seed, **(tuning or {})}
    base = replace(
        TrainConfig(data=tuple(training_files(files, out_dir)), device=device, num_threads=num_threads),
        **{key: value for key, value in overrides.items() if value is not None},
    )
    for system in systems or by_system:
        fold_dir = out_dir / system
        result_path = fold_dir / RESULT_FILE
        cfg = replace(base, out_dir=str(fold_dir), exclude_systems=(system,))
        if rescore:
            if result_path.exists():
                _rescore(result_path, by_system[system], device, num_threads)
            continue
        if result_path.exists():
            saved = json.loads(result_path.read_text())["train_config"]
            if saved != json.loads(json.dumps(asdict(cfg))):
                # Resuming is the point, but a fold trained under other settings should not pass unnoticed.
                log.warning(
                    "leave-one-system-out: %s was trained with other settings (%s); kept, delete it to retrain",
                    system,
                    result_path,
                )
            log.info("leave-one-system-out: %s already done (%s), skipped", system, result_path)
            continue
        log.info("leave-one-system-out: training without %s", system)
        trained = train(cfg)
        engine = Engine.load(trained["checkpoint"], device=device, num_threads=num_threads)
        fold = evaluate(engine, by_system[system])
        record = {
            "system": system,
            "model_id": engine.model_id,
            "checkpoint": trained["checkpoint"],
            "train_config": asdict(cfg),
            "train_best": trained["best"],
            **fold.system_dict(system),
        }
        _write_result(result_path, record)
        log.info("leave-one-system-out: %s tagger %s", system, record["scores"][TAGGER])
        if TAGGER in record.get("kinds", {}).get("scores", {}):
            log.info("leave-one-system-out: %s tagger kinds %s", system, record["kinds"]["scores"][TAGGER])
    return loso_table(out_dir, list(by_system))


def _write_result(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(path)  # atomic: a killed run never leaves a half-written result behind


# What a fold's result keeps from its training when it is scored again.
_TRAINING_KEYS = ("system", "model_id", "checkpoint", "train_config", "train_best")


def _rescore(result_path: Path, examples: Sequence[dict], device: str, num_threads: int | None) -> None:
    """Score a done fold's saved model (beside its result; the run folder may have moved) again."""
    saved = json.loads(result_path.read_text())
    checkpoint_path = result_path.parent / Path(saved["checkpoint"]).name
    engine = Engine.load(str(checkpoint_path), device=device, num_threads=num_threads)
    if engine.model_id != saved["model_id"]:
        raise ValueError(f"{result_path.parent}: the saved model is {engine.model_id}, the result {saved['model_id']}")
    system = saved["system"]
    _write_result(
        result_path, {key: saved[key] for key in _TRAINING_KEYS} | evaluate(engine, examples).system_dict(system)
    )
    log.info("leave-one-system-out: %s scored again (%s)", system, result_path)


def training_files(files: Sequence[str | Path], out_dir: Path) -> list[str]:
    """``files`` as training reads them: JSONL as they are, each ``.ann`` file converted to JSONL.

    Training reads JSONL only, while evaluation reads ``.ann`` too; a leave-one-system-out run over
    ``.ann`` files would score their lines but hand the trainer files it cannot read. Converted files
    go to ``out_dir/training-data/`` under names that depend only on their place in ``files`` and their
    name, so a resumed run gives the same training config, and are rewritten only when they change.
    """
    out: list[str] = []
    for index, path in enumerate(files):
        if Path(path).suffix != ".ann":
            out.append(str(path))
            continue
        target = out_dir / TRAINING_DATA_DIR / f"{index:02d}-{Path(path).stem}.jsonl"
        text = "".join(json.dumps(example, ensure_ascii=False) + "\n" for example in load_annotated(path))
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(target)
        out.append(str(target))
    return out


def loso_table(out_dir: Path, systems: Sequence[str], write: bool = True) -> dict[str, Any]:
    """Pools the saved fold results of ``systems`` into one table; writes ``loso.json`` and ``loso.md``
    unless ``write`` is false."""
    pooled = Evaluation()
    models = {}
    for system in systems:
        path = out_dir / system / RESULT_FILE
        if path.exists():
            record = json.loads(path.read_text())
            pooled.merge(Evaluation.from_system_dict(system, record))
            models[system] = record["model_id"]
    data = pooled.to_dict() if pooled.lines else {"binary": True, "systems": {}}
    data["missing"] = [system for system in systems if system not in pooled.lines]
    data["models"] = models
    if write:
        if pooled.lines:
            (out_dir / "loso.md").write_text(loso_markdown(data) + "\n")
        (out_dir / "loso.json").write_text(json.dumps(data, indent=2))
    return data


def margin_summary(data: dict[str, Any], rule: str) -> str:
    """One sentence: on how many systems the tagger's delimiter F1 is above ``rule``'s, and the others'
    margins (the issues' bars count systems, so the count is read from the results, not by eye)."""
    margins = {system: _f1_margin(entry, rule) for system, entry in data["systems"].items()}
    behind = [f"{system} {margin:+.3f}" for system, margin in margins.items() if margin <= 0]
    text = f"Tagger delimiter F1 above {TITLES[rule]} on {len(margins) - len(behind)} of {len(margins)} systems"
    return text + (f"; not above: {', '.join(behind)}." if behind else ".")


def loso_markdown(data: dict[str, Any]) -> str:
    """The leave-one-system-out table: the held-out tagger beside the common-separators rule."""
    text = markdown_table(data, (TAGGER, "common_separators"), margin_over="common_separators")
    text += "\n\n" + margin_summary(data, "common_separators")
    kinds = kinds_markdown(data)
    if kinds:
        text += "\n\nKinds and grouping of each left-out system:\n\n" + kinds
    if data["missing"]:
        text += f"\n\nNot yet run (not in the overall row): {', '.join(data['missing'])}"
    return text


# The overall figures of a leave-one-system-out run that the seeds table compares: (title, keys in loso.json).
SEED_FIGURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("delimiter F1", ("scores", TAGGER, "delimiter_f1")),
    ("punctuation accuracy", ("scores", TAGGER, "punctuation_accuracy")),
    ("exact lines", ("scores", TAGGER, "line_exact_match")),
    ("kind accuracy", ("kinds", "scores", TAGGER, "kind_accuracy")),
    ("template exact", ("kinds", "scores", TAGGER, "template_exact_match")),
    ("GA", ("kinds", "scores", TAGGER, "grouping_accuracy")),
    ("GA with stream groups", ("kinds", "scores", STREAM, "grouping_accuracy")),
)
SEEDS_FILE = "seeds"


def seed_dir(out_dir: Path, seed: int) -> Path:
    """The folder of one seed's folds in a run over several seeds."""
    return out_dir / f"seed-{seed}"


def _figure(entry: dict[str, Any], where: Sequence[str]) -> float | None:
    value: Any = entry
    for key in where:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value)


def _counts(data: dict[str, Any]) -> dict[str, int]:
    """Systems whose tagger beats the common-separators rule on delimiter F1, and whose stream groups
    beat Drain3 default on GA (the issues' bars count systems)."""
    systems = data["systems"].values()
    ga = [
        (
            _figure(entry, ("kinds", "scores", STREAM, "grouping_accuracy")),
            _figure(entry, ("kinds", "scores", "drain3", "grouping_accuracy")),
        )
        for entry in systems
    ]
    return {
        "systems": len(data["systems"]),
        "above_common_separators": sum(_f1_margin(entry, "common_separators") > 0 for entry in systems),
        "stream_ga_above_drain3": sum(ours is not None and theirs is not None and ours > theirs for ours, theirs in ga),
    }


def seeds_table(out_dir: Path, tables: Mapping[int, dict[str, Any]]) -> dict[str, Any]:
    """The overall figures of each seed's folds side by side, with their mean and range.

    Fold scores move between seeds by more than many differences between recipes, so a
    recipe is judged on several seeds. ``tables``: each seed's :func:`run_loso` table. Writes
    ``seeds.json`` and ``seeds.md`` into ``out_dir``.
    """
    rows: list[dict[str, Any]] = [
        {"seed": seed, **{title: _figure(data["overall"], where) for title, where in SEED_FIGURES}, **_counts(data)}
        for seed, data in tables.items()
        if not data["missing"]
    ]
    summary: dict[str, Any] = {
        "seeds": rows,
        "missing_seeds": [seed for seed, data in tables.items() if data["missing"]],
    }
    if rows:
        keys = [key for key in rows[0] if key != "seed"]
        summary["mean"] = {
            key: sum(r[key] for r in rows) / len(rows) for key in keys if all(r[key] is not None for r in rows)
        }
        summary["min"] = {key: min(r[key] for r in rows) for key in summary["mean"]}
        summary["max"] = {key: max(r[key] for r in rows) for key in summary["mean"]}
    (out_dir / f"{SEEDS_FILE}.json").write_text(json.dumps(summary, indent=2))
    (out_dir / f"{SEEDS_FILE}.md").write_text(seeds_markdown(summary) + "\n")
    return summary


def seeds_markdown(summary: dict[str, Any]) -> str:
    """``seeds_table`` as a markdown table: one row per seed, then the mean and the range."""
    rows = summary["seeds"]
    if not rows:
        return "no seed has all its folds"
    titles = [title for title, _ in SEED_FIGURES]
    header = ["seed", *titles, "above the rule", "stream GA above Drain3"]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]

    counted = ("above_common_separators", "stream_ga_above_drain3")

    def cells(entry: dict[str, Any], counts: list[str]) -> list[str]:
        return [("-" if entry.get(t) is None else f"{entry[t]:.3f}") for t in titles] + counts

    for r in rows:
        counts = [f"{r[key]} of {r['systems']}" for key in counted]
        lines.append("| " + " | ".join([str(r["seed"]), *cells(r, counts)]) + " |")
    mean, low, high = summary["mean"], summary["min"], summary["max"]
    counts = [f"{mean[key]:.1f} ({low[key]}-{high[key]})" for key in counted]
    lines.append("| **mean** | " + " | ".join(cells(mean, counts)) + " |")
    spread = [f"{low[t]:.3f}-{high[t]:.3f}" if t in low else "-" for t in titles]
    lines.append("| range | " + " | ".join(spread + ["", ""]) + " |")
    missing = summary["missing_seeds"]
    text = "\n".join(lines)
    return text + (f"\n\nSeeds not complete (not in the table): {', '.join(map(str, missing))}" if missing else "")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logdelim eval``."""
    parser.add_argument("--data", nargs="+", required=True, metavar="FILE", help="labelled JSONL or .ann files")
    parser.add_argument("--model", help="checkpoint to score (default: the shipped model)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    loso = parser.add_argument_group("leave-one-system-out")
    loso.add_argument("--loso", action="store_true", help="train without each system in turn and score it")
    loso.add_argument("--out", type=Path, help="folder for the folds' models and results (needed with --loso)")
    loso.add_argument("--systems", help="comma-separated folds to run (default: every system in the data)")
    loso.add_argument(
        "--minutes-per-system", type=float, default=None, help="training time budget per fold (default: the trainer's)"
    )
    loso.add_argument(
        "--synthetic-lines", type=int, default=None, help="generated training lines per fold (default: the trainer's)"
    )
    loso.add_argument("--seed", type=int, default=None, help="training seed (default: the trainer's)")
    loso.add_argument(
        "--seeds",
        help="comma-separated training seeds: the folds of each in OUT/seed-N, and a table of every seed's "
        "overall figures with their mean and range (OUT/seeds.md)",
    )
    loso.add_argument(
        "--rescore",
        action="store_true",
        help="score every done fold's saved model again with this version's code (scores, baselines, stream "
        "groups) and rewrite its result, training nothing",
    )
    add_tuning_arguments(loso, defaults=False)


def needs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The optional modules (and their extras) this run needs: Drain3 for the baselines, and
    matplotlib for the training curves of ``--loso``'s folds."""
    return [("drain3", "bench")] + ([("matplotlib", "train")] if args.loso else [])


def run(args: argparse.Namespace) -> int:
    """Runs ``logdelim eval``; returns the exit status."""
    problem = device_error(args.device)
    if problem is not None:
        sys.stderr.write(f"logdelim eval: {problem}\n")
        return 2
    if args.rescore and not args.loso:
        sys.stderr.write("logdelim eval: --rescore scores the folds of --loso\n")
        return 2
    if args.loso:
        if args.model:
            sys.stderr.write("logdelim eval: --loso trains its own models; --model does not apply\n")
            return 2
        if args.out is None:
            sys.stderr.write("logdelim eval: --loso needs --out DIR\n")
            return 2
        systems = [s for s in (args.systems or "").split(",") if s] or None
        try:
            seeds = [int(s) for s in (args.seeds or "").split(",") if s]
        except ValueError:
            sys.stderr.write(f"logdelim eval: --seeds takes comma-separated integers, not {args.seeds!r}\n")
            return 2
        if seeds and args.seed is not None:
            sys.stderr.write("logdelim eval: give --seed or --seeds, not both\n")
            return 2
        tables = {}
        try:
            for seed in seeds or [args.seed]:
                data = tables[seed] = run_loso(
                    args.data,
                    seed_dir(args.out, seed) if seeds else args.out,
                    systems=systems,
                    max_minutes=args.minutes_per_system,
                    synthetic_lines=args.synthetic_lines,
                    seed=seed,
                    device=args.device,
                    num_threads=args.threads,
                    tuning=tuning_overrides(args),
                    rescore=args.rescore,
                )
        except ValueError as error:
            sys.stderr.write(f"logdelim eval: {error}\n")
            return 2
        if seeds:
            if systems:
                # Seeds compare on the folds asked for (the corpus programs beside Loghub's systems,
                # say), each seed's table pooling those alone.
                tables = {seed: loso_table(seed_dir(args.out, seed), systems, write=False) for seed in tables}
            summary = seeds_table(args.out, tables)
            sys.stdout.write((json.dumps(summary, indent=2) if args.json else seeds_markdown(summary)) + "\n")
            return 0
        text = json.dumps(data, indent=2) if args.json else loso_markdown(data) if data["systems"] else "no folds done"
        sys.stdout.write(text + "\n")
        return 0
    engine = Engine.load(args.model, device=args.device, num_threads=args.threads)
    examples = [example for path in args.data for example in load_examples(path)]
    data = {
        "model_id": engine.model_id,
        "device": engine.device,
        "data": [str(p) for p in args.data],
        **evaluate(engine, examples).to_dict(),
    }
    sys.stdout.write((json.dumps(data, indent=2) if args.json else format_text(data)) + "\n")
    return 0
