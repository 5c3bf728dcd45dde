"""Checkpoints round-trip and load with weights_only=True."""

from __future__ import annotations

import pickle

import pytest
import torch

from logdelim.model import checkpoint
from logdelim.model.tagger import CharTagger, TaggerConfig
from logdelim.model.vocab import CharVocab


@pytest.mark.parametrize("layers", [1, 2])
def test_round_trip(tmp_path, layers: int) -> None:
    torch.manual_seed(0)
    model = CharTagger(TaggerConfig(vocab_size=110, num_labels=3, hidden_size=8, num_layers=layers)).eval()
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


def test_kind_head_round_trips_and_version_2_loads_without_kinds(tmp_path) -> None:
    model = CharTagger(TaggerConfig(vocab_size=110, num_kinds=3, hidden_size=8)).eval()
    vocab = CharVocab.from_lines(["x"])
    path = tmp_path / "k.pt"
    checkpoint.save(path, model, vocab, ["O", "D"], delimiter_rules=True, kinds=["F", "C", "V"])
    loaded = checkpoint.load(path)
    assert loaded.kinds == ["F", "C", "V"] and loaded.model.config.num_kinds == 3
    with torch.no_grad():
        assert loaded.model(torch.tensor([vocab.encode("xy")]), torch.tensor([2])).shape == (1, 2, 5)
    # A version-2 file (before kinds) still loads, with no kind head.
    blob = torch.load(path, weights_only=True)
    old = CharTagger(TaggerConfig(vocab_size=110, hidden_size=8))
    blob.update(
        format_version=2,
        config={k: v for k, v in blob["config"].items() if k != "num_kinds"},
        state_dict=old.state_dict(),
    )
    del blob["kinds"]
    torch.save(blob, tmp_path / "v2.pt")
    assert checkpoint.load(tmp_path / "v2.pt").kinds == []


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
    assert loaded.kinds == ["F", "C", "V"]
    assert loaded.model_id.startswith("charbilstm-")
