"""Fixtures for the model tests: toy lines and a tiny trained checkpoint (Loghub files: tests/conftest.py)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from logdelim.model.train import TrainConfig, train


def toy_line(rng: random.Random) -> dict:
    """A toy rule: ':' after a key word is a delimiter, ':' between digits is not; the key and
    ``ok`` are constant text, the value a variable."""
    key = rng.choice(["time", "port", "at", "elapsed", "id"])
    value = ":".join(str(rng.randrange(100)) for _ in range(rng.randrange(1, 4)))
    line = f"{key}: {value} ok"
    labels = "O" * len(key) + "DD" + "O" * len(value) + "D" + "OO"
    kinds = "C" * len(key) + "DD" + "V" * len(value) + "D" + "CC"
    return {"system": "toy", "line": line, "labels": labels, "kinds": kinds}


@pytest.fixture(scope="session", name="toy_line")
def toy_line_fixture():
    """The toy-rule line generator, for tests that need fresh toy lines."""
    return toy_line


@pytest.fixture(scope="session")
def toy_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tagger trained for a few seconds on the toy rule."""
    rng = random.Random(1)
    data = tmp_path_factory.mktemp("toy") / "toy.jsonl"
    import json

    data.write_text("".join(json.dumps(toy_line(rng)) + "\n" for _ in range(600)))
    out = tmp_path_factory.mktemp("toy-model")
    train(
        TrainConfig(
            data=(str(data),),
            out_dir=str(out),
            synthetic_lines=0,
            max_minutes=0.3,
            max_epochs=8,
            hidden_size=16,
            embedding_dim=16,
            seed=0,
            num_threads=1,
        )
    )
    return out / "model.pt"
