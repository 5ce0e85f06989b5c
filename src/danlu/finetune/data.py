"""SFT data: conversations JSONL -> token ids with labels on assistant replies only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from danlu.errors import DataError
from danlu.id_hash import split_by_id
from danlu.jsonl import jsonl_records
from danlu.tokens.chat import IGNORE_INDEX, encode_conversation, messages_problem


@dataclass(frozen=True)
class Example:
    id: str
    input_ids: list[int]
    labels: list[int]


def read_conversations(path: Path) -> list[dict]:
    """Conversations `{"id", "messages": [{"role", "content"}]}`; a bad line names file:line."""
    rows = []
    for number, row in jsonl_records(path):
        problem = messages_problem(row.get("messages"))
        if problem is None and not any(m["role"] == "assistant" for m in row["messages"]):
            problem = "conversation has no assistant reply to learn"
        if problem:
            raise DataError(f"{path}:{number}: {problem}")
        rows.append({"id": str(row.get("id", f"{Path(path).name}:{number}")),
                     "messages": row["messages"]})
    if not rows:
        raise DataError(f"{path}: no conversations")
    return rows


def encode_examples(tokenizer, conversations: list[dict], max_length: int) -> list[Example]:
    """Encode and truncate to max_length tokens; drop those left with nothing to learn."""
    out = []
    for conv in conversations:
        ids, labels = encode_conversation(tokenizer, conv["messages"])
        ids, labels = ids[:max_length], labels[:max_length]
        if any(label != IGNORE_INDEX for label in labels[1:]):
            out.append(Example(conv["id"], ids, labels))
    return out


def split_examples(examples: list[Example], val_fraction: float, seed: int
                   ) -> tuple[list[Example], list[Example]]:
    """(train, val) by hash of (seed, id), as the tokenizer splits documents; at least one
    example on each side."""
    if len(examples) < 2:
        raise DataError("SFT data: need at least two usable conversations")
    return split_by_id(examples, lambda e: e.id, val_fraction, seed)


def collate(batch: list[Example], pad_id: int):
    """Right-padded (x, y) with y = next-token labels, IGNORE_INDEX on padding and prompts."""
    import torch

    width = max(len(e.input_ids) for e in batch) - 1
    x = torch.full((len(batch), width), pad_id, dtype=torch.long)
    y = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids) - 1
        x[i, :n] = torch.tensor(e.input_ids[:-1])
        y[i, :n] = torch.tensor(e.labels[1:])
    return x, y


def shuffled_batches(examples: list[Example], batch_size: int, pad_id: int, seed: int
                     ) -> Iterator:
    """Endless epochs of seeded shuffled batches."""
    import random

    rng = random.Random(seed)
    order = list(range(len(examples)))
    size = min(batch_size, len(order))
    while True:
        rng.shuffle(order)
        for i in range(0, len(order) - size + 1, size):  # drop the ragged tail of each epoch
            yield collate([examples[j] for j in order[i:i + size]], pad_id)


def ordered_batches(examples: list[Example], batch_size: int, pad_id: int) -> Iterator:
    for i in range(0, len(examples), batch_size):
        yield collate(examples[i:i + batch_size], pad_id)
