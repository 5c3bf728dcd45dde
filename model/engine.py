"""The inference engine the daemon calls: ``tag(lines) -> results``.

It owns everything between strings and the network: encoding, windows for long
lines, length-bucketed batches, the memo cache, the device and the delimiter
rules of the spec. Results are exact: the network's output for a line does not
depend on its batch (see ``tagger``), and the cache is keyed on what the
network sees (``vocab.cache_key``), so a hit returns what the network would
compute.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from . import checkpoint
from .spans import Span, spans_at, token_bounds
from .vocab import cache_key

log = logging.getLogger(__name__)

# The LSTM's fixed cost per time step, in rows of batch work (measured on a 2-core CPU).
_STEP_OVERHEAD_ROWS = 16
_ALNUM, _SPACE, _PUNCT = ord("a"), ord("s"), ord("p")
_ASCII_CLASS = {i: chr(_ALNUM if chr(i).isalnum() else _SPACE if chr(i).isspace() else _PUNCT) for i in range(128)}


def char_classes(line: str) -> np.ndarray:
    """Per code point: ``a`` letter or digit, ``s`` whitespace, ``p`` anything else (as uint8)."""
    classes = line.translate(_ASCII_CLASS)
    if not classes.isascii():
        classes = "".join(c if c.isascii() else
                          ("a" if c.isalnum() else "s" if c.isspace() else "p") for c in classes)
    return np.frombuffer(classes.encode("ascii"), dtype=np.uint8)


class TagResult:
    """One tagged line.

    Attributes:
        line: the input line.
        labels: ``O``/``D`` per character (a list of label names for other alphabets).
        bounds: ``(start, end)`` of every token, code points, end exclusive.
        delimiter_confidence: the network's probability for each delimiter it decided.
        min_confidence: the lowest probability of any label the network decided; 1.0 when
            the rules decided every character.
    """

    __slots__ = ("line", "labels", "bounds", "delimiter_confidence", "min_confidence")

    def __init__(self, line: str, labels: str | list[str], bounds: tuple[tuple[int, int], ...] = (),
                 delimiter_confidence: tuple[float, ...] = (), min_confidence: float = 1.0) -> None:
        self.line = line
        self.labels = labels
        self.bounds = bounds
        self.delimiter_confidence = delimiter_confidence
        self.min_confidence = min_confidence

    @property
    def tokens(self) -> list[Span]:
        """Token spans (empty for alphabets other than O/D); built on demand from ``bounds``.

        Equal lines share their bounds through the cache, and building span objects
        costs more than everything else a hit does, so callers that only need
        offsets (the daemon) skip it.
        """
        return spans_at(self.line, self.bounds)

    def __repr__(self) -> str:
        return f"TagResult(line={self.line!r}, labels={self.labels!r}, min_confidence={self.min_confidence:.3f})"


@dataclass(frozen=True)
class _Tagged:
    """What the cache keeps for one network input: everything but the line itself."""

    labels: str | tuple[str, ...]
    bounds: tuple[tuple[int, int], ...]
    delimiter_confidence: tuple[float, ...]
    min_confidence: float


def resolve_device(device: str) -> torch.device:
    """``auto`` means the first GPU when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and resolved.index is None:
        resolved = torch.device("cuda:0")
    return resolved


class Engine:
    """A loaded tagger ready for batches of lines. One caller thread at a time."""

    def __init__(self, ckpt: checkpoint.Checkpoint, device: str = "auto", num_threads: int | None = None,
                 quantize: bool = False, cache_size: int = 200_000, max_batch_lines: int = 512,
                 window_chars: int = 512, window_margin_chars: int = 64) -> None:
        if num_threads:
            torch.set_num_threads(num_threads)
        self._device = resolve_device(device)
        model = ckpt.model.eval()
        if quantize:
            if self._device.type != "cpu":
                raise ValueError("int8 dynamic quantisation runs on the CPU only")
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.LSTM, torch.nn.Linear}, dtype=torch.qint8)
        self._model = model.to(self._device)
        self._vocab = ckpt.vocab
        self._labels = ckpt.labels
        self._rules = ckpt.delimiter_rules
        self._delimiter_index = ckpt.labels.index("D") if ckpt.delimiter_rules else -1
        self.model_id = ckpt.model_id
        self.device = str(self._device)
        self._cache: OrderedDict[str, _Tagged] = OrderedDict()
        self._cache_size = cache_size
        self._max_batch_lines = max_batch_lines
        self._window = window_chars
        self._margin = window_margin_chars
        self.cache_hits = 0
        self.cache_misses = 0

    @classmethod
    def load(cls, path: str | None = None, device: str = "auto", num_threads: int | None = None,
             quantize: bool = False, cache_size: int = 200_000, **kwargs: int) -> "Engine":
        """An engine for the checkpoint at ``path`` (the shipped default when None)."""
        return cls(checkpoint.load(path), device=device, num_threads=num_threads, quantize=quantize,
                   cache_size=cache_size, **kwargs)

    def tag(self, lines: Sequence[str]) -> list[TagResult]:
        """Tag every line; results in input order.

        With ``cache_size=0`` the network runs on every line, equal ones included,
        so an uncached engine measures the network itself.
        """
        if not self._cache_size:
            self.cache_misses += len(lines)
            return [self._result(line, t) for line, t in zip(lines, self._run(list(lines)))]
        keys = [cache_key(line) for line in lines]
        found: dict[str, _Tagged] = {}
        missing: list[str] = []
        for key in keys:
            if key in found:
                continue
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                found[key] = hit
            else:
                found[key] = None  # type: ignore[assignment]
                missing.append(key)
        # A line counts as a hit when the network did not run for it.
        self.cache_misses += len(missing)
        self.cache_hits += len(keys) - len(missing)
        if missing:
            for key, tagged in zip(missing, self._run(missing)):
                found[key] = tagged
                self._cache[key] = tagged
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return [self._result(line, found[key]) for line, key in zip(lines, keys)]

    @staticmethod
    def _result(line: str, t: _Tagged) -> TagResult:
        labels = t.labels if isinstance(t.labels, str) else list(t.labels)
        return TagResult(line, labels, t.bounds, t.delimiter_confidence, t.min_confidence)

    def _windows(self, length: int) -> list[tuple[int, int, int, int]]:
        """``(window_start, window_end, keep_start, keep_end)`` covering a line fully.

        Long lines are cut into overlapping windows; each keeps the labels of its
        centre, where the network had context on both sides.
        """
        if length <= self._window:
            return [(0, length, 0, length)]
        core = self._window - 2 * self._margin
        return [(max(0, s - self._margin), min(length, s + core + self._margin), s, min(length, s + core))
                for s in range(0, length, core)]

    def _run(self, keys: list[str]) -> list[_Tagged]:
        """Network labels and confidences for distinct inputs."""
        pieces = [(i, *w) for i, key in enumerate(keys) for w in self._windows(len(key))]
        pieces.sort(key=lambda p: p[2] - p[1])
        chosen = [np.zeros(len(k), dtype=np.int64) for k in keys]
        confidence = [np.ones(len(k), dtype=np.float32) for k in keys]
        for batch in self._buckets(pieces):
            width = max(1, max(end - start for _, start, end, _, _ in batch))
            ids = np.zeros((len(batch), width), dtype=np.int64)
            for row, (i, start, end, _, _) in enumerate(batch):
                ids[row, :end - start] = self._vocab.encode_array(keys[i][start:end])
            lengths = torch.tensor([max(1, end - start) for _, start, end, _, _ in batch])
            prob, label = self._forward(torch.from_numpy(ids), lengths)
            for row, (i, start, _, keep_start, keep_end) in enumerate(batch):
                lo, hi = keep_start - start, keep_end - start
                chosen[i][keep_start:keep_end] = label[row, lo:hi]
                confidence[i][keep_start:keep_end] = prob[row, lo:hi]
        return [self._finish(key, c, p) for key, c, p in zip(keys, chosen, confidence)]

    def _buckets(self, pieces: list[tuple[int, int, int, int, int]]) -> list[list[tuple[int, int, int, int, int]]]:
        """Split length-sorted pieces into batches, trading padding against calls.

        A batch of B rows and width T costs about T * (B + STEP_OVERHEAD_ROWS): the
        LSTM pays a fixed cost per time step. Growing a batch to a longer piece is
        cheaper than opening a new one while ``length / width < 1 + overhead / B``.
        """
        batches: list[list[tuple[int, int, int, int, int]]] = []
        width = 0
        for piece in pieces:
            length = piece[2] - piece[1]
            if (not batches or len(batches[-1]) >= self._max_batch_lines
                    or length > width * (1 + _STEP_OVERHEAD_ROWS / len(batches[-1]))):
                batches.append([])
            batches[-1].append(piece)
            width = length
        return batches

    def _forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Probability and index of the most likely label per character."""
        if self._device.type == "cuda":
            ids = ids.pin_memory().to(self._device, non_blocking=True)
            lengths = lengths.pin_memory().to(self._device, non_blocking=True)
        with torch.inference_mode():
            probs = torch.softmax(self._model(ids, lengths).float(), dim=-1)
            prob, label = probs.max(dim=-1)
        return prob.cpu().numpy(), label.cpu().numpy()

    def _finish(self, key: str, label: np.ndarray, prob: np.ndarray) -> _Tagged:
        if not self._rules:
            names = tuple(self._labels[i] for i in label)
            return _Tagged(names, (), (), float(prob.min()) if len(prob) else 1.0)
        classes = char_classes(key)
        punct = classes == _PUNCT
        is_delim = np.where(punct, label == self._delimiter_index, classes == _SPACE)
        labels = np.where(is_delim, ord("D"), ord("O")).astype(np.uint8).tobytes().decode("ascii")
        decided = prob[punct]
        return _Tagged(labels, tuple(token_bounds(labels)), tuple(prob[punct & is_delim].tolist()),
                       float(decided.min()) if len(decided) else 1.0)
