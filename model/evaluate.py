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
  (``--systems``).

Scores follow ``shared/spec/labels.md`` (see ``logdelim.model.scores``). The
rule baselines and the four scores apply to the ``O``/``D`` alphabet only; data
with other label alphabets get the per-class report and confusion matrix.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from logdelim.model.annotated import load_annotated
from logdelim.model.baselines import BASELINES
from logdelim.model.data import label_alphabet, load_jsonl
from logdelim.model.engine import Engine
from logdelim.model.scores import Confusion, Scorer, format_confusion, format_report
from logdelim.model.spans import spans_to_labels
from logdelim.model.train import TrainConfig, train

log = logging.getLogger(__name__)

TAGGER = "tagger"
OVERALL = "overall"
# Lines per engine.tag call: large enough for the engine's length bucketing to pay off.
TAG_CHUNK_LINES = 2048
# Display names of the scored systems (JSON keys are the dict keys).
TITLES = {TAGGER: "tagger", "whitespace": "whitespace", "common_separators": "common separators"}
RESULT_FILE = "result.json"


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

    def merge(self, other: Evaluation) -> None:
        """Adds ``other``'s systems (and their counts) to this evaluation."""
        for system, lines in other.lines.items():
            self._system(system)
            self.lines[system] += lines
            self.confusions[system].merge(other.confusions[system])
            for name, scorer in other.scorers[system].items():
                self.scorers[system][name].merge(scorer)

    def pooled(self) -> Evaluation:
        """One system, ``overall``, holding every line of this evaluation."""
        pooled = Evaluation(self.binary)
        pooled._system(OVERALL)
        for system in self.lines:
            pooled.lines[OVERALL] += self.lines[system]
            pooled.confusions[OVERALL].merge(self.confusions[system])
            for name, scorer in self.scorers[system].items():
                pooled.scorers[OVERALL][name].merge(scorer)
        return pooled

    def system_dict(self, system: str) -> dict[str, Any]:
        """One system's scores, per-class report, confusion matrix and raw counts, JSON-ready."""
        confusion = self.confusions[system]
        return {
            "lines": self.lines[system],
            "scores": {name: scorer.result() for name, scorer in self.scorers[system].items()},
            "report": confusion.report(),
            "confusion": confusion.to_dict(),
            "counts": {name: scorer.counts() for name, scorer in self.scorers[system].items()},
        }

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
        return evaluation


def tagger_labels(engine: Engine, lines: Sequence[str], binary: bool) -> list[Sequence[str]]:
    """The tagger's labels of ``lines``.

    For ``O``/``D`` the labels are derived from the predicted token spans, as the
    spec prescribes (what a consumer of the tokens sees is what is scored).
    """
    out: list[Sequence[str]] = []
    for start in range(0, len(lines), TAG_CHUNK_LINES):
        for result in engine.tag(lines[start:start + TAG_CHUNK_LINES]):
            out.append(spans_to_labels(len(result.line), result.tokens) if binary else result.labels)
    return out


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
    """Tags every example's line and scores it, with the baselines, per system."""
    binary = label_alphabet(list(examples)) == ["O", "D"]
    evaluation = Evaluation(binary)
    for system, group in group_by_system(examples).items():
        lines = [example["line"] for example in group]
        log.info("scoring %s: %d lines", system, len(lines))
        for example, predicted in zip(group, tagger_labels(engine, lines, binary)):
            evaluation.add(system, example["line"], example["labels"], predicted)
    return evaluation


def _score_cell(scores: dict[str, float]) -> str:
    return " / ".join(f"{scores[key]:.3f}" for key in
                      ("delimiter_f1", "punctuation_accuracy", "line_exact_match", "token_f1"))


def markdown_table(data: dict[str, Any], names: Sequence[str] = (TAGGER, *BASELINES),
                   margin_over: str | None = None) -> str:
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
            margin = entry["scores"][TAGGER]["delimiter_f1"] - entry["scores"][margin_over]["delimiter_f1"]
            row.append(f"{margin:+.3f}")
        rows.append(row)
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def format_text(data: dict[str, Any]) -> str:
    """A full evaluation for the terminal: score table, then the tagger's report and confusion matrix."""
    parts = [f"model {data['model_id']} on {data['device']}"]
    if data["binary"]:
        parts += ["", markdown_table(data)]
    overall = data[OVERALL]
    parts += ["", "tagger, per character, all lines:", format_report(overall["report"]),
              "", format_confusion(Confusion.from_dict(overall["confusion"]))]
    return "\n".join(parts)


def run_loso(files: Sequence[str], out_dir: Path, *, systems: Sequence[str] | None = None,
             max_minutes: float | None = None, synthetic_lines: int | None = None, seed: int | None = None,
             device: str = "auto", num_threads: int | None = None) -> dict[str, Any]:
    """Leave-one-system-out: for each system, train without it and score the model on it.

    Args:
        files: labelled JSONL files; every system in them is a fold.
        out_dir: one sub-folder per system (checkpoint, training metrics, ``result.json``)
            plus ``loso.md`` and ``loso.json``.
        systems: only these folds (default: all). Folds whose ``result.json`` exists are skipped.
        max_minutes, synthetic_lines, seed: training budget and data per fold (None: the trainer's default).
        device, num_threads: where to train and tag.

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
    overrides = {"max_minutes": max_minutes, "synthetic_lines": synthetic_lines, "seed": seed}
    base = replace(TrainConfig(data=tuple(str(f) for f in files), device=device, num_threads=num_threads),
                   **{key: value for key, value in overrides.items() if value is not None})
    out_dir.mkdir(parents=True, exist_ok=True)
    for system in systems or by_system:
        fold_dir = out_dir / system
        result_path = fold_dir / RESULT_FILE
        cfg = replace(base, out_dir=str(fold_dir), exclude_systems=(system,))
        if result_path.exists():
            saved = json.loads(result_path.read_text())["train_config"]
            if saved != json.loads(json.dumps(asdict(cfg))):
                # Resuming is the point, but a fold trained under other settings should not pass unnoticed.
                log.warning("leave-one-system-out: %s was trained with other settings (%s); kept, delete it "
                            "to retrain", system, result_path)
            log.info("leave-one-system-out: %s already done (%s), skipped", system, result_path)
            continue
        log.info("leave-one-system-out: training without %s", system)
        trained = train(cfg)
        engine = Engine.load(trained["checkpoint"], device=device, num_threads=num_threads)
        fold = evaluate(engine, by_system[system])
        record = {"system": system, "model_id": engine.model_id, "checkpoint": trained["checkpoint"],
                  "train_config": asdict(cfg), "train_best": trained["best"], **fold.system_dict(system)}
        tmp = result_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2))
        tmp.replace(result_path)  # atomic: a killed run never leaves a half-written result behind
        log.info("leave-one-system-out: %s tagger %s", system, record["scores"][TAGGER])
    return loso_table(out_dir, list(by_system))


def loso_table(out_dir: Path, systems: Sequence[str]) -> dict[str, Any]:
    """Pools the saved fold results of ``systems`` into one table; writes ``loso.json`` and ``loso.md``."""
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
    if pooled.lines:
        (out_dir / "loso.md").write_text(loso_markdown(data) + "\n")
    (out_dir / "loso.json").write_text(json.dumps(data, indent=2))
    return data


def loso_markdown(data: dict[str, Any]) -> str:
    """The leave-one-system-out table: the held-out tagger beside the common-separators rule."""
    text = markdown_table(data, (TAGGER, "common_separators"), margin_over="common_separators")
    if data["missing"]:
        text += f"\n\nNot yet run (not in the overall row): {', '.join(data['missing'])}"
    return text


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
    loso.add_argument("--minutes-per-system", type=float, default=None,
                      help="training time budget per fold (default: the trainer's)")
    loso.add_argument("--synthetic-lines", type=int, default=None,
                      help="generated training lines per fold (default: the trainer's)")
    loso.add_argument("--seed", type=int, default=None, help="training seed (default: the trainer's)")


def run(args: argparse.Namespace) -> int:
    """Runs ``logdelim eval``; returns the exit status."""
    if args.loso:
        if args.model:
            sys.stderr.write("logdelim eval: --loso trains its own models; --model does not apply\n")
            return 2
        if args.out is None:
            sys.stderr.write("logdelim eval: --loso needs --out DIR\n")
            return 2
        systems = [s for s in (args.systems or "").split(",") if s] or None
        try:
            data = run_loso(args.data, args.out, systems=systems, max_minutes=args.minutes_per_system,
                            synthetic_lines=args.synthetic_lines, seed=args.seed, device=args.device,
                            num_threads=args.threads)
        except ValueError as error:
            sys.stderr.write(f"logdelim eval: {error}\n")
            return 2
        text = json.dumps(data, indent=2) if args.json else loso_markdown(data) if data["systems"] else "no folds done"
        sys.stdout.write(text + "\n")
        return 0
    engine = Engine.load(args.model, device=args.device, num_threads=args.threads)
    examples = [example for path in args.data for example in load_examples(path)]
    data = {"model_id": engine.model_id, "device": engine.device, "data": [str(p) for p in args.data],
            **evaluate(engine, examples).to_dict()}
    sys.stdout.write((json.dumps(data, indent=2) if args.json else format_text(data)) + "\n")
    return 0
