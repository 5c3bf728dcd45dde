"""The inference engine the daemon calls: ``tag(lines) -> results``.

It owns everything between strings and the network: encoding, windows for long
lines, length-bucketed batches, the memo cache, the device and the delimiter
rules of the spec. Results are exact: the network's output for a line does not
depend on its batch (see ``tagger``), and the caches are keyed on what the
network sees, so a hit returns what the network would compute.

Two caches (``lru.LRU``), both bounded by ``cache_size`` entries and, given
``cache_max_bytes``, by the bytes their entries are estimated to hold: lines
with equal ``vocab.cache_key`` (digits folded, offsets unchanged) share a whole
result, token offsets included; on a miss there, lines with equal
``vocab.shape`` (what a delimiter tagger's network sees) share the network's
decisions, which are carried over to the line's own offsets.

A network with a kind head gives every token its kind in the same pass (``F``
header field, ``C`` constant text, ``V`` variable: the kind most of its
characters get), and each result its template and template id (``templates``).
Tokens of a shape are the tokens of every line of that shape, so token kinds
are decided once per shape, like the punctuation.
"""
from __future__ import annotations

import bisect
import ctypes
import logging
import os
import sys
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from . import checkpoint
from .lru import LRU
from .spans import Span, spans_at, token_bounds
from .templates import KINDS, kinds_of_tokens, template_id, template_of_tokens
from .text import needs_rewrite, rewrite
from .vocab import cache_key, key_text, shape

log = logging.getLogger(__name__)

# A network call costs about CALL + T * (B + STEP) character cells of work for B rows of
# width T: a time step has a fixed cost whatever the rows (the two LSTMs'), about that of
# STEP rows, and a call one of about CALL cells (the shipped network timed at B 1-256,
# T 60-448 on one core of two 2-core CPUs of different speeds: in cells, the costs came out
# close on both, so the constants are in cells, not seconds).
_CALL_OVERHEAD_CELLS = 500
_STEP_OVERHEAD_ROWS = 8
# oneDNN builds an LSTM kernel for every new (rows, width) a call has, at several times a
# small call's work, and keeps 1,024 of them. So the network is called
# on tiles of at most _TILE_ROWS rows, padded to a power of two and to a multiple of
# _WIDTH_STEP characters: 8 x 16 sizes up to 512 characters, reused by every call.
# warm_up builds those up to _WARM_ROWS rows; 128-row tiles come only with large batches
# (a batch job, a cold cache), which build their 16 kernels on first use. Measured cost of
# a tile per character: 3 % lower at 128 rows than at 64 (uncached on 2 cores, including
# those builds), the same from 16 to 64 rows.
_TILE_ROWS = 128
_WARM_ROWS = 64
_WIDTH_STEP = 32
_ALNUM, _SPACE, _PUNCT = ord("a"), ord("s"), ord("p")
_ASCII_CLASS = {i: chr(_ALNUM if chr(i).isalnum() else _SPACE if chr(i).isspace() else _PUNCT) for i in range(128)}
# A byte bound splits between the caches: this share for the shapes, the rest for the
# lines. A shape entry saves a network run, a line entry only the cheap expansion of a
# cached shape to the line's offsets, and a shape entry is the smaller: half keeps
# more shapes than lines, so most line misses still find their shape.
_SHAPE_SHARE = 0.5
# What CPython (64-bit) spends on the objects a cache entry holds, allocations rounded to
# 16 bytes (see _rounded): a tuple's header with its garbage collector links, each item's
# pointer, a float, an int past the small ones Python shares (-5 to 256), a pair of ints,
# and the _Tagged and _Decided objects themselves (a dataclass instance and its attribute
# values). Checked against tracemalloc by tests/model/test_engine.py.
_TUPLE_BYTES = 40
_POINTER_BYTES = 8
_FLOAT_BYTES = 32
_INT_BYTES = 32
_SMALL_INT_MAX = 256
_PAIR_BYTES = 64
_TAGGED_OBJECT_BYTES = 160
_DECIDED_OBJECT_BYTES = 128


def padded_rows(rows: int) -> int:
    """Rows a tile of ``rows`` lines is padded to: the next power of two."""
    return 1 << (rows - 1).bit_length()


def padded_width(width: int) -> int:
    """Width a tile is padded to: a multiple of ``_WIDTH_STEP``."""
    return max(1, -(-width // _WIDTH_STEP)) * _WIDTH_STEP


def keep_freed_memory() -> None:
    """Stop glibc from handing freed activation buffers back to the OS after every batch.

    By default blocks above the mmap threshold are unmapped when freed and
    page-faulted in again by the next batch: that about doubled the network's time per
    line on a 2-core CPU. Freed memory stays in the process instead, so its resident size
    is that of its largest batch. No-op off glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)  # glibc's maximum
    libc.mallopt(m_trim_threshold, 256 * 1024 * 1024)


_CLASS_LABEL = str.maketrans("as", "OD")
_VOTE_ORDER = ("V", "C", "F")  # a tie between kinds goes to the first


def class_string(line: str) -> str:
    """Per code point: ``a`` letter or digit, ``s`` whitespace, ``p`` anything else."""
    classes = line.translate(_ASCII_CLASS)
    if not classes.isascii():
        classes = "".join(c if c.isascii() else
                          ("a" if c.isalnum() else "s" if c.isspace() else "p") for c in classes)
    return classes


def char_classes(line: str) -> np.ndarray:
    """``class_string`` as uint8 codes."""
    return np.frombuffer(class_string(line).encode("ascii"), dtype=np.uint8)


class TagResult:
    """One tagged line.

    Attributes:
        line: the input line.
        labels: ``O``/``D`` per character (a list of label names for other alphabets).
        bounds: ``(start, end)`` of every token, code points, end exclusive.
        delimiter_confidence: the network's probability for each delimiter it decided.
        min_confidence: the lowest probability of any label the network decided; 1.0 when
            the rules decided every character.
        token_kinds: ``F``/``C``/``V`` per token, in order ('' when the network has no kind head).
        template: the line's template ('' without kinds).
        template_id: a stable id of the template ('' without kinds).
    """

    __slots__ = ("line", "labels", "bounds", "delimiter_confidence", "min_confidence", "token_kinds", "template",
                 "template_id")

    def __init__(self, line: str, labels: str | list[str], bounds: tuple[tuple[int, int], ...] = (),
                 delimiter_confidence: tuple[float, ...] = (), min_confidence: float = 1.0, token_kinds: str = "",
                 template: str = "", template_id: str = "") -> None:
        self.line = line
        self.labels = labels
        self.bounds = bounds
        self.delimiter_confidence = delimiter_confidence
        self.min_confidence = min_confidence
        self.token_kinds = token_kinds
        self.template = template
        self.template_id = template_id

    @property
    def kinds(self) -> str:
        """``D``/``F``/``C``/``V`` per character ('' without a kind head); built on demand from the token kinds."""
        if not self.template_id:
            return ""
        return kinds_of_tokens(len(self.line), self.bounds, self.token_kinds)

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
    token_kinds: str = ""
    template: str = ""
    template_id: str = ""
    # The template was made from the digit-folded key and its constant text holds a digit:
    # each line makes its own (a constant ``v2`` must not read ``v0``).
    template_per_line: bool = False


@dataclass(frozen=True)
class _Decided:
    """The network's decisions on one shape (delimiter tagger only)."""

    decisions: str  # ``O`` or ``D`` per punctuation character, in order
    delimiter_confidence: tuple[float, ...]
    min_confidence: float
    token_kinds: str | None = None  # ``F``/``C``/``V`` per token of the shape (None without a kind head)


def resolve_device(device: str) -> torch.device:
    """``auto`` means the first GPU when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and resolved.index is None:
        resolved = torch.device("cuda:0")
    return resolved


def default_parallel_tiles(device: str) -> int:
    """Network calls at once for a batch job: one per usable core on the CPU, one on a GPU."""
    return len(os.sched_getaffinity(0)) if resolve_device(device).type == "cpu" else 1


class Engine:
    """A loaded tagger ready for batches of lines. One caller thread at a time.

    ``parallel_tiles`` threads call the network at once, each on its own tile of a
    batch (with ``num_threads`` torch threads each): on a small CPU, two one-thread
    calls keep two cores busier than one call with two threads, whose LSTM steps
    synchronise. The daemon leaves it at 1 (its event loop needs the other core);
    batch jobs (``logdelim tag``, the bench's tagger figures) use every core.

    ``cache_size`` bounds each cache in entries (0: no cache). ``cache_max_bytes``
    bounds both together in bytes, half each (see ``_SHAPE_SHARE``); None: entries
    only; 0: nothing is kept between calls. Entries are counted at what they are
    estimated to hold (``_tagged_bytes``, ``_decided_bytes``), so a process holding
    the engine stays near its resident size at start, plus its batches' working
    memory, plus this bound.
    """

    def __init__(self, ckpt: checkpoint.Checkpoint, device: str = "auto", num_threads: int | None = None,
                 quantize: bool = False, cache_size: int = 200_000, max_batch_lines: int = 512,
                 window_chars: int = 512, window_margin_chars: int = 64, parallel_tiles: int = 1,
                 cache_max_bytes: int | None = None) -> None:
        if num_threads:
            torch.set_num_threads(num_threads)
        self._device = resolve_device(device)
        model = ckpt.model.eval()
        if quantize:
            if self._device.type != "cpu":
                raise ValueError("int8 dynamic quantisation runs on the CPU only")
            # The head stays float: the network slices its weight (one half per LSTM direction).
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.LSTM}, dtype=torch.qint8)
        if self._device.type == "cpu":
            keep_freed_memory()
        self._model = model.to(self._device)
        self._vocab = ckpt.vocab
        self._labels = ckpt.labels
        self._num_labels = len(ckpt.labels)
        # The head's kinds in the order the majority vote breaks ties: variable, then constant, then field.
        if ckpt.kinds and sorted(ckpt.kinds) != sorted(KINDS):
            raise ValueError(f"unknown kind alphabet {ckpt.kinds}")
        self._kind_order = np.array([ckpt.kinds.index(k) for k in _VOTE_ORDER]) if ckpt.kinds else None
        self._rules = ckpt.delimiter_rules
        self._delimiter_index = ckpt.labels.index("D") if ckpt.delimiter_rules else -1
        self.model_id = ckpt.model_id
        self.device = str(self._device)
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, not {cache_size}")
        if cache_max_bytes is not None and cache_max_bytes < 0:
            raise ValueError(f"cache_max_bytes must be >= 0 or None, not {cache_max_bytes}")
        shape_bytes = None if cache_max_bytes is None else int(cache_max_bytes * _SHAPE_SHARE)
        line_bytes = None if cache_max_bytes is None else cache_max_bytes - (shape_bytes or 0)
        self._cache: LRU[str | bytes, _Tagged] = LRU(cache_size, line_bytes)
        self._shapes: LRU[str, _Decided] = LRU(cache_size, shape_bytes)
        self._cache_size = cache_size
        self.cache_max_bytes = cache_max_bytes
        self._max_batch_lines = max_batch_lines
        self._window = window_chars
        self._margin = window_margin_chars
        self.cache_hits = 0
        self.cache_misses = 0
        self._pool = ThreadPoolExecutor(parallel_tiles, thread_name_prefix="logdelim-tile") if parallel_tiles > 1 else None
        if self._pool is not None:
            weakref.finalize(self, self._pool.shutdown, wait=False)

    @classmethod
    def load(cls, path: str | None = None, device: str = "auto", num_threads: int | None = None,
             quantize: bool = False, cache_size: int = 200_000, cache_max_bytes: int | None = None,
             **kwargs: int) -> Engine:
        """An engine for the checkpoint at ``path`` (the shipped default when None); see :class:`Engine`."""
        return cls(checkpoint.load(path), device=device, num_threads=num_threads, quantize=quantize,
                   cache_size=cache_size, cache_max_bytes=cache_max_bytes, **kwargs)

    @property
    def cache_bytes(self) -> int:
        """Bytes the line and shape caches now hold, as their entries were estimated when inserted."""
        return self._cache.bytes + self._shapes.bytes

    def tag(self, lines: Sequence[str]) -> list[TagResult]:
        """Tag every line; results in input order.

        With ``cache_size=0`` the network runs on every line, equal ones included,
        so an uncached engine measures the network itself.
        """
        if not self._cache_size:
            self.cache_misses += len(lines)
            return [self._result(line, t) for line, t in zip(lines, self._compute(list(lines), cached=False)[0])]
        keys = [cache_key(line) for line in lines]
        found, missing = self._cache.get_many(keys)
        runs = 0
        if missing:
            computed, runs = self._compute([key_text(key) for key in missing], cached=True)
            put = self._cache.put
            for key, tagged in zip(missing, computed):
                found[key] = tagged
                put(key, tagged, _tagged_bytes(key, tagged))
        # A line counts as a hit when the network did not run for it.
        self.cache_misses += runs
        self.cache_hits += len(keys) - runs
        return [self._result(line, found[key]) for line, key in zip(lines, keys)]

    def _compute(self, keys: list[str], cached: bool) -> tuple[list[_Tagged], int]:
        """Results for ``keys`` (distinct when ``cached``) and how many inputs the network ran on.

        A key with terminal escapes or combining marks is tagged as the spec's rules 4
        and 5 have the network see it (``text.rewrite``: offsets unchanged), and its
        lines make their own templates from their own characters. The network runs on
        every shape that is not cached (on every key when not ``cached``).
        """
        rewritten = [i for i, key in enumerate(keys) if needs_rewrite(key)]
        if rewritten:
            keys = list(keys)
            for i in rewritten:
                keys[i] = rewrite(keys[i])
            computed, runs = self._compute_seen(keys, cached)
            for i in rewritten:
                computed[i] = replace(computed[i], template_per_line=bool(computed[i].template_id))
            return computed, runs
        return self._compute_seen(keys, cached)

    def _compute_seen(self, keys: list[str], cached: bool) -> tuple[list[_Tagged], int]:
        """:meth:`_compute` of keys as the network sees them."""
        if not self._rules:
            # Other alphabets label every character: the network sees the line as it is.
            return [self._finish_labels(label, prob, kind) for label, prob, kind in self._run(keys)], len(keys)
        shapes = [shape(key) for key in keys]
        if not cached:
            return [self._expand(key, d) for key, d in zip(keys, self._decide(shapes, self._run(shapes)))], len(keys)
        decided, todo = self._shapes.get_many(shapes)
        put = self._shapes.put
        for s, d in zip(todo, self._decide(todo, self._run(todo))):
            decided[s] = d
            put(s, d, _decided_bytes(s, d))
        return [self._expand(key, decided[s]) for key, s in zip(keys, shapes)], len(todo)

    @staticmethod
    def _result(line: str, t: _Tagged) -> TagResult:
        labels = t.labels if isinstance(t.labels, str) else list(t.labels)
        text, text_id = t.template, t.template_id
        if t.template_per_line:
            text = template_of_tokens(line, t.bounds, t.token_kinds)
            text_id = template_id(text)
        return TagResult(line, labels, t.bounds, t.delimiter_confidence, t.min_confidence, t.token_kinds, text,
                         text_id)

    @property
    def has_kinds(self) -> bool:
        """Whether results carry kinds and templates (the network has a kind head)."""
        return self._kind_order is not None and self._rules

    def warm_up(self) -> float:
        """Build the network's kernels for the small padded batch sizes now; returns the seconds it took.

        Otherwise each is built by the first call that needs it: milliseconds that a
        service would spend on its first lines, and a benchmark on its first pass.
        """
        started = time.perf_counter()
        for width in range(_WIDTH_STEP, padded_width(self._window) + 1, _WIDTH_STEP):
            rows = 1
            while rows <= _WARM_ROWS:
                self._forward(torch.zeros(rows, width, dtype=torch.int64), torch.ones(rows, dtype=torch.int64))
                rows *= 2
        return time.perf_counter() - started

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

    def _run(self, keys: list[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The network's label index, its probability and the kind index for every character of each input."""
        pieces = [(i, *w) for i, key in enumerate(keys) for w in self._windows(len(key))]
        pieces.sort(key=lambda p: p[2] - p[1])
        # A line in one window takes its row of the output as it is; a longer one is assembled.
        windowed = {i for i, start, end, _, _ in pieces if end - start < len(keys[i])}
        # A windowed line's rows are assembled into these; any other line's slot takes its row below.
        chosen: list[Any] = [np.zeros(len(k), dtype=np.int64) if i in windowed else None for i, k in enumerate(keys)]
        confidence: list[Any] = [np.ones(len(k), dtype=np.float32) if i in windowed else None
                                 for i, k in enumerate(keys)]
        kind: list[Any] = [np.zeros(len(k), dtype=np.int64) if i in windowed else None for i, k in enumerate(keys)]
        tiles = self._tiles(pieces)

        def call(batch: list[tuple[int, int, int, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return self._forward(*self._tile_input(keys, batch))

        # map keeps the tiles' order. With parallel_tiles > 1 the calls overlap on several
        # cores: torch releases the GIL inside the network, where one call's encoding runs.
        outputs = self._pool.map(call, tiles) if self._pool and len(tiles) > 1 else map(call, tiles)
        for batch, (prob, label, kinds) in zip(tiles, outputs):
            for row, (i, start, end, keep_start, keep_end) in enumerate(batch):
                if i in windowed:
                    lo, hi = keep_start - start, keep_end - start
                    chosen[i][keep_start:keep_end] = label[row, lo:hi]
                    confidence[i][keep_start:keep_end] = prob[row, lo:hi]
                    kind[i][keep_start:keep_end] = kinds[row, lo:hi]
                else:
                    chosen[i], confidence[i], kind[i] = label[row, :end], prob[row, :end], kinds[row, :end]
        return list(zip(chosen, confidence, kind))

    def _tile_input(self, keys: list[str], batch: list[tuple[int, int, int, int, int]]
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Ids ``[rows, width]`` and lengths of one network call, padded to a tile size."""
        width = padded_width(max(end - start for _, start, end, _, _ in batch))
        rows = padded_rows(len(batch))
        ids = np.zeros((rows, width), dtype=np.int64)
        # One encoding for the whole tile, then each row's slice of it.
        encoded = self._vocab.encode_array("".join(keys[i][start:end] for i, start, end, _, _ in batch))
        position = 0
        for row, (_, start, end, _, _) in enumerate(batch):
            ids[row, :end - start] = encoded[position:position + end - start]
            position += end - start
        # Padding rows: length 1, all padding; their output is dropped.
        lengths = torch.tensor([max(1, end - start) for _, start, end, _, _ in batch] + [1] * (rows - len(batch)))
        return torch.from_numpy(ids), lengths

    def _tiles(self, pieces: list[tuple[int, int, int, int, int]]) -> list[list[tuple[int, int, int, int, int]]]:
        """Split length-sorted pieces into network calls, trading padding against calls.

        Growing a call of B rows from width T to a longer piece pads every row:
        ``(length - T) * (B + STEP)`` more cells. That is worth it while it costs less
        than a new call would for the piece: ``CALL + length * STEP``. A call then
        takes a power of two of rows (see ``padded_rows``), the largest that fits, so
        few rows are padding.
        """
        limit = min(self._max_batch_lines, _TILE_ROWS if self._device.type == "cpu" else self._max_batch_lines)
        batches: list[list[tuple[int, int, int, int, int]]] = []
        width = 0
        for piece in pieces:
            length = piece[2] - piece[1]
            if (not batches or len(batches[-1]) >= limit
                    or (length - width) * (len(batches[-1]) + _STEP_OVERHEAD_ROWS)
                    > _CALL_OVERHEAD_CELLS + length * _STEP_OVERHEAD_ROWS):
                batches.append([])
            batches[-1].append(piece)
            width = length
        tiles = []
        for batch in batches:
            while batch:
                # Below 8 rows a call costs about the same whatever its rows: pad instead of splitting.
                take = len(batch) if len(batch) < 8 or len(batch) >= limit else 1 << (len(batch).bit_length() - 1)
                tiles.append(batch[:take])
                batch = batch[take:]
        return tiles

    def _forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probability and index of the most likely label per character, and the most likely kind's index
        (zeros without a kind head)."""
        if self._device.type == "cuda":
            ids = ids.pin_memory().to(self._device, non_blocking=True)
            lengths = lengths.pin_memory().to(self._device, non_blocking=True)
        with torch.inference_mode():
            output = self._model(ids, lengths).float()
            logits = output[..., :self._num_labels]
            kind = (output[..., self._num_labels:].argmax(dim=-1) if output.shape[-1] > self._num_labels
                    else torch.zeros(output.shape[:-1], dtype=torch.int64))
            if logits.shape[-1] == 2:
                # Two labels: the winner's probability is sigmoid(|margin|); a softmax over a
                # last dimension of 2 costs several times more on the CPU.
                margin = logits[..., 1] - logits[..., 0]
                return torch.sigmoid(margin.abs()).cpu().numpy(), (margin > 0).long().cpu().numpy(), kind.cpu().numpy()
            prob, label = torch.softmax(logits, dim=-1).max(dim=-1)
        return prob.cpu().numpy(), label.cpu().numpy(), kind.cpu().numpy()

    def _finish_labels(self, label: np.ndarray, prob: np.ndarray, _kind: np.ndarray) -> _Tagged:
        """A result of an alphabet without delimiter rules: the network's label for every character."""
        names = tuple(self._labels[i] for i in label)
        return _Tagged(names, (), (), float(prob.min()) if len(prob) else 1.0)

    def _decide(self, shapes: list[str], outs: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[_Decided]:
        """Keep what the spec leaves to the network: its decisions on the punctuation of each shape.

        All shapes at once: a dozen array operations per shape cost more than the
        network's share of a short line on a small CPU.
        """
        if not shapes:
            return []
        joined = "".join(shapes)
        classes = char_classes(joined)
        punct = classes == _PUNCT
        label = np.concatenate([out[0] for out in outs])[punct]
        prob = np.concatenate([out[1] for out in outs])[punct]
        delimiter = label == self._delimiter_index
        decisions = np.where(delimiter, ord("D"), ord("O")).astype(np.uint8).tobytes().decode("ascii")
        delimiter_prob = prob[delimiter].tolist()
        # Per shape: where its punctuation starts among all shapes', and its delimiters among all delimiters.
        counts = np.fromiter((len(s) for s in shapes), dtype=np.int64, count=len(shapes))
        bounds = np.concatenate(([0], np.cumsum(counts)))
        punct_ends = np.concatenate(([0], np.cumsum(punct)))[bounds].tolist()
        delimiter_ends = np.concatenate(([0], np.cumsum(delimiter)))[punct_ends].tolist()
        has_punct = [a < b for a, b in zip(punct_ends, punct_ends[1:])]
        starts = [a for a, present in zip(punct_ends, has_punct) if present]
        lowest = iter(np.minimum.reduceat(prob, starts).tolist() if starts else ())
        kind_of: list[str | None] = [None] * len(shapes)
        if self._kind_order is not None:
            delimiter_at = classes == _SPACE
            delimiter_at[punct] = delimiter
            digit = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32) == ord("0")
            kind_of = list(self._token_kinds(delimiter_at, digit, np.concatenate([out[2] for out in outs]), bounds))
        return [_Decided(decisions[p0:p1], tuple(delimiter_prob[d0:d1]), next(lowest) if present else 1.0, k)
                for p0, p1, d0, d1, present, k in zip(punct_ends, punct_ends[1:], delimiter_ends, delimiter_ends[1:],
                                                      has_punct, kind_of)]

    def _token_kinds(self, delimiter: np.ndarray, digit: np.ndarray, kind: np.ndarray,
                     line_bounds: np.ndarray) -> list[str]:
        """Each shape's token kinds: per token, the kind most of its characters got (ties: V, C, F),
        and a constant that holds a digit made a variable.

        The network decides every character alone, and a word whose first letter it
        calls a variable (``<*>TTPS``) would make a template no other line shares. A
        digit the network calls constant text puts the line's own number into its
        template (``PendingReds:1``), so every value makes a new template; the rare
        constant that holds a digit (``ssh2``) costs nothing as a variable but its kind.
        All shapes at once: ``delimiter``, ``digit`` and ``kind`` cover the joined
        shapes, which ``line_bounds`` (cumulative lengths) cut apart.
        """
        inside = ~delimiter
        starts_line = np.zeros(len(inside), dtype=bool)
        starts_line[line_bounds[:-1][line_bounds[:-1] < len(inside)]] = True
        previous_outside = np.concatenate(([True], ~inside[:-1])) | starts_line
        token_start = inside & previous_outside
        starts = np.flatnonzero(token_start)
        if not len(starts):
            return [""] * (len(line_bounds) - 1)
        # Votes per token and kind (in vote order); delimiters vote for nothing.
        votes = np.zeros((len(inside), len(_VOTE_ORDER)), dtype=np.int32)
        rows = np.flatnonzero(inside)
        assert self._kind_order is not None  # only called with a kind head
        votes[rows, np.argsort(self._kind_order)[kind[rows]]] = 1
        winners = np.add.reduceat(votes, starts, axis=0).argmax(axis=1)
        has_digit = np.add.reduceat(digit & inside, starts) > 0
        winners[has_digit & (winners == _VOTE_ORDER.index("C"))] = _VOTE_ORDER.index("V")
        letters = np.frombuffer("".join(_VOTE_ORDER).encode("ascii"), dtype=np.uint8)[winners].tobytes().decode("ascii")
        per_line = np.searchsorted(starts, line_bounds).tolist()
        return [letters[a:b] for a, b in zip(per_line, per_line[1:])]

    @staticmethod
    def _expand(key: str, d: _Decided) -> _Tagged:
        """Labels and token offsets of a line from its shape's decisions and the spec's rules.

        ``shape`` leaves punctuation in order, so the i-th punctuation character of
        the line takes the i-th decision.
        """
        between = class_string(key).split("p")
        if len(between) != len(d.decisions) + 1:
            raise AssertionError(f"shape changed the punctuation of {key!r}")
        # Runs of letters/digits (a -> O) and whitespace (s -> D) between punctuation
        # characters, each punctuation character taking the network's decision.
        labels = ("".join(map(str.__add__, between, d.decisions)) + between[-1]).translate(_CLASS_LABEL)
        bounds = tuple(token_bounds(labels))
        if d.token_kinds is None:
            return _Tagged(labels, bounds, d.delimiter_confidence, d.min_confidence)
        if len(d.token_kinds) != len(bounds):
            raise AssertionError(f"shape changed the tokens of {key!r}")
        text = template_of_tokens(key, bounds, d.token_kinds)
        per_line = "0" in key and any(kind == "C" and "0" in key[start:end]
                                      for (start, end), kind in zip(bounds, d.token_kinds))
        return _Tagged(labels, bounds, d.delimiter_confidence, d.min_confidence, d.token_kinds, text,
                       template_id(text), per_line)


def _rounded(size: int) -> int:
    """Memory an allocation of ``size`` bytes takes: Python's small-object allocator hands out
    16-byte multiples (the C allocator, above 512 bytes, about the same)."""
    return (size + 15) & -16


def _str_bytes(text: str | bytes) -> int:
    """Memory of a str or bytes object (0 for an empty one: Python keeps one of each, shared)."""
    return _rounded(sys.getsizeof(text)) if text else 0


def _floats_bytes(values: tuple[float, ...]) -> int:
    """Memory of a tuple of distinct float objects (the network's probabilities)."""
    return _rounded(_TUPLE_BYTES + _POINTER_BYTES * len(values)) + _FLOAT_BYTES * len(values) if values else 0


def _bounds_bytes(bounds: tuple[tuple[int, int], ...]) -> int:
    """Memory of token bounds: the tuple, a pair per token and every offset beyond the small ints.

    Python shares one object for each int up to 256, so only the offsets past
    that cost an object: bounds are in order, so a bisection counts them.
    """
    if not bounds:
        return 0
    count = len(bounds)
    first_big = bisect.bisect_left(bounds, (_SMALL_INT_MAX + 1,))  # the first token starting past 256
    big_ints = 2 * (count - first_big) + (first_big > 0 and bounds[first_big - 1][1] > _SMALL_INT_MAX)
    return _rounded(_TUPLE_BYTES + _POINTER_BYTES * count) + _PAIR_BYTES * count + _INT_BYTES * big_ints


def _tagged_bytes(key: str | bytes, t: _Tagged) -> int:
    """Estimated memory of a line cache entry: its key and everything its ``_Tagged`` holds.

    Counted in full even where it shares objects with a shape cache entry (the
    confidences, the token kinds): either cache may keep them alive alone.
    """
    labels = t.labels
    label_bytes = (_str_bytes(labels) if isinstance(labels, str)
                   else _rounded(_TUPLE_BYTES + _POINTER_BYTES * len(labels)) if labels else 0)
    return (_TAGGED_OBJECT_BYTES + _str_bytes(key) + label_bytes + _bounds_bytes(t.bounds)
            + _floats_bytes(t.delimiter_confidence) + _FLOAT_BYTES + _str_bytes(t.token_kinds)
            + _str_bytes(t.template) + _str_bytes(t.template_id))


def _decided_bytes(shape_key: str, d: _Decided) -> int:
    """Estimated memory of a shape cache entry: the shape and everything its ``_Decided`` holds."""
    return (_DECIDED_OBJECT_BYTES + _str_bytes(shape_key) + _str_bytes(d.decisions)
            + _floats_bytes(d.delimiter_confidence) + _FLOAT_BYTES + _str_bytes(d.token_kinds or ""))
