"""SFT examples: conversations -> token ids with labels on assistant replies only, truncated
to a maximum length (counted), quarantined when no reply token is left, and batched either
padded (one example a row) or packed (several a row, position ids restarting per example so
that transformers' attention mask keeps each example to itself)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from danlu.errors import DataError
from danlu.finetune.formats import Conversation, Quarantined
from danlu.id_hash import split_by_id
from danlu.tokens.chat import IGNORE_INDEX, encode_conversation


@dataclass(frozen=True)
class Example:
    id: str
    input_ids: list[int]
    labels: list[int]

    @property
    def learned(self) -> int:
        """Target tokens: labels that are not IGNORE_INDEX, after the shift to next tokens."""
        return sum(label != IGNORE_INDEX for label in self.labels[1:])


@dataclass
class Encoded:
    examples: list[Example] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    truncated: int = 0  # kept, cut to max_length


def encode_examples(tokenizer, conversations: list[Conversation], max_length: int) -> Encoded:
    """Encode and cut each conversation to max_length tokens; one left without a reply token
    is quarantined (never trained on as an all-masked row)."""
    out = Encoded()
    for conv in conversations:
        ids, labels = encode_conversation(tokenizer, conv.messages)
        if len(ids) > max_length:
            ids, labels = ids[:max_length], labels[:max_length]
            example = Example(conv.id, ids, labels)
            if not example.learned:
                out.quarantined.append(Quarantined(
                    conv.file, conv.line, f"over length: no assistant token left after "
                    f"truncation to {max_length} tokens", conv.raw))
                continue
            out.truncated += 1
            out.examples.append(example)
        else:
            out.examples.append(Example(conv.id, ids, labels))
    return out


def split_examples(examples: list, val_fraction: float, seed: int) -> tuple[list, list]:
    """(train, val) by hash of (seed, id), as the tokenizer splits documents; at least one
    example on each side."""
    if len(examples) < 2:
        raise DataError(f"need at least two usable examples, got {len(examples)}")
    return split_by_id(examples, lambda e: e.id, val_fraction, seed)


def collate(batch: list[Example], pad_id: int):
    """Right-padded (x, y) with y = next-token labels, IGNORE_INDEX on padding and prompts.
    Padding comes after each row's tokens, so causal attention never reaches it."""
    import torch

    width = max(len(e.input_ids) for e in batch) - 1
    x = torch.full((len(batch), width), pad_id, dtype=torch.long)
    y = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids) - 1
        x[i, :n] = torch.tensor(e.input_ids[:-1])
        y[i, :n] = torch.tensor(e.labels[1:])
    return x, y


def pack(examples: list[Example], capacity: int) -> list[list[Example]]:
    """Rows of consecutive examples (in the given order) holding at most `capacity` input
    tokens each (an example gives len - 1: its last token is only a target)."""
    rows: list[list[Example]] = []
    used = capacity + 1
    for e in examples:
        size = len(e.input_ids) - 1
        if used + size > capacity:
            rows.append([])
            used = 0
        rows[-1].append(e)
        used += size
    return rows


def collate_packed(rows: list[list[Example]], pad_id: int):
    """(x, y, position_ids) of packed rows: each example's inputs and next-token labels side
    by side, its positions from 0; the padding at a row's end is one more segment."""
    import torch

    lengths = [sum(len(e.input_ids) - 1 for e in row) for row in rows]
    width = max(lengths)
    x = torch.full((len(rows), width), pad_id, dtype=torch.long)
    y = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        at = 0
        for e in row:
            n = len(e.input_ids) - 1
            x[i, at:at + n] = torch.tensor(e.input_ids[:-1])
            y[i, at:at + n] = torch.tensor(e.labels[1:])
            pos[i, at:at + n] = torch.arange(n)
            at += n
        pos[i, at:] = torch.arange(width - at)
    return x, y, pos


def shuffled_batches(examples: list[Example], batch_size: int, pad_id: int, seed: int, *,
                     packed_capacity: int | None = None) -> Iterator:
    """Endless epochs of seeded shuffled batches: `batch_size` examples a batch, or
    `batch_size` packed rows of up to `packed_capacity` tokens when packing."""
    rng = random.Random(seed)
    order = list(examples)
    while True:
        rng.shuffle(order)
        if packed_capacity is None:
            units, make = order, collate
        else:
            units, make = pack(order, packed_capacity), collate_packed
        size = min(batch_size, len(units))
        for i in range(0, len(units) - size + 1, size):  # drop the ragged tail of each epoch
            yield make(units[i:i + size], pad_id)


def ordered_batches(examples: list[Example], batch_size: int, pad_id: int) -> Iterator:
    for i in range(0, len(examples), batch_size):
        yield collate(examples[i:i + batch_size], pad_id)
