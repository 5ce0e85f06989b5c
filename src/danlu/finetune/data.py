"""SFT data: conversations JSONL -> token ids with labels on assistant replies only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from danlu.errors import DataError
from danlu.tokenizer.chat import IGNORE_INDEX, ROLES, encode_conversation


@dataclass(frozen=True)
class Example:
    id: str
    input_ids: list[int]
    labels: list[int]


def read_conversations(path: Path) -> list[dict]:
    """Conversations `{"id", "messages": [{"role", "content"}]}`; a bad line names file:line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: SFT data file not found")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
            messages = row.get("messages") if isinstance(row, dict) else None
            if not isinstance(messages, list) or not messages:
                raise DataError(f"{path}:{n}: expected a non-empty 'messages' list")
            for m in messages:
                if not isinstance(m, dict) or m.get("role") not in ROLES \
                        or not isinstance(m.get("content"), str):
                    raise DataError(f"{path}:{n}: each message needs a role in {ROLES} "
                                    "and a string content")
            if not any(m["role"] == "assistant" for m in messages):
                raise DataError(f"{path}:{n}: conversation has no assistant reply to learn")
            rows.append({"id": str(row.get("id", f"{path.name}:{n}")), "messages": messages})
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


def split_examples(examples: list[Example], val_fraction: float) -> tuple[list, list]:
    """Deterministic split by id hash; at least one example on each side."""
    def bucket(e: Example) -> float:
        return int(hashlib.sha1(e.id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    val = [e for e in examples if bucket(e) < val_fraction]
    train = [e for e in examples if bucket(e) >= val_fraction]
    if not val or not train:
        if len(examples) < 2:
            raise DataError("SFT data: need at least two usable conversations")
        val, train = examples[:1], examples[1:]
    return train, val


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
