"""The network: outputs follow its weights even where it keeps derived tables between calls."""

from __future__ import annotations

import torch

from logdelim.model.tagger import CharTagger, TaggerConfig


def test_kept_convolution_tables_follow_in_place_weight_updates() -> None:
    torch.manual_seed(0)
    model = CharTagger(TaggerConfig(vocab_size=20, embedding_dim=8, hidden_size=6)).eval()
    ids = torch.randint(1, 20, (3, 11))
    lengths = torch.tensor([11, 7, 3])
    with torch.inference_mode():
        before = model(ids, lengths)
        assert torch.equal(model(ids, lengths), before)  # kept tables: the same result
    with torch.no_grad():  # an optimiser step or load_state_dict updates weights in place
        model.conv.weight.mul_(2.0)
        model.embedding.weight.add_(0.5)
    fresh = CharTagger(model.config).eval()
    fresh.load_state_dict(model.state_dict())
    with torch.inference_mode():
        after = model(ids, lengths)
        assert not torch.allclose(after, before)
        assert torch.allclose(after, fresh(ids, lengths))


def test_training_gets_gradients_through_the_convolution_tables() -> None:
    model = CharTagger(TaggerConfig(vocab_size=20, embedding_dim=8, hidden_size=6)).train()
    model(torch.randint(1, 20, (2, 5)), torch.tensor([5, 4])).sum().backward()
    assert model.conv.weight.grad is not None and model.conv.weight.grad.abs().sum() > 0
