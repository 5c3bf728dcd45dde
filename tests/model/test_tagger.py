"""The network: outputs follow its weights even where it keeps derived tables between calls."""

from __future__ import annotations

import pytest
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


def test_a_line_gets_the_same_logits_alone_as_in_a_padded_batch_at_every_depth() -> None:
    for layers in (1, 2):
        torch.manual_seed(layers)
        config = TaggerConfig(vocab_size=20, num_kinds=3, embedding_dim=8, hidden_size=6, num_layers=layers)
        model = CharTagger(config).eval()
        lengths = torch.tensor([12, 7, 3])
        ids = torch.randint(1, 20, (3, 12)) * (torch.arange(12) < lengths.unsqueeze(1))
        with torch.inference_mode():
            batch = model(ids, lengths)
            for i, length in enumerate(lengths.tolist()):
                alone = model(ids[i : i + 1, :length], lengths[i : i + 1])
                assert torch.allclose(alone[0], batch[i, :length], atol=1e-6)
    # One layer keeps the parameters (and checkpoint keys) of the one-layer network.
    one = CharTagger(TaggerConfig(vocab_size=20, embedding_dim=8, hidden_size=6))
    assert not any(key.startswith("upper_") for key in one.state_dict())
    two = CharTagger(TaggerConfig(vocab_size=20, embedding_dim=8, hidden_size=6, num_layers=2))
    assert sum(p.numel() for p in two.parameters()) > sum(p.numel() for p in one.parameters())
    with pytest.raises(ValueError, match="num_layers"):
        CharTagger(TaggerConfig(vocab_size=20, num_layers=0))
