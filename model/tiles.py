"""Network calls for the engine: lines cut into windows, packed into padded tiles, run.

``TileRunner.run`` takes distinct network inputs and returns, per character, the
network's label index, its probability and the kind index. Long lines are cut into
overlapping windows (each keeps the labels of its centre); the pieces are sorted by
length and packed into tiles, trading padding against the number of calls; tiles
run one after another or, with ``parallel_tiles``, on several threads (torch
releases the GIL inside the network).
"""

from __future__ import annotations

import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import torch

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


def padded_rows(rows: int) -> int:
    """Rows a tile of ``rows`` lines is padded to: the next power of two."""
    return 1 << (rows - 1).bit_length()


def padded_width(width: int) -> int:
    """Width a tile is padded to: a multiple of ``_WIDTH_STEP``."""
    return max(1, -(-width // _WIDTH_STEP)) * _WIDTH_STEP


class Piece(NamedTuple):
    """One row of a tile: characters ``[start, end)`` of input ``line``, whose labels in
    ``[keep_start, keep_end)`` are kept (the rest is context of a window)."""

    line: int
    start: int
    end: int
    keep_start: int
    keep_end: int


class TileRunner:
    """Runs ``model`` on batches of inputs in tiles of padded sizes (see the module doc).

    Args:
        model: the network, on ``device``, in eval mode.
        vocab: its vocabulary (``encode_array``).
        device: where the network runs.
        num_labels: size of the label alphabet (the kind logits follow it in the output).
        max_batch_lines: most rows of a tile (on a CPU also at most ``_TILE_ROWS``).
        window_chars: longest window the network sees at once.
        window_margin_chars: context on each side of a window's kept centre.
        parallel_tiles: tiles run at once (threads).
    """

    def __init__(
        self,
        model: Any,
        vocab: Any,
        device: torch.device,
        num_labels: int,
        *,
        max_batch_lines: int,
        window_chars: int,
        window_margin_chars: int,
        parallel_tiles: int,
    ) -> None:
        self._model = model
        self._vocab = vocab
        self._device = device
        self._num_labels = num_labels
        self.max_batch_lines = max_batch_lines
        self.window_chars = window_chars
        self.window_margin_chars = window_margin_chars
        self._pool = (
            ThreadPoolExecutor(parallel_tiles, thread_name_prefix="logdelim-tile") if parallel_tiles > 1 else None
        )
        if self._pool is not None:
            weakref.finalize(self, self._pool.shutdown, wait=False)

    def warm_up(self) -> float:
        """Build the network's kernels for the small padded tile sizes; returns the seconds it took."""
        started = time.perf_counter()
        for width in range(_WIDTH_STEP, padded_width(self.window_chars) + 1, _WIDTH_STEP):
            rows = 1
            while rows <= _WARM_ROWS:
                self.forward(torch.zeros(rows, width, dtype=torch.int64), torch.ones(rows, dtype=torch.int64))
                rows *= 2
        return time.perf_counter() - started

    def windows(self, length: int) -> list[tuple[int, int, int, int]]:
        """``(window_start, window_end, keep_start, keep_end)`` covering a line fully.

        Long lines are cut into overlapping windows; each keeps the labels of its
        centre, where the network had context on both sides.
        """
        if length <= self.window_chars:
            return [(0, length, 0, length)]
        margin = self.window_margin_chars
        core = self.window_chars - 2 * margin
        return [
            (max(0, s - margin), min(length, s + core + margin), s, min(length, s + core))
            for s in range(0, length, core)
        ]

    def run(self, keys: list[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The network's label index, its probability and the kind index for every character of each input."""
        pieces = [Piece(i, *w) for i, key in enumerate(keys) for w in self.windows(len(key))]
        pieces.sort(key=lambda p: p.end - p.start)
        # A line in one window takes its row of the output as it is; a longer one is assembled.
        windowed = {i for i, start, end, _, _ in pieces if end - start < len(keys[i])}
        # A windowed line's rows are assembled into these; any other line's slot takes its row below.
        chosen: list[Any] = [np.zeros(len(k), dtype=np.int64) if i in windowed else None for i, k in enumerate(keys)]
        confidence: list[Any] = [
            np.ones(len(k), dtype=np.float32) if i in windowed else None for i, k in enumerate(keys)
        ]
        kind: list[Any] = [np.zeros(len(k), dtype=np.int64) if i in windowed else None for i, k in enumerate(keys)]
        tiles = self._tiles(pieces)

        def call(batch: list[Piece]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return self.forward(*self._tile_input(keys, batch))

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

    def _tile_input(self, keys: list[str], batch: list[Piece]) -> tuple[torch.Tensor, torch.Tensor]:
        """Ids ``[rows, width]`` and lengths of one network call, padded to a tile size."""
        width = padded_width(max(end - start for _, start, end, _, _ in batch))
        rows = padded_rows(len(batch))
        ids = np.zeros((rows, width), dtype=np.int64)
        # One encoding for the whole tile, then each row's slice of it.
        encoded = self._vocab.encode_array("".join(keys[i][start:end] for i, start, end, _, _ in batch))
        position = 0
        for row, (_, start, end, _, _) in enumerate(batch):
            ids[row, : end - start] = encoded[position : position + end - start]
            position += end - start
        # Padding rows: length 1, all padding; their output is dropped.
        lengths = torch.tensor([max(1, end - start) for _, start, end, _, _ in batch] + [1] * (rows - len(batch)))
        return torch.from_numpy(ids), lengths

    def _tiles(self, pieces: list[Piece]) -> list[list[Piece]]:
        """Split length-sorted pieces into network calls, trading padding against calls.

        Growing a call of B rows from width T to a longer piece pads every row:
        ``(length - T) * (B + STEP)`` more cells. That is worth it while it costs less
        than a new call would for the piece: ``CALL + length * STEP``. A call then
        takes a power of two of rows (see ``padded_rows``), the largest that fits, so
        few rows are padding.
        """
        limit = min(self.max_batch_lines, _TILE_ROWS if self._device.type == "cpu" else self.max_batch_lines)
        batches: list[list[Piece]] = []
        width = 0
        for piece in pieces:
            length = piece.end - piece.start
            if (
                not batches
                or len(batches[-1]) >= limit
                or (length - width) * (len(batches[-1]) + _STEP_OVERHEAD_ROWS)
                > _CALL_OVERHEAD_CELLS + length * _STEP_OVERHEAD_ROWS
            ):
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

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probability and index of the most likely label per character, and the most likely kind's index
        (zeros without a kind head)."""
        if self._device.type == "cuda":
            ids = ids.pin_memory().to(self._device, non_blocking=True)
            lengths = lengths.pin_memory().to(self._device, non_blocking=True)
        with torch.inference_mode():
            output = self._model(ids, lengths).float()
            logits = output[..., : self._num_labels]
            kind = (
                output[..., self._num_labels :].argmax(dim=-1)
                if output.shape[-1] > self._num_labels
                else torch.zeros(output.shape[:-1], dtype=torch.int64)
            )
            if logits.shape[-1] == 2:
                # Two labels: the winner's probability is sigmoid(|margin|); a softmax over a
                # last dimension of 2 costs several times more on the CPU.
                margin = logits[..., 1] - logits[..., 0]
                return torch.sigmoid(margin.abs()).cpu().numpy(), (margin > 0).long().cpu().numpy(), kind.cpu().numpy()
            prob, label = torch.softmax(logits, dim=-1).max(dim=-1)
        return prob.cpu().numpy(), label.cpu().numpy(), kind.cpu().numpy()
