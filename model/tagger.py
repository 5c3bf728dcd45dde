"""The network: character embedding plus a 1-D convolution over it, a BiLSTM (one layer, or
more stacked) and a linear head.

The head scores every character twice in one pass: its label (``O``/``D``) and,
when the network has a kind head, its kind (``F``/``C``/``V``: header field,
constant text, variable), so templates cost no second network.

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
    # Kinds scored after the labels in the head's output (0: a delimiter-only network).
    num_kinds: int = 0
    embedding_dim: int = 32
    conv_kernel: int = 5
    hidden_size: int = 32
    dropout: float = 0.2
    # BiLSTM layers; each above the first reads both directions of the one below.
    num_layers: int = 1


def reverse_index(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """Row index into a time-major ``[T * B, F]`` view that reverses each sequence within its length.

    Padding positions map to themselves. One row copy per position (``index_select``)
    is several times cheaper than an element-wise gather with an index expanded over F.
    """
    batch = lengths.shape[0]
    positions = torch.arange(steps, device=lengths.device).unsqueeze(1)
    index = lengths.unsqueeze(0) - 1 - positions
    index = torch.where(index >= 0, index, positions)
    return (index * batch + torch.arange(batch, device=lengths.device).unsqueeze(0)).reshape(-1)


def _reorder(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, x.shape[-1]).index_select(0, index).view_as(x)


class CharTagger(nn.Module):
    """Labels every character of right-padded id sequences."""

    def __init__(self, config: TaggerConfig) -> None:
        super().__init__()
        if config.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {config.num_layers}")
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=0)
        # The convolution's output is added to the embedding, not concatenated: the LSTMs'
        # cost grows with their input width (twice the time at 64 inputs than at 32).
        self.conv = nn.Conv1d(c.embedding_dim, c.embedding_dim, c.conv_kernel, padding=c.conv_kernel // 2)
        self.dropout = nn.Dropout(c.dropout)
        self.forward_lstm = nn.LSTM(c.embedding_dim, c.hidden_size)
        self.backward_lstm = nn.LSTM(c.embedding_dim, c.hidden_size)
        # Layers above the first (none by default, so one-layer checkpoints keep their keys).
        self.upper_forward = nn.ModuleList(nn.LSTM(2 * c.hidden_size, c.hidden_size) for _ in range(c.num_layers - 1))
        self.upper_backward = nn.ModuleList(nn.LSTM(2 * c.hidden_size, c.hidden_size) for _ in range(c.num_layers - 1))
        self.head = nn.Linear(2 * c.hidden_size, c.num_labels + c.num_kinds)

    def _convolve(self, ids: torch.Tensor) -> torch.Tensor:
        """``conv`` over the embeddings of time-major ``ids``, as one table lookup per kernel offset.

        The convolution's input is an embedding, so each offset's contribution is a row
        of ``embedding.weight @ conv.weight[:, :, k]``: gathering rows of those small
        tables is four times faster than the convolution on a 2-core CPU. Beyond either
        end of a line the lookup reads the padding id's row, so a line's output does not
        depend on its batch; it is the convolution with zero padding while that row is zero.
        """
        kernel = self.config.conv_kernel
        tables = self._conv_tables()
        padded = nn.functional.pad(ids, (0, 0, kernel // 2, kernel // 2))
        steps = ids.shape[0]
        bias = self.conv.bias
        assert bias is not None  # the convolution is built with a bias
        out = nn.functional.embedding(padded[:steps], tables[0]) + bias
        for k in range(1, kernel):
            out.add_(nn.functional.embedding(padded[k : k + steps], tables[k]))
        return out

    def _conv_tables(self) -> torch.Tensor:
        """``[kernel, vocab, channels]``: row ``v`` of table ``k`` is id ``v``'s contribution at offset ``k``.

        Kept between calls while neither weight changes (their version counters move with every
        in-place update: optimiser steps, ``load_state_dict``) and no gradient is wanted: an
        engine's small batches spent a tenth of their time rebuilding them.
        """
        weights = (self.embedding.weight, self.conv.weight)
        if torch.is_grad_enabled() and any(w.requires_grad for w in weights):
            return torch.einsum("ve,oek->kvo", *weights)
        key = tuple((w.data_ptr(), w._version) for w in weights)
        if getattr(self, "_tables_key", None) != key:
            with torch.no_grad():
                self._tables = torch.einsum("ve,oek->kvo", *weights)
            self._tables_key = key
        return self._tables

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, T, num_labels + num_kinds]`` for ids ``[B, T]`` (0 = padding) of the given lengths."""
        # Time-major inside: the LSTMs want [T, B, F] contiguous, and transposing the ids
        # and the logits is cheaper than transposing every activation.
        ids = ids.t()
        emb = self.embedding(ids)
        conv = torch.relu(self._convolve(ids))
        # Zero the convolution's output on padding so the backward LSTM, which sees
        # a sequence's padding only after its last real step, gets the same input
        # whatever the batch's width (the embedding of padding is zero already).
        x = self.dropout(emb + conv * (ids != 0).unsqueeze(-1))
        reverse = reverse_index(lengths, ids.shape[0])
        fwd, _ = self.forward_lstm(x)
        bwd, _ = self.backward_lstm(_reorder(x, reverse))
        for forward_lstm, backward_lstm in zip(self.upper_forward, self.upper_backward):
            # bwd runs in each sequence's reversed order: both directions in line order, then on.
            below = self.dropout(torch.cat([fwd, _reorder(bwd, reverse)], dim=-1))
            fwd, _ = forward_lstm(below)
            bwd, _ = backward_lstm(_reorder(below, reverse))
        # head(cat([fwd, bwd])) without materialising the concatenation.
        hidden = self.config.hidden_size
        weight, bias = self.head.weight, self.head.bias
        fwd_logits = nn.functional.linear(self.dropout(fwd), weight[:, :hidden], bias)
        bwd_logits = nn.functional.linear(self.dropout(bwd), weight[:, hidden:])
        return (fwd_logits + _reorder(bwd_logits, reverse)).transpose(0, 1)
