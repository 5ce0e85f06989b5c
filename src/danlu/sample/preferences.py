"""Preference pairs for the sample, from its own SFT conversations: the conversation up to its
last reply is the prompt, that reply is chosen, and the rejected reply is one a reward model
should learn to rank lower: the answer to another question (mismatched), the reply cut off
mid-way, or an answer that says nothing."""

from __future__ import annotations

import random

MISMATCHED_SHARE = 0.6
TRUNCATED_SHARE = 0.2  # the rest: an empty answer
EMPTY_ANSWERS = (
    "I am not sure.", "That is part of Python.", "It depends.",
    "You can look it up in the documentation.", "Yes.",
)


def _rejected(reply: str, others: list[str], rng: random.Random) -> tuple[str, str]:
    """(kind, rejected reply) different from `reply`."""
    draw = rng.random()
    words = reply.split()
    if MISMATCHED_SHARE <= draw < MISMATCHED_SHARE + TRUNCATED_SHARE and len(words) >= 4:
        return "truncated", " ".join(words[: max(1, len(words) * 2 // 5)])
    if draw >= MISMATCHED_SHARE + TRUNCATED_SHARE:
        return "empty", rng.choice(EMPTY_ANSWERS)
    while True:
        other = rng.choice(others)
        if other != reply:
            return "mismatched", other


def preference_pairs(conversations: list[dict], rng: random.Random) -> list[dict]:
    """TRL's conversational preference format: {id, prompt: messages, chosen: [assistant
    message], rejected: [assistant message], kind}."""
    replies = [c["messages"][-1]["content"] for c in conversations]
    pairs = []
    for conversation, reply in zip(conversations, replies):
        kind, rejected = _rejected(reply, replies, rng)
        pairs.append({
            "id": conversation["id"].replace("sft-", "pref-"),
            "prompt": conversation["messages"][:-1],
            "chosen": [{"role": "assistant", "content": reply}],
            "rejected": [{"role": "assistant", "content": rejected}],
            "kind": kind,
        })
    return pairs
