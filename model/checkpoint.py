"""Checkpoints: weights plus everything needed to rebuild and trust the tagger.

A checkpoint is a plain dict of tensors, strings, numbers and lists, so it loads
with ``torch.load(..., weights_only=True)``: a file a user hands us is never
unpickled into arbitrary objects.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .tagger import CharTagger, TaggerConfig
from .vocab import CharVocab

# 2: the network's input is the sum of embedding and convolution, and O/D taggers see
# line shapes (vocab.shape); version-1 checkpoints need retraining.
# 3: ``kinds``, the kind alphabet scored after the labels (version 2 loads with none).
FORMAT_VERSION = 3
_READABLE_VERSIONS = (2, 3)
DEFAULT_PATH = Path(__file__).with_name("default.pt")


@dataclass
class Checkpoint:
    """A loaded tagger with its vocabulary, label alphabet and identity."""

    model: CharTagger
    vocab: CharVocab
    labels: list[str]
    model_id: str
    # The kinds the head scores after the labels (``["F", "C", "V"]``); empty without a kind head.
    kinds: list[str]
    # True for the O/D alphabet: whitespace is always D and alphanumerics always O
    # (spec rules 1-3), so only punctuation is left to the network.
    delimiter_rules: bool


def model_id_of(model: CharTagger) -> str:
    """Content hash of the weights: two checkpoints share an id only if they compute the same thing."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return f"charbilstm-{digest.hexdigest()[:10]}"


def save(
    path: str | Path,
    model: CharTagger,
    vocab: CharVocab,
    labels: list[str],
    delimiter_rules: bool,
    kinds: list[str] | None = None,
) -> str:
    """Write a checkpoint; returns its model id."""
    model_id = model_id_of(model)
    torch.save(
        {
            "format_version": FORMAT_VERSION,
            "model_id": model_id,
            "config": asdict(model.config),
            "vocab": vocab.chars,
            "labels": list(labels),
            "kinds": list(kinds or []),
            "delimiter_rules": delimiter_rules,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        },
        path,
    )
    return model_id


def load(path: str | Path | None = None, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint (the shipped default when ``path`` is None) safely."""
    path = DEFAULT_PATH if path is None else Path(path)
    blob = torch.load(path, map_location=map_location, weights_only=True)
    if blob.get("format_version") not in _READABLE_VERSIONS:
        raise ValueError(f"{path}: checkpoint format {blob.get('format_version')!r}, expected {FORMAT_VERSION}")
    model = CharTagger(TaggerConfig(**blob["config"]))
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return Checkpoint(
        model,
        CharVocab(blob["vocab"]),
        list(blob["labels"]),
        blob["model_id"],
        list(blob.get("kinds", [])),
        bool(blob["delimiter_rules"]),
    )
