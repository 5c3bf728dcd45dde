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
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from . import charclass, checkpoint
from .charclass import class_string
from .lru import LRU
from .spans import Span, spans_at, token_bounds
from .templates import KINDS, kinds_of_tokens, template_and_fields, template_id, template_of_tokens
from .text import needs_rewrite, rewrite
from .tiles import TileRunner
from .vocab import cache_key, key_text, shape

log = logging.getLogger(__name__)

_SPACE, _PUNCT = ord(charclass.SPACE), ord(charclass.PUNCT)
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


def keep_freed_memory() -> None:
    """Stop glibc from handing freed activation buffers back to the OS after every batch.

    By default blocks above the mmap threshold are unmapped when freed and
    page-faulted in again by the next batch: that about doubled the network's time per
    line on a 2-core CPU. Freed memory stays in the process instead, so its resident size
    is that of its largest batch. And every thread allocates from one arena: with a
    glibc arena per tile thread (``parallel_tiles``) each kept its own largest batch's
    buffers (docs/performance.md). No-op off glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
    libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)  # glibc's maximum
    libc.mallopt(m_trim_threshold, 256 * 1024 * 1024)
    libc.mallopt(m_arena_max, 1)


_CLASS_LABEL = str.maketrans("as", "OD")
_VOTE_ORDER = ("V", "C", "F")  # a tie between kinds goes to the first


def char_classes(line: str) -> np.ndarray:
    """``charclass.class_string`` as uint8 codes."""
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
        template_fields: per wildcard of the template, ``F`` when it starts with a header
            field, else ``V`` (``templates.template_and_fields``; '' without kinds).
    """

    __slots__ = (
        "line",
        "labels",
        "bounds",
        "delimiter_confidence",
        "min_confidence",
        "token_kinds",
        "template",
        "template_id",
        "template_fields",
    )

    def __init__(
        self,
        line: str,
        labels: str | list[str],
        bounds: tuple[tuple[int, int], ...] = (),
        delimiter_confidence: tuple[float, ...] = (),
        min_confidence: float = 1.0,
        token_kinds: str = "",
        template: str = "",
        template_id: str = "",
        template_fields: str = "",
    ) -> None:
        self.line = line
        self.labels = labels
        self.bounds = bounds
        self.delimiter_confidence = delimiter_confidence
        self.min_confidence = min_confidence
        self.token_kinds = token_kinds
        self.template = template
        self.template_id = template_id
        self.template_fields = template_fields

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
    template_fields: str = ""
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
    synchronise. Batch jobs (``logdelim tag``, the bench's tagger figures) use every
    core; the daemon's tagging process ``model.parallel_tiles``.

    ``cache_size`` bounds each cache in entries (0: no cache). ``cache_max_bytes``
    bounds both together in bytes, half each (see ``_SHAPE_SHARE``); None: entries
    only; 0: nothing is kept between calls. Entries are counted at what they are
    estimated to hold (``_tagged_bytes``, ``_decided_bytes``), so a process holding
    the engine stays near its resident size at start, plus its batches' working
    memory, plus this bound.
    """

    def __init__(
        self,
        ckpt: checkpoint.Checkpoint,
        device: str = "auto",
        num_threads: int | None = None,
        quantize: bool = False,
        cache_size: int = 200_000,
        max_batch_lines: int = 512,
        window_chars: int = 512,
        window_margin_chars: int = 64,
        parallel_tiles: int = 1,
        cache_max_bytes: int | None = None,
    ) -> None:
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
        self.cache_hits = 0
        self.cache_misses = 0
        self._runner = TileRunner(
            self._model,
            self._vocab,
            self._device,
            self._num_labels,
            max_batch_lines=max_batch_lines,
            window_chars=window_chars,
            window_margin_chars=window_margin_chars,
            parallel_tiles=parallel_tiles,
        )

    @classmethod
    def load(
        cls,
        path: str | None = None,
        device: str = "auto",
        num_threads: int | None = None,
        quantize: bool = False,
        cache_size: int = 200_000,
        cache_max_bytes: int | None = None,
        **kwargs: int,
    ) -> Engine:
        """An engine for the checkpoint at ``path`` (the shipped default when None); see :class:`Engine`."""
        return cls(
            checkpoint.load(path),
            device=device,
            num_threads=num_threads,
            quantize=quantize,
            cache_size=cache_size,
            cache_max_bytes=cache_max_bytes,
            **kwargs,
        )

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
            return [self._finish_labels(label, prob, kind) for label, prob, kind in self._runner.run(keys)], len(keys)
        shapes = [shape(key) for key in keys]
        if not cached:
            return [self._expand(key, d) for key, d in zip(keys, self._decide(shapes, self._runner.run(shapes)))], len(
                keys
            )
        decided, todo = self._shapes.get_many(shapes)
        put = self._shapes.put
        for s, d in zip(todo, self._decide(todo, self._runner.run(todo))):
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
        return TagResult(
            line,
            labels,
            t.bounds,
            t.delimiter_confidence,
            t.min_confidence,
            t.token_kinds,
            text,
            text_id,
            t.template_fields,
        )

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
        needs_rewrite("e\u0301")  # builds rule 5's pattern of every combining mark (about a second) now
        return time.perf_counter() - started + self._runner.warm_up()

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
        return [
            _Decided(decisions[p0:p1], tuple(delimiter_prob[d0:d1]), next(lowest) if present else 1.0, k)
            for p0, p1, d0, d1, present, k in zip(
                punct_ends, punct_ends[1:], delimiter_ends, delimiter_ends[1:], has_punct, kind_of
            )
        ]

    def _token_kinds(
        self, delimiter: np.ndarray, digit: np.ndarray, kind: np.ndarray, line_bounds: np.ndarray
    ) -> list[str]:
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
        text, fields = template_and_fields(key, bounds, d.token_kinds)
        # A digit in the template is in a constant token: the gaps between tokens are delimiters,
        # which are never digits, and the rest is <*>.
        return _Tagged(
            labels,
            bounds,
            d.delimiter_confidence,
            d.min_confidence,
            d.token_kinds,
            text,
            template_id(text),
            fields,
            "0" in text,
        )


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
    label_bytes = (
        _str_bytes(labels)
        if isinstance(labels, str)
        else _rounded(_TUPLE_BYTES + _POINTER_BYTES * len(labels))
        if labels
        else 0
    )
    return (
        _TAGGED_OBJECT_BYTES
        + _str_bytes(key)
        + label_bytes
        + _bounds_bytes(t.bounds)
        + _floats_bytes(t.delimiter_confidence)
        + _FLOAT_BYTES
        + _str_bytes(t.token_kinds)
        + _str_bytes(t.template)
        + _str_bytes(t.template_id)
        + _str_bytes(t.template_fields)
    )


def _decided_bytes(shape_key: str, d: _Decided) -> int:
    """Estimated memory of a shape cache entry: the shape and everything its ``_Decided`` holds."""
    return (
        _DECIDED_OBJECT_BYTES
        + _str_bytes(shape_key)
        + _str_bytes(d.decisions)
        + _floats_bytes(d.delimiter_confidence)
        + _FLOAT_BYTES
        + _str_bytes(d.token_kinds or "")
    )
