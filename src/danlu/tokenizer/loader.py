"""Batches of (x, y) windows from memory-mapped token shards, for pretraining and validation.

A window is seq_len + 1 consecutive tokens of one shard (windows never cross shards; they do
cross document boundaries, which the BOS tokens mark): x is its first seq_len tokens, y the
last seq_len, both int64 tensors of shape (batch_size, seq_len).

- mode="random" (training, endless): each epoch cuts every shard into non-overlapping windows
  at a random shift in [0, seq_len), and shuffles all windows; the epoch's order comes from
  numpy's Generator seeded with (seed, epoch). Every batch is full; an epoch's leftover
  windows (fewer than batch_size x world_size) are skipped.
- mode="sequential" (validation, finite): windows at 0, seq_len, 2*seq_len, ... of each shard
  in order, one pass, then StopIteration; the last batch may hold fewer rows, and ranks may
  differ by one batch. `reset()` starts a new pass (the loader is its own iterator, so a
  second `for` loop continues where the first stopped, it does not restart).

Ranks take global batches r, r + world_size, r + 2*world_size, ... of the same order, so they
see disjoint windows. `state_dict()` is small (epoch and step); a loader built with the same
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
from danlu.tokenizer.shards import Shard, open_shard

STATE_FORMAT = 1


@dataclass(frozen=True)
class _Layout:
    """The windows of one epoch: window w lives in shard searchsorted(ends, w, 'right')."""

    shifts: np.ndarray  # per shard, first window start
    ends: np.ndarray  # cumulative window counts per shard
    order: np.ndarray | None  # window visit order (None: in order)

    @property
    def num_windows(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0


class TokenLoader:
    """Iterator of (x, y) LongTensor batches over token shards; see the module docstring."""

    def __init__(
        self,
        paths: Sequence[Path],
        batch_size: int,
        seq_len: int,
        *,
        seed: int,
        mode: Literal["random", "sequential"] = "random",
        rank: int = 0,
        world_size: int = 1,
    ):
        if mode not in ("random", "sequential"):
            raise ValueError(f"mode must be 'random' or 'sequential', got {mode!r}")
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
        self.step = 0  # batches this rank has taken in the current epoch (random) or pass
        self._layout: _Layout | None = None
        self._check_enough_tokens()

    @property
    def _names(self) -> str:
        return ", ".join(map(str, self.paths))

    def _check_enough_tokens(self) -> None:
        if self.mode == "random":
            # The largest shift leaves the fewest windows: every epoch gives each rank a batch.
            have = int(self._window_counts(np.full(len(self.shards), self.seq_len - 1)).sum())
            need = self.batch_size * self.world_size
        else:
            have = int(self._window_counts(np.zeros(len(self.shards), dtype=np.int64)).sum())
            need = (self.world_size - 1) * self.batch_size + 1  # one batch, maybe short, per rank
        if have < need:
            raise DataError(
                f"{self._names}: {self.num_tokens} tokens make {have} windows of "
                f"{self.seq_len + 1} tokens; {self.mode} batches of {self.batch_size} on "
                f"{self.world_size} rank(s) need at least {need}"
            )

    def _window_counts(self, shifts: np.ndarray) -> np.ndarray:
        return np.maximum(0, (self._sizes - 1 - shifts) // self.seq_len)

    def _epoch_layout(self) -> _Layout:
        if self._layout is None:
            if self.mode == "sequential":
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

    @property
    def num_batches(self) -> int:
        """Batches this rank takes per epoch (random) or per pass (sequential)."""
        windows = self._epoch_layout().num_windows
        if self.mode == "random":
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
        layout = self._epoch_layout()
        first = (self.step * self.world_size + self.rank) * self.batch_size
        picked = np.arange(first, min(first + self.batch_size, layout.num_windows))
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
        tokens = torch.from_numpy(rows)
        return tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()

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
