"""Held-out passages for validation loss, checked against every training text for leakage."""

from __future__ import annotations

import re

from danlu.sample.doc_blocks import Doc, normalized

LEAK_PREFIX_CHARS = 200
LEAK_PARAGRAPH_CHARS = 80


class TrainingText:
    """All text the model may train on, normalized, to test passages against."""

    def __init__(self, texts: list[str]):
        paragraphs = (p for text in texts for p in re.split(r"\n\s*\n", text))
        self.paragraphs = {normalized(p) for p in paragraphs if len(normalized(p)) >= LEAK_PARAGRAPH_CHARS}
        self.joined = "\n".join(normalized(text) for text in texts)

    def leaks(self, text: str) -> bool:
        if normalized(text)[:LEAK_PREFIX_CHARS] in self.joined:
            return True
        return any(normalized(p) in self.paragraphs for p in re.split(r"\n\s*\n", text))


def _cut(text: str, max_chars: int) -> str:
    """The longest run of whole sentences that fits in max_chars."""
    kept = ""
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if len(kept) + len(sentence) + 1 > max_chars:
            break
        kept = f"{kept} {sentence}".strip()
    return kept


def doc_passages(doc: Doc, min_chars: int, max_chars: int) -> list[str]:
    """Consecutive blocks of a doc grouped into passages of min_chars..max_chars."""
    passages, current = [], ""
    target = (min_chars + max_chars) // 2
    for block in doc.blocks:
        text = block.text if len(block.text) <= max_chars else _cut(block.text, max_chars)
        if current and len(current) + len(text) + 2 > max_chars:
            if len(current) >= min_chars:
                passages.append(current)
            current = ""
        current = f"{current}\n\n{text}" if current else text
        if len(current) >= target:
            passages.append(current)
            current = ""
    if len(current) >= min_chars:
        passages.append(current)
    return passages


def heldout_passages(
    docs: list[Doc], training: TrainingText, min_chars: int, max_chars: int, per_doc: int, limit: int
) -> list[str]:
    passages = []
    for doc in docs:
        clean = [p for p in doc_passages(doc, min_chars, max_chars) if not training.leaks(p)]
        passages.extend(clean[:per_doc])
    return passages[:limit]
