"""Training: labelled JSONL plus synthetic lines in, the best checkpoint out.

Loghub repeats a few hundred line shapes per system, so the real data is
deduplicated on what the network sees and mixed with generated lines that carry
the formats and values Loghub lacks. For the O/D alphabet the loss covers only
punctuation, the one decision the spec leaves open (whitespace is always D,
alphanumerics always O); other alphabets are learned on every character. When
every line carries ``kinds``, the same network also learns each non-delimiter
character's kind (header field, constant text, variable) in a second loss.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import checkpoint
from .charclass import is_punctuation
from .data import dedupe, label_alphabet, load_jsonl, split
from .devices import device_error
from .engine import keep_freed_memory, resolve_device
from .extras import missing, require
from .tagger import CharTagger, TaggerConfig
from .templates import KINDS
from .vocab import CharVocab, shape, shape_labels

log = logging.getLogger(__name__)
IGNORE = -100


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; saved in its metrics JSON."""

    data: tuple[str, ...] = ()
    out_dir: str = "runs/train"
    exclude_systems: tuple[str, ...] = ()
    synthetic_lines: int = 10_000
    # A safety cap: a run stopped by it depends on the machine's speed, one that ends
    # by max_epochs or early stopping does not.
    max_minutes: float = 30.0
    max_epochs: int = 15
    patience: int = 5
    batch_size: int = 64
    learning_rate: float = 3e-3
    dev_fraction: float = 0.1
    max_train_chars: int = 256
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = None
    embedding_dim: int = 32
    hidden_size: int = 24
    num_layers: int = 1
    dropout: float = 0.2
    # Weight of the kind loss beside the delimiter loss.
    kind_loss_weight: float = 0.75


def supervised(line: str, delimiter_rules: bool) -> list[bool]:
    """Which characters the network is trained (and trusted) on."""
    if not delimiter_rules:
        return [True] * len(line)
    return [is_punctuation(c) for c in line]


Encoded = tuple[list[int], list[int], list[int]]
"""A training line: ids, label targets, kind targets (``IGNORE`` where not learned)."""
_KIND_IDS = {kind: i for i, kind in enumerate(KINDS)}


def _encode(example: dict, vocab: CharVocab, label_ids: dict[str, int], rules: bool) -> Encoded:
    line = example["line"]
    targets = [label_ids[label] if keep else IGNORE for label, keep in zip(example["labels"], supervised(line, rules))]
    # A delimiter has no kind: only the other characters' kinds are learned.
    kinds = [_KIND_IDS.get(kind, IGNORE) for kind in example.get("kinds") or "D" * len(line)]
    return vocab.encode(line), targets, kinds


def _crop(encoded: Encoded, max_chars: int, rng: random.Random) -> Encoded:
    ids, targets, kinds = encoded
    if len(ids) <= max_chars:
        return encoded
    start = rng.randrange(len(ids) - max_chars + 1)
    end = start + max_chars
    return ids[start:end], targets[start:end], kinds[start:end]


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
"""ids, lengths, label targets, kind targets."""


def _batches(encoded: list[Encoded], batch_size: int, rng: random.Random | None, max_chars: int) -> list[Batch]:
    """Length-bucketed, right-padded batches; shuffled when ``rng`` is given."""
    order = list(range(len(encoded)))
    if rng is not None:
        rng.shuffle(order)
    out = []
    pool = batch_size * 50
    for i in range(0, len(order), pool):
        chunk = [encoded[j] for j in order[i : i + pool]]
        if rng is not None:
            chunk = [_crop(e, max_chars, rng) for e in chunk]
        chunk.sort(key=lambda e: len(e[0]))
        for k in range(0, len(chunk), batch_size):
            group = chunk[k : k + batch_size]
            width = max(1, max(len(e[0]) for e in group))
            ids = torch.zeros(len(group), width, dtype=torch.long)
            targets = torch.full((len(group), width), IGNORE, dtype=torch.long)
            kinds = torch.full((len(group), width), IGNORE, dtype=torch.long)
            for row, (x, y, z) in enumerate(group):
                ids[row, : len(x)] = torch.tensor(x, dtype=torch.long)
                targets[row, : len(y)] = torch.tensor(y, dtype=torch.long)
                kinds[row, : len(z)] = torch.tensor(z, dtype=torch.long)
            lengths = torch.tensor([max(1, len(e[0])) for e in group])
            out.append((ids, lengths, targets, kinds))
    if rng is not None:
        rng.shuffle(out)
    return out


def _class_weights(encoded: list[Encoded], num_labels: int, column: int = 1) -> torch.Tensor:
    """Inverse-frequency weights, square-root damped, so rare labels count without swamping the loss."""
    counts = torch.ones(num_labels)
    for example in encoded:
        for t in example[column]:
            if t != IGNORE:
                counts[t] += 1
    weights = (counts.sum() / counts).sqrt()
    return weights / weights.mean()


class _Loss:
    """The training loss: the labels' cross-entropy plus, with a kind head, the kinds' (weighted)."""

    def __init__(
        self, num_labels: int, label_weights: torch.Tensor, kind_weights: torch.Tensor | None, kind_loss_weight: float
    ) -> None:
        self.num_labels = num_labels
        self.labels = nn.CrossEntropyLoss(weight=label_weights, ignore_index=IGNORE)
        self.kinds = None if kind_weights is None else nn.CrossEntropyLoss(weight=kind_weights, ignore_index=IGNORE)
        self.kind_loss_weight = kind_loss_weight

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, kinds: torch.Tensor) -> torch.Tensor:
        loss = self.labels(logits[..., : self.num_labels].flatten(0, 1), targets.flatten())
        if self.kinds is not None and bool((kinds != IGNORE).any()):
            loss = loss + self.kind_loss_weight * self.kinds(
                logits[..., self.num_labels :].flatten(0, 1), kinds.flatten()
            )
        return loss


def _evaluate(model: CharTagger, batches: list[Batch], loss_fn: _Loss, device: torch.device) -> dict[str, float]:
    """Development scores: accuracy of the decided labels, of the kinds, and lines with both all right."""
    model.eval()
    total_loss, lines_ok, lines = 0.0, 0, 0
    correct = {"labels": 0, "kinds": 0}
    counted = {"labels": 0, "kinds": 0}
    with torch.no_grad():
        for ids, lengths, targets, kinds in batches:
            ids, targets, kinds = ids.to(device), targets.to(device), kinds.to(device)
            logits = model(ids, lengths.to(device))
            total_loss += loss_fn(logits, targets, kinds).item() * ids.shape[0]
            line_ok = torch.ones(ids.shape[0], dtype=torch.bool, device=device)
            heads = [("labels", logits[..., : loss_fn.num_labels], targets)]
            if loss_fn.kinds is not None:
                heads.append(("kinds", logits[..., loss_fn.num_labels :], kinds))
            for name, scores, gold in heads:
                keep = gold != IGNORE
                hit = (scores.argmax(-1) == gold) | ~keep
                correct[name] += int((hit & keep).sum())
                counted[name] += int(keep.sum())
                line_ok &= hit.all(dim=1)
            lines_ok += int(line_ok.sum())
            lines += ids.shape[0]
    model.train()
    return {
        "loss": total_loss / max(1, lines),
        "accuracy": correct["labels"] / max(1, counted["labels"]),
        "kind_accuracy": correct["kinds"] / max(1, counted["kinds"]),
        "exact_lines": lines_ok / max(1, lines),
    }


def _plot(history: list[dict], path: Path) -> None:
    # Imported here: matplotlib is in the train extra, not in the core install.
    require("matplotlib", "train").use("Agg")
    plt = require("matplotlib.pyplot", "train")

    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [h["train_loss"] for h in history], label="train")
    left.plot(epochs, [h["dev_loss"] for h in history], label="dev")
    left.set(xlabel="epoch", ylabel="loss", title="loss")
    left.legend()
    right.plot(epochs, [h["dev_accuracy"] for h in history], label="dev accuracy (decided chars)")
    if any(h.get("dev_kind_accuracy") for h in history):
        right.plot(epochs, [h["dev_kind_accuracy"] for h in history], label="dev kind accuracy")
    right.plot(epochs, [h["dev_exact_lines"] for h in history], label="dev exact lines")
    right.set(xlabel="epoch", title="validation")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def load_examples(cfg: TrainConfig) -> list[dict]:
    """The labelled lines of ``cfg.data`` minus excluded systems, plus generated ones."""
    examples = [e for path in cfg.data for e in load_jsonl(path) if e["system"] not in cfg.exclude_systems]
    if cfg.synthetic_lines and (not examples or label_alphabet(examples) == ["O", "D"]):
        from .synth import generate

        examples += generate(cfg.synthetic_lines, seed=cfg.seed)
    if not examples:
        raise ValueError("no training data: give --data files or synthetic lines")
    return examples


def train(cfg: TrainConfig) -> dict:
    """Train a tagger; writes ``model.pt``, ``metrics.json`` and ``curves.png`` into ``cfg.out_dir``.

    Raises:
        ValueError: ``max_epochs`` is below 1.
        MissingExtraError: matplotlib (the train extra, for ``curves.png``) is not installed;
            raised before training rather than after it.
    """
    if cfg.max_epochs < 1:
        raise ValueError(f"max_epochs must be at least 1, got {cfg.max_epochs}")
    absent = missing([("matplotlib", "train")])
    if absent is not None:
        raise absent
    started = time.monotonic()
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    device = resolve_device(cfg.device)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    if device.type == "cpu":
        keep_freed_memory()

    examples = load_examples(cfg)
    labels = label_alphabet(examples)
    rules = labels == ["O", "D"]
    # Kinds are learned when the data has them (lines without kinds then teach labels only).
    kinds = list(KINDS) if rules and any(e.get("kinds") for e in examples) else []
    if rules:
        # A delimiter tagger's network sees line shapes (vocab.shape), in training as in the engine.
        examples = [
            {
                **e,
                "line": shape(e["line"]),
                "labels": shape_labels(e["line"], e["labels"]),
                "kinds": shape_labels(e["line"], e["kinds"]) if e.get("kinds") else None,
            }
            for e in examples
        ]
    examples = dedupe(examples)
    train_set, dev_set = split(examples, cfg.dev_fraction, cfg.seed)
    vocab = CharVocab.from_lines((e["line"] for e in train_set), min_count=2)
    label_ids = {name: i for i, name in enumerate(labels)}
    train_enc = [_encode(e, vocab, label_ids, rules) for e in train_set]
    dev_batches = _batches([_encode(e, vocab, label_ids, rules) for e in dev_set], 256, None, cfg.max_train_chars)

    model_cfg = TaggerConfig(
        vocab_size=len(vocab),
        num_labels=len(labels),
        num_kinds=len(kinds),
        embedding_dim=cfg.embedding_dim,
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        dropout=cfg.dropout,
    )
    model = CharTagger(model_cfg).to(device)
    kind_weights = _class_weights(train_enc, len(kinds), column=2).to(device) if kinds else None
    loss_fn = _Loss(len(labels), _class_weights(train_enc, len(labels)).to(device), kind_weights, cfg.kind_loss_weight)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=1e-4)
    rng = random.Random(cfg.seed)
    deadline = started + cfg.max_minutes * 60
    history: list[dict] = []
    best: dict | None = None
    best_state: dict | None = None
    stale = 0
    log.info(
        "training on %d lines (%d dev), %d labels, vocab %d, device %s",
        len(train_set),
        len(dev_set),
        len(labels),
        len(vocab),
        device,
    )
    for epoch in range(1, cfg.max_epochs + 1):
        batches = _batches(train_enc, cfg.batch_size, rng, cfg.max_train_chars)
        total, seen = 0.0, 0
        steps_per_epoch = len(batches)
        for step, (ids, lengths, targets, kind_targets) in enumerate(batches):
            # Cosine decay over the epoch budget, counted in steps rather than time, so
            # a run that ends by epochs or early stopping is reproducible for a seed.
            progress = min(1.0, ((epoch - 1) * steps_per_epoch + step) / (cfg.max_epochs * steps_per_epoch))
            for group in optimizer.param_groups:
                group["lr"] = cfg.learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
            ids, targets, kind_targets = ids.to(device), targets.to(device), kind_targets.to(device)
            logits = model(ids, lengths.to(device))
            loss = loss_fn(logits, targets, kind_targets)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            total += loss.item() * ids.shape[0]
            seen += ids.shape[0]
            if time.monotonic() > deadline and step < steps_per_epoch - 1:
                break
        dev = _evaluate(model, dev_batches, loss_fn, device)
        record = {
            "epoch": epoch,
            "train_loss": total / max(1, seen),
            "dev_loss": dev["loss"],
            "dev_accuracy": dev["accuracy"],
            "dev_kind_accuracy": dev["kind_accuracy"],
            "dev_exact_lines": dev["exact_lines"],
            "seconds": round(time.monotonic() - started, 1),
        }
        history.append(record)
        log.info("epoch %d: %s", epoch, json.dumps(record))
        # Delimiters and kinds count alike: a kind head must not be bought with delimiter errors.
        score = dev["accuracy"] + dev["kind_accuracy"]
        if best is None or (score, -dev["loss"]) > (
            best["dev_accuracy"] + best["dev_kind_accuracy"],
            -best["dev_loss"],
        ):
            best, stale = record, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        if stale >= cfg.patience or time.monotonic() > deadline:
            break

    assert best_state is not None  # max_epochs >= 1: at least one epoch was scored
    model.load_state_dict(best_state)
    model = model.cpu().eval()
    model_id = checkpoint.save(out_dir / "model.pt", model, vocab, labels, rules, kinds)
    metrics = {
        "model_id": model_id,
        "best": best,
        "history": history,
        "labels": labels,
        "kinds": kinds,
        "train_lines": len(train_set),
        "dev_lines": len(dev_set),
        "vocab_size": len(vocab),
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": str(device),
        "config": asdict(cfg),
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    _plot(history, out_dir / "curves.png")
    return {**metrics, "checkpoint": str(out_dir / "model.pt")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logdelim train``; defaults come from ``TrainConfig``."""
    d = TrainConfig()
    parser.add_argument("--data", nargs="*", default=[], help="labelled JSONL files (spec format)")
    parser.add_argument("--out", default=d.out_dir, help="output folder for model.pt, metrics.json, curves.png")
    parser.add_argument("--exclude", default="", help="comma-separated systems to leave out")
    parser.add_argument("--synthetic-lines", type=int, default=d.synthetic_lines)
    parser.add_argument("--minutes", type=float, default=d.max_minutes, help="time budget")
    parser.add_argument("--epochs", type=int, default=d.max_epochs)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--device", default=d.device, help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    add_tuning_arguments(parser)


TUNING_FIELDS = (
    "batch_size",
    "learning_rate",
    "embedding_dim",
    "hidden_size",
    "num_layers",
    "dropout",
    "patience",
    "max_train_chars",
    "dev_fraction",
    "kind_loss_weight",
)
"""``TrainConfig`` fields that ``logdelim train`` and ``logdelim eval --loso`` both take as options."""


def add_tuning_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, defaults: bool = True) -> None:
    """Adds one ``--option`` per :data:`TUNING_FIELDS` entry.

    Args:
        parser: where to add them.
        defaults: ``TrainConfig``'s defaults; False leaves them None, so a caller can tell an option
            given from one left out (``eval --loso`` keeps the trainer's value then).
    """
    for f in fields(TrainConfig):
        if f.name in TUNING_FIELDS:
            default = f.default if defaults else None
            parser.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=default)


def tuning_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The :data:`TUNING_FIELDS` options given on the command line (those not None)."""
    return {name: getattr(args, name) for name in TUNING_FIELDS if getattr(args, name) is not None}


def needs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The optional modules (and their extras) ``logdelim train`` needs: matplotlib for ``curves.png``."""
    return [("matplotlib", "train")]


def run(args: argparse.Namespace) -> int:
    """``logdelim train``: prints the metrics summary as JSON (exit 2 on a bad option)."""
    if args.epochs < 1:
        log.error("--epochs must be at least 1, got %d", args.epochs)
        return 2
    problem = device_error(args.device)
    if problem is not None:
        log.error("%s", problem)
        return 2
    cfg = TrainConfig(
        data=tuple(args.data),
        out_dir=args.out,
        exclude_systems=tuple(s for s in args.exclude.split(",") if s),
        synthetic_lines=args.synthetic_lines,
        max_minutes=args.minutes,
        max_epochs=args.epochs,
        seed=args.seed,
        device=args.device,
        num_threads=args.threads,
    )
    cfg = replace(cfg, **tuning_overrides(args))
    result = train(cfg)
    import sys

    sys.stdout.write(json.dumps({k: result[k] for k in ("checkpoint", "model_id", "best", "parameters")}) + "\n")
    return 0
