"""Training: outputs, determinism, other label alphabets."""

from __future__ import annotations

import json
import random

from logdelim.model import checkpoint
from logdelim.model.engine import Engine
from logdelim.model.train import TrainConfig, train


def test_outputs_of_a_run(toy_checkpoint) -> None:
    out = toy_checkpoint.parent
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best"]["dev_accuracy"] >= 0.95
    assert metrics["history"] and metrics["labels"] == ["O", "D"]
    assert metrics["kinds"] == ["F", "C", "V"] and metrics["best"]["dev_kind_accuracy"] >= 0.8
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"


def _char_entities(tmp_path):
    """Character-level entity tags, as in a CoNLL-style tutorial: ORG names after 'at', PER after 'by'."""
    rng = random.Random(5)
    rows = []
    for _ in range(400):
        verb = rng.choice(["made", "sold", "seen", "built", "fixed"])
        per = rng.choice(["Ann", "Bob", "Eve", "Kim", "Luis", "Mia", "Olga"])
        org = rng.choice(["Acme", "Initech", "Globex", "Umbrella", "Hooli", "Vandelay"])
        line = f"{verb} by {per} at {org}"
        labels = (
            ["O"] * (len(verb) + 4)
            + ["B-PER"]
            + ["I-PER"] * (len(per) - 1)
            + ["O"] * 4
            + ["B-ORG"]
            + ["I-ORG"] * (len(org) - 1)
        )
        rows.append({"system": "toy", "line": line, "labels": labels})
    path = tmp_path / "ents.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, rows


def test_multi_class_alphabet(tmp_path) -> None:
    path, rows = _char_entities(tmp_path)
    result = train(
        TrainConfig(
            data=(str(path),),
            out_dir=str(tmp_path / "m"),
            max_minutes=0.5,
            max_epochs=40,
            hidden_size=16,
            embedding_dim=16,
            num_threads=1,
        )
    )
    ckpt = checkpoint.load(result["checkpoint"])
    assert ckpt.labels == ["O", "B-ORG", "B-PER", "I-ORG", "I-PER"] and not ckpt.delimiter_rules
    tagged = Engine.load(result["checkpoint"], device="cpu").tag([rows[0]["line"], rows[1]["line"]])
    assert tagged[0].labels == rows[0]["labels"]
    assert tagged[1].labels == rows[1]["labels"]


def test_deterministic_for_a_seed(tmp_path) -> None:
    path, _ = _char_entities(tmp_path)
    cfg = TrainConfig(
        data=(str(path),), max_minutes=5, max_epochs=2, hidden_size=8, embedding_dim=8, num_threads=1, seed=3
    )
    first = train(TrainConfig(**{**cfg.__dict__, "out_dir": str(tmp_path / "a")}))
    second = train(TrainConfig(**{**cfg.__dict__, "out_dir": str(tmp_path / "b")}))
    assert first["model_id"] == second["model_id"]


def test_zero_epochs_is_a_clear_error(tmp_path) -> None:
    import pytest

    with pytest.raises(ValueError, match="max_epochs"):
        train(TrainConfig(out_dir=str(tmp_path), max_epochs=0, synthetic_lines=10))
    from logdelim.daemon.cli import main

    assert main(["train", "--epochs", "0", "--out", str(tmp_path)]) == 2
