"""Labelled lines in the spec's JSON Lines format, and the train/dev split."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from .vocab import cache_key

# Where the shared Loghub labels live: beside the repository (``../shared``), unless overridden.
LOGHUB_LABELS_ENV = "LOGDELIM_LOGHUB_LABELS"
_DEFAULT_LOGHUB_LABELS = Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub" / "labels"


def loghub_label_dir() -> Path:
    """``$LOGDELIM_LOGHUB_LABELS`` when set, else ``../shared/data/loghub/labels`` beside the repository."""
    return Path(os.environ.get(LOGHUB_LABELS_ENV) or _DEFAULT_LOGHUB_LABELS)


def loghub_label_files() -> list[Path]:
    """The shared Loghub labelled files, sorted by system name; empty when the data is absent."""
    folder = loghub_label_dir()
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def load_jsonl(path: str | Path) -> list[dict]:
    """Examples ``{"system", "line", "labels"}`` of a labelled file, checked against the spec.

    ``labels`` is a string of ``O``/``D`` or a list of label names; either way it
    has one entry per character of ``line``.
    """
    examples = []
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            if not text.strip():
                continue
            example = json.loads(text)
            line, labels = example.get("line"), example.get("labels")
            if not isinstance(line, str) or not isinstance(labels, (str, list)) or len(labels) != len(line):
                raise ValueError(f"{path}:{number}: needs a 'line' and one label per character")
            example.setdefault("system", Path(path).stem)
            examples.append(example)
    return examples


def label_alphabet(examples: list[dict]) -> list[str]:
    """The labels used by the examples, ``O`` first (``["O", "D"]`` for delimiter data)."""
    names = {label for example in examples for label in example["labels"]}
    if names <= {"O", "D"}:
        return ["O", "D"]
    return ["O", *sorted(names - {"O"})] if "O" in names else sorted(names)


def dedupe(examples: list[dict]) -> list[dict]:
    """One example per distinct (network input, labels, kinds): Loghub repeats a few hundred shapes."""
    seen: set[tuple[str | bytes, str, str]] = set()
    out = []
    for example in examples:
        key = (cache_key(example["line"]), str(example["labels"]), str(example.get("kinds")))
        if key not in seen:
            seen.add(key)
            out.append(example)
    return out


def split(examples: list[dict], dev_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """A reproducible random train/dev split."""
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    n_dev = max(1, int(len(shuffled) * dev_fraction)) if len(shuffled) > 1 else 0
    return shuffled[n_dev:], shuffled[:n_dev]
