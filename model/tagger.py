"""The network: character embedding, a 1-D convolution, a BiLSTM and a linear head.

The convolution gives each character its immediate neighbourhood cheaply; the
BiLSTM carries context along the line. The two LSTM directions run as two
unidirectional LSTMs, the backward one on each sequence reversed within its own
length, so a character's output never depends on the padding of its batch: the
same line gives the same logits alone, in any batch, cached or not.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TaggerConfig:
    """Shape of the network; stored in every checkpoint."""

    vocab_size: int
    num_labels: int = 2
    embedding_dim: int = 32
    conv_channels: int = 32
    conv_kernel: int = 5
    hidden_size: int = 32
    dropout: float = 0.2


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of a right-padded batch ``[B, T, F]`` within its length; padding stays put."""
    batch, steps = x.shape[0], x.shape[1]
    positions = torch.arange(steps, device=x.device).unsqueeze(0)
    index = lengths.unsqueeze(1) - 1 - positions
    index = torch.where(index >= 0, index, positions)
    # One row copy per position (index_select on [B*T, F]) is several times cheaper
    # than an element-wise gather with an index expanded over F.
    flat = (index + torch.arange(batch, device=x.device).unsqueeze(1) * steps).reshape(-1)
    return x.reshape(batch * steps, -1).index_select(0, flat).view_as(x)


class CharTagger(nn.Module):
    """Labels every character of right-padded id sequences."""

    def __init__(self, config: TaggerConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=0)
        self.conv = nn.Conv1d(c.embedding_dim, c.conv_channels, c.conv_kernel, padding=c.conv_kernel // 2)
        self.dropout = nn.Dropout(c.dropout)
        lstm_in = c.embedding_dim + c.conv_channels
        self.forward_lstm = nn.LSTM(lstm_in, c.hidden_size, batch_first=True)
        self.backward_lstm = nn.LSTM(lstm_in, c.hidden_size, batch_first=True)
        self.head = nn.Linear(2 * c.hidden_size, c.num_labels)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, T, num_labels]`` for ids ``[B, T]`` (0 = padding) of the given lengths."""
        emb = self.embedding(ids)
        conv = torch.relu(self.conv(emb.transpose(1, 2))).transpose(1, 2)
        # Zero the convolution's output on padding so the backward LSTM, which sees
        # a sequence's padding only after its last real step, gets the same input
        # whatever the batch's width.
        mask = (ids != 0).unsqueeze(-1)
        x = self.dropout(torch.cat([emb, conv * mask], dim=-1))
        fwd, _ = self.forward_lstm(x)
        bwd, _ = self.backward_lstm(reverse_padded(x, lengths))
        # head(cat([fwd, bwd])) without materialising the concatenation.
        hidden = self.config.hidden_size
        weight, bias = self.head.weight, self.head.bias
        fwd_logits = nn.functional.linear(self.dropout(fwd), weight[:, :hidden], bias)
        bwd_logits = nn.functional.linear(self.dropout(bwd), weight[:, hidden:])
        return fwd_logits + reverse_padded(bwd_logits, lengths)
