"""Batches of (x, y) rows from memory-mapped token shards, for pretraining and validation.

A row is seq_len + 1 tokens: x is its first seq_len tokens, y the last seq_len, both int64
tensors of shape (batch_size, seq_len). Three modes say how rows are cut:

- mode="random" (training, endless): random windows. Each epoch cuts every shard into
  non-overlapping windows of consecutive tokens at a random shift in [0, seq_len), and
  shuffles all windows. Windows never cross shards; they do cross document boundaries (and
  mostly start mid-document), which the BOS tokens mark. Every token but a shard's ends is used.
- mode="bos" (training, endless): BOS-aligned packing. Each epoch shuffles the documents of
  all shards and lays them end to end; every row starts at a document's BOS and runs on into
  the following documents until it holds seq_len + 1 tokens; the rest of the document that
  fills it is dropped and the next row starts at the next document's BOS. So the model always
  sees a document's start, at the price of the dropped tails (a document longer than a row
  keeps only its first seq_len + 1 tokens): `epoch_tokens` says how many an epoch uses.
  In both training modes the epoch's order comes from numpy's Generator seeded with
  (seed, epoch); every batch is full and an epoch's leftover rows (fewer than
  batch_size x world_size) are skipped.
- mode="sequential" (validation, finite): windows at 0, seq_len, 2*seq_len, ... of each shard
  in order, one pass, then StopIteration; the last batch may hold fewer rows, and ranks may
  differ by one batch. `reset()` starts a new pass (the loader is its own iterator, so a
  second `for` loop continues where the first stopped, it does not restart).

Distributed training: every rank builds the same epoch order (same seed, same shards) and
global batch g is rows g*B*W .. (g+1)*B*W - 1 of it (B = batch_size, W = world_size); rank r
takes its rows g*B*W + r*B .. g*B*W + (r+1)*B - 1. So the ranks' batches at one step are
disjoint, and together they are exactly the rows one rank with batch_size B*W would get at
that step, in rank order. `state_dict()` is small (epoch and step); a loader built with the same
arguments and given `load_state_dict(state)` yields exactly the batches that would have come
next.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from danlu.errors import DataError
from danlu.tokens.shards import Shard, open_shard

STATE_FORMAT = 1
Mode = Literal["random", "bos", "sequential"]
MODES = ("random", "bos", "sequential")


@dataclass(frozen=True)
class _Layout:
    """The windows of one epoch: window w lives in shard searchsorted(ends, w, 'right')."""

    shifts: np.ndarray  # per shard, first window start
    ends: np.ndarray  # cumulative window counts per shard
    order: np.ndarray | None  # window visit order (None: in order)

    @property
    def num_windows(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0


@dataclass(frozen=True)
class _Packing:
    """The rows of one BOS-aligned epoch: row i packs documents order[firsts[i]:firsts[i+1]]."""

    order: np.ndarray  # document visit order (indices into the loader's document table)
    firsts: np.ndarray  # per row, its first document's position in `order`; one extra at the end

    @property
    def num_windows(self) -> int:
        return len(self.firsts) - 1


class TokenLoader:
    """Iterator of (x, y) LongTensor batches over token shards; see the module docstring."""

    def __init__(
        self,
        paths: Sequence[Path],
        batch_size: int,
        seq_len: int,
        *,
        seed: int,
        mode: Mode = "random",
        rank: int = 0,
        world_size: int = 1,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if batch_size < 1 or seq_len < 1:
            raise ValueError(f"batch_size and seq_len must be positive: {batch_size}, {seq_len}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
        if not paths:
            raise DataError("TokenLoader: no token shards given")
        self.paths = [Path(p) for p in paths]
        self.shards: list[Shard] = [open_shard(p) for p in self.paths]
        vocab_sizes = {s.vocab_size for s in self.shards}
        if len(vocab_sizes) > 1:
            raise DataError(f"{self._names}: shards of different vocab sizes {sorted(vocab_sizes)}")
        self.vocab_size = vocab_sizes.pop()
        self.batch_size, self.seq_len, self.seed, self.mode = batch_size, seq_len, seed, mode
        self.rank, self.world_size = rank, world_size
        self.num_tokens = sum(s.num_tokens for s in self.shards)
        self._sizes = np.array([s.num_tokens for s in self.shards], dtype=np.int64)
        self.epoch = 0
        self.step = 0  # batches this rank has taken in the current epoch or pass
        self._layout: _Layout | _Packing | None = None
        if mode == "bos":
            self._doc_table()
        self._check_enough_tokens()

    @property
    def _names(self) -> str:
        return ", ".join(map(str, self.paths))

    def _doc_table(self) -> None:
        """Every document of every shard: its shard, first token and length (BOS included)."""
        shard_of, starts, lengths = [], [], []
        for i, shard in enumerate(self.shards):
            offsets = np.asarray(shard.offsets, dtype=np.int64)
            shard_of.append(np.full(len(offsets) - 1, i, dtype=np.int32))
            starts.append(offsets[:-1])
            lengths.append(np.diff(offsets))
        self._doc_shard = np.concatenate(shard_of)
        self._doc_start = np.concatenate(starts)
        self._doc_len = np.concatenate(lengths)

    def _check_enough_tokens(self) -> None:
        if self.mode == "bos":
            # The rows depend on the order: epoch 0's stand for all (they differ by a few; an
            # epoch that still packs too few raises when it starts).
            have = self._epoch_layout().num_windows
            need = self.batch_size * self.world_size
        elif self.mode == "random":
            # The largest shift leaves the fewest windows: every epoch gives each rank a batch.
            have = int(self._window_counts(np.full(len(self.shards), self.seq_len - 1)).sum())
            need = self.batch_size * self.world_size
        else:
            have = int(self._window_counts(np.zeros(len(self.shards), dtype=np.int64)).sum())
            need = (self.world_size - 1) * self.batch_size + 1  # one batch, maybe short, per rank
        if have < need:
            raise DataError(
                f"{self._names}: {self.num_tokens} tokens make {have} rows of "
                f"{self.seq_len + 1} tokens; {self.mode} batches of {self.batch_size} on "
                f"{self.world_size} rank(s) need at least {need}"
            )

    def _window_counts(self, shifts: np.ndarray) -> np.ndarray:
        return np.maximum(0, (self._sizes - 1 - shifts) // self.seq_len)

    def _epoch_layout(self) -> _Layout | _Packing:
        if self._layout is None:
            if self.mode == "bos":
                self._layout = self._pack()
            elif self.mode == "sequential":
                shifts = np.zeros(len(self.shards), dtype=np.int64)
                ends = np.cumsum(self._window_counts(shifts))
                self._layout = _Layout(shifts=shifts, ends=ends, order=None)
            else:
                rng = np.random.default_rng([self.seed, self.epoch])
                shifts = rng.integers(0, self.seq_len, size=len(self.shards))
                ends = np.cumsum(self._window_counts(shifts))
                order = rng.permutation(int(ends[-1]))
                self._layout = _Layout(shifts=shifts, ends=ends, order=order)
        return self._layout

    def _pack(self) -> _Packing:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self._doc_len))
        ends = np.cumsum(self._doc_len[order])  # tokens up to and including each document
        row = self.seq_len + 1
        firsts, first, total = [], 0, int(ends[-1]) if len(ends) else 0
        before = 0  # tokens of the documents ahead of `first`
        while total - before >= row:
            firsts.append(first)
            # The first document whose end reaches a full row closes it; its tail is dropped.
            first = int(np.searchsorted(ends, before + row, side="left")) + 1
            before = int(ends[first - 1])
        firsts.append(first)
        return _Packing(order=order, firsts=np.asarray(firsts, dtype=np.int64))

    @property
    def epoch_tokens(self) -> int:
        """Tokens this epoch's rows hold, all ranks together (the rest is dropped)."""
        rows = self._epoch_layout().num_windows
        if self.mode != "sequential":
            rows = rows // (self.batch_size * self.world_size) * self.batch_size * self.world_size
        return rows * (self.seq_len + 1)

    @property
    def num_batches(self) -> int:
        """Batches this rank takes per epoch (random, bos) or per pass (sequential)."""
        windows = self._epoch_layout().num_windows
        if self.mode != "sequential":
            return windows // self.batch_size // self.world_size
        global_batches = -(-windows // self.batch_size)
        return len(range(self.rank, global_batches, self.world_size))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.step >= self.num_batches:
            if self.mode == "sequential":
                raise StopIteration
            self.epoch, self.step, self._layout = self.epoch + 1, 0, None
            if self.num_batches == 0:
                raise DataError(f"{self._names}: epoch {self.epoch} packs too few rows for a batch")
        layout = self._epoch_layout()
        first = (self.step * self.world_size + self.rank) * self.batch_size
        picked = np.arange(first, min(first + self.batch_size, layout.num_windows))
        if isinstance(layout, _Packing):
            batch = self._gather_packed(layout, picked)
        else:
            if layout.order is not None:
                picked = layout.order[picked]
            batch = self._gather(layout, picked)
        self.step += 1
        return batch

    def _gather(self, layout: _Layout, windows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        shard_of = np.searchsorted(layout.ends, windows, side="right")
        before = np.concatenate([[0], layout.ends[:-1]])
        starts = layout.shifts[shard_of] + (windows - before[shard_of]) * self.seq_len
        rows = np.empty((len(windows), self.seq_len + 1), dtype=np.int64)
        span = np.arange(self.seq_len + 1)
        for s in np.unique(shard_of):
            mine = shard_of == s
            rows[mine] = self.shards[s].tokens[starts[mine, None] + span]
        return _split(rows)

    def _gather_packed(
        self, packing: _Packing, rows_at: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.empty((len(rows_at), self.seq_len + 1), dtype=np.int64)
        for out, r in zip(rows, rows_at):
            filled = 0
            for doc in packing.order[packing.firsts[r] : packing.firsts[r + 1]]:
                take = min(int(self._doc_len[doc]), len(out) - filled)
                start = int(self._doc_start[doc])
                tokens = self.shards[self._doc_shard[doc]].tokens
                out[filled : filled + take] = tokens[start : start + take]
                filled += take
        return _split(rows)

    def reset(self) -> None:
        """Start again at the first batch of epoch 0 (a new validation pass)."""
        self.epoch, self.step, self._layout = 0, 0, None

    def state_dict(self) -> dict:
        return {
            "format": STATE_FORMAT,
            "mode": self.mode,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "seq_len": self.seq_len,
            "rank": self.rank,
            "world_size": self.world_size,
            "num_tokens": self.num_tokens,
            "epoch": self.epoch,
            "step": self.step,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue where the loader that saved `state` stopped; its arguments must match ours."""
        mine = self.state_dict()
        for key in sorted(mine.keys() - {"epoch", "step"}):
            if state.get(key) != mine[key]:
                raise DataError(
                    f"loader state was saved with {key}={state.get(key)!r}; "
                    f"this loader has {key}={mine[key]!r}"
                )
        self.epoch, self.step, self._layout = int(state["epoch"]), int(state["step"]), None


def _split(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.from_numpy(rows)
    return tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()
