"""Preference pairs as tokens: the prompt and each reply rendered with the chat template, the
labels on the final reply only (its closing <|end|> included); a pair cut to max_length that
lost either reply is quarantined. Batches put the chosen rows first, then the rejected."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from danlu.finetune.preferences import PreferencePair
from danlu.records import Quarantined
from danlu.tokens.chat import IGNORE_INDEX, encode_conversation


@dataclass(frozen=True)
class PairExample:
    id: str
    chosen: tuple[list[int], list[int]]  # (input ids, labels on the reply)
    rejected: tuple[list[int], list[int]]


@dataclass
class EncodedPairs:
    examples: list[PairExample] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    truncated: int = 0


def reply_tokens(tokenizer, prompt: list[dict], reply: str) -> tuple[list[int], list[int]]:
    """Ids of prompt + reply, labels on the reply's tokens only (earlier assistant turns of
    the prompt are context here, not what is judged)."""
    prompt_ids, _ = encode_conversation(tokenizer, prompt)
    ids, labels = encode_conversation(tokenizer, [*prompt, {"role": "assistant", "content": reply}])
    return ids, [IGNORE_INDEX] * len(prompt_ids) + labels[len(prompt_ids):]


def encode_pairs(tokenizer, pairs: list[PreferencePair], max_length: int) -> EncodedPairs:
    out = EncodedPairs()
    for pair in pairs:
        sides = [reply_tokens(tokenizer, pair.prompt, reply) for reply in (pair.chosen, pair.rejected)]
        cut = any(len(ids) > max_length for ids, _ in sides)
        sides = [(ids[:max_length], labels[:max_length]) for ids, labels in sides]
        if any(all(label == IGNORE_INDEX for label in labels[1:]) for _, labels in sides):
            out.quarantined.append(Quarantined(
                pair.file, pair.line, f"over length: a reply has no token left after truncation "
                f"to {max_length} tokens", pair.raw))
            continue
        out.truncated += cut
        out.examples.append(PairExample(pair.id, sides[0], sides[1]))
    return out


def collate_pairs(batch: list[PairExample], pad_id: int) -> dict:
    """{"ids": [2B, T] whole sequences (reward model), "x"/"y": [2B, T-1] inputs and
    next-token labels (DPO), "pairs": B, "tokens": real (unpadded) tokens}: the chosen rows first, right-padded."""
    import torch

    rows = [e.chosen for e in batch] + [e.rejected for e in batch]
    width = max(len(ids) for ids, _ in rows)
    ids_t = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels_t = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    for i, (ids, labels) in enumerate(rows):
        ids_t[i, :len(ids)] = torch.tensor(ids)
        labels_t[i, :len(labels)] = torch.tensor(labels)
    return {"ids": ids_t, "x": ids_t[:, :-1], "y": labels_t[:, 1:], "pairs": len(batch),
            "tokens": sum(len(ids) for ids, _ in rows)}


class PairBatches:
    """What objectives over pair batches share: a batch trains on its real tokens and weighs
    in a validation average by its pairs."""

    def tokens(self, batch: dict) -> int:
        return batch["tokens"]

    def weight(self, batch: dict) -> int:
        return batch["pairs"]


def pair_batches(examples: list[PairExample], batch_size: int, pad_id: int, seed: int
                 ) -> Iterator[dict]:
    """Endless epochs of seeded shuffled batches of pairs."""
    rng = random.Random(seed)
    order = list(examples)
    size = min(batch_size, len(order))
    while True:
        rng.shuffle(order)
        for i in range(0, len(order) - size + 1, size):
            yield collate_pairs(order[i:i + size], pad_id)


def ordered_pair_batches(examples: list[PairExample], batch_size: int, pad_id: int
                         ) -> Iterator[dict]:
    for i in range(0, len(examples), batch_size):
        yield collate_pairs(examples[i:i + batch_size], pad_id)
