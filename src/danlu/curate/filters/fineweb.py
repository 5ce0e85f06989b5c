"""FineWeb rules (Penedo et al. 2024, as in datatrove's FineWebQualityFilter), thresholds from
`curate.fineweb`. Lines and characters only, so they judge any script the same way."""

from __future__ import annotations

from danlu.config import FineWebConfig
from danlu.curate.document import Document
from danlu.curate.filters.base import DocumentFilter, MaxShare
from danlu.curate.filters.c4 import TerminalPunctuationLines
from danlu.curate.filters.repetition import repeated


class ShortLineRatio(MaxShare):
    """Menus, tag lists and navigation are many short lines."""

    name = "short_line_ratio"
    limit_key = "max_short_line_ratio"

    def __init__(self, maximum: float, short_line_chars: int):
        super().__init__(maximum)
        self.short_line_chars = short_line_chars
        self.measured = f"lines of <= {short_line_chars} characters"

    def share(self, doc: Document) -> float | None:
        if not doc.lines:
            return None
        return sum(1 for line in doc.lines if len(line) <= self.short_line_chars) / len(doc.lines)


class CharDuplicatesRatio(MaxShare):
    """Characters in lines that repeat an earlier line, over all characters but newlines."""

    name = "char_duplicates_ratio"
    measured = "characters in repeated lines"
    limit_key = "max_char_duplicates_ratio"

    def share(self, doc: Document) -> float | None:
        total = len(doc.text) - doc.text.count("\n")
        return repeated(doc.lines)[1] / total if total else None


class NewLineRatio(MaxShare):
    """Newlines per word: list-like pages break after every few words."""

    name = "new_line_ratio"
    measured = "newlines per word"
    limit_key = "max_new_line_ratio"

    def share(self, doc: Document) -> float | None:
        return doc.text.count("\n") / len(doc.words) if doc.words else None


def fineweb_filters(cfg: FineWebConfig) -> list[DocumentFilter]:
    """Enabled rules; a null threshold is off."""
    if not cfg.enabled:
        return []
    rules: list[DocumentFilter] = []
    if cfg.min_line_punct_ratio is not None:
        rules.append(
            TerminalPunctuationLines(
                "line_punct_ratio", cfg.min_line_punct_ratio, "min_line_punct_ratio"
            )
        )
    if cfg.max_short_line_ratio is not None:
        rules.append(ShortLineRatio(cfg.max_short_line_ratio, cfg.short_line_chars))
    if cfg.max_char_duplicates_ratio is not None:
        rules.append(CharDuplicatesRatio(cfg.max_char_duplicates_ratio))
    if cfg.max_new_line_ratio is not None:
        rules.append(NewLineRatio(cfg.max_new_line_ratio))
    return rules
