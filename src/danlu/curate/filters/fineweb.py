"""FineWeb rules (Penedo et al. 2024, as in datatrove's FineWebQualityFilter), thresholds from
`curate.fineweb`. Lines and characters only, so they judge any script the same way."""

from __future__ import annotations

from danlu.config import FineWebConfig
from danlu.curate.document import Document
from danlu.curate.filters.base import DocumentFilter
from danlu.curate.filters.c4 import TerminalPunctuationLines


class ShortLineRatio(DocumentFilter):
    """Menus, tag lists and navigation are many short lines."""

    name = "short_line_ratio"

    def __init__(self, maximum: float, short_line_chars: int):
        self.maximum, self.short_line_chars = maximum, short_line_chars

    def check(self, doc: Document) -> str | None:
        if not doc.lines:
            return None
        short = sum(1 for line in doc.lines if len(line) <= self.short_line_chars)
        fraction = short / len(doc.lines)
        if fraction > self.maximum:
            what = f"lines of <= {self.short_line_chars} characters"
            return f"{what} {fraction:.3f} > max_short_line_ratio={self.maximum}"
        return None


class CharDuplicatesRatio(DocumentFilter):
    """Characters in lines that repeat an earlier line, over all characters but newlines."""

    name = "char_duplicates_ratio"

    def __init__(self, maximum: float):
        self.maximum = maximum

    def check(self, doc: Document) -> str | None:
        total = len(doc.text) - doc.text.count("\n")
        if not total:
            return None
        seen: set[str] = set()
        duplicated = 0
        for line in doc.lines:
            if line in seen:
                duplicated += len(line)
            seen.add(line)
        fraction = duplicated / total
        if fraction > self.maximum:
            limit = f"max_char_duplicates_ratio={self.maximum}"
            return f"characters in repeated lines {fraction:.3f} > {limit}"
        return None


class NewLineRatio(DocumentFilter):
    """Newlines per word: list-like pages break after every few words."""

    name = "new_line_ratio"

    def __init__(self, maximum: float):
        self.maximum = maximum

    def check(self, doc: Document) -> str | None:
        if not doc.words:
            return None
        ratio = doc.text.count("\n") / len(doc.words)
        if ratio > self.maximum:
            return f"newlines per word {ratio:.3f} > max_new_line_ratio={self.maximum}"
        return None


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
