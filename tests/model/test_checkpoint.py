"""Checkpoints round-trip and load with weights_only=True."""
from __future__ import annotations

import pickle

import pytest
import torch

from logdelim.model import checkpoint
from logdelim.model.tagger import CharTagger, TaggerConfig
from logdelim.model.vocab import CharVocab


def test_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    model = CharTagger(TaggerConfig(vocab_size=110, num_labels=3, hidden_size=8)).eval()
    vocab = CharVocab.from_lines(["hello wörld"])
    path = tmp_path / "m.pt"
    model_id = checkpoint.save(path, model, vocab, ["O", "B-X", "I-X"], delimiter_rules=False)
    loaded = checkpoint.load(path)
    assert loaded.model_id == model_id == checkpoint.model_id_of(loaded.model)
    assert loaded.labels == ["O", "B-X", "I-X"] and loaded.delimiter_rules is False
    assert loaded.vocab.chars == vocab.chars
    assert loaded.model.config == model.config
    ids = torch.tensor([vocab.encode("hello")])
    with torch.no_grad():
        assert torch.equal(loaded.model(ids, torch.tensor([5])), model(ids, torch.tensor([5])))


def test_arbitrary_pickles_are_refused(tmp_path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"format_version": 1, "payload": Evil()}))
    with pytest.raises(pickle.UnpicklingError):
        checkpoint.load(path)


def test_shipped_model_loads_and_is_small() -> None:
    assert checkpoint.DEFAULT_PATH.stat().st_size <= 5 * 1024 * 1024
    loaded = checkpoint.load()
    assert loaded.labels == ["O", "D"] and loaded.delimiter_rules
    assert loaded.model_id.startswith("charbilstm-")
