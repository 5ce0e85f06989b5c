"""Choices made by a document's id, not by its position: a salted hash of (seed, id) mapped to
[0, 1). A document then stays on its side of a split when others are added or the files are
read in another order, and the same seed makes the same choice on any machine or shard.
Used for every such choice: the tokenizer's validation split and BPE sample, the SFT
validation split, GPT-3's Pareto draw in the quality filter."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def unit_hash(seed: int, key: str) -> float:
    """A uniform number in [0, 1) from (seed, key)."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def split_by_id(items: Sequence[T], key: Callable[[T], str], fraction: float, seed: int
                ) -> tuple[list[T], list[T]]:
    """(kept, held out): an item is held out when its hash falls below `fraction`. Each side
    keeps at least one item when there are two: a small set that hashes to one side only gives
    up its nearest item across the threshold. Order is kept on both sides."""
    scores = [unit_hash(seed, key(item)) for item in items]
    held = {i for i, h in enumerate(scores) if h < fraction}
    if len(items) >= 2:
        if not held:
            held = {min(range(len(items)), key=scores.__getitem__)}
        elif len(held) == len(items):
            held.discard(max(range(len(items)), key=scores.__getitem__))
    return ([x for i, x in enumerate(items) if i not in held],
            [x for i, x in enumerate(items) if i in held])
