"""Gopher quality rules (Rae et al. 2021, appendix A), thresholds from `curate.filters`.

Words come from `split_words`, so Chinese and Japanese count one word per character; the two
rules that only make sense for space-separated English (mean word length, stop words) skip
text they cannot judge instead of dropping every CJK page.
"""

from __future__ import annotations

import string

from danlu.config import FiltersConfig
from danlu.curate.document import Document
from danlu.curate.filters.base import DocumentFilter, MaxShare
from danlu.curate.words import is_cjk_word

STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
_PUNCTUATION = string.punctuation + "“”‘’«»…–—"


class WordCount(DocumentFilter):
    name = "word_count"

    def __init__(self, min_words: int, max_words: int):
        self.min_words, self.max_words = min_words, max_words

    def check(self, doc: Document) -> str | None:
        n = len(doc.words)
        if n < self.min_words:
            return f"{n} words < min_words={self.min_words}"
        if n > self.max_words:
            return f"{n} words > max_words={self.max_words}"
        return None


class MeanWordLength(DocumentFilter):
    """Over space-separated words that are not just punctuation. A CJK character is a word for
    counting but says nothing about word length, so a text that is mostly CJK is left to the
    other rules (else its few numbers and Latin names would decide)."""

    name = "mean_word_length"

    def __init__(self, minimum: float, maximum: float):
        self.minimum, self.maximum = minimum, maximum

    def check(self, doc: Document) -> str | None:
        spaced = [w for w in doc.words if not is_cjk_word(w)]
        if len(spaced) * 2 < len(doc.words):
            return None
        lengths = [len(w) for w in spaced if w.strip(_PUNCTUATION)]
        if not lengths:
            return None
        mean = sum(lengths) / len(lengths)
        if mean < self.minimum:
            return f"mean word length {mean:.2f} < min_mean_word_length={self.minimum}"
        if mean > self.maximum:
            return f"mean word length {mean:.2f} > max_mean_word_length={self.maximum}"
        return None


class SymbolWordRatio(DocumentFilter):
    """Hashes and ellipses per word, each on its own: tag clouds and truncated teaser lists."""

    name = "symbol_word_ratio"

    def __init__(self, maximum: float):
        self.maximum = maximum

    def check(self, doc: Document) -> str | None:
        n = len(doc.words)
        if not n:
            return None
        hashes = doc.text.count("#")
        ellipses = doc.text.count("...") + doc.text.count("…")
        for symbol, count in (("#", hashes), ("ellipsis", ellipses)):
            if count / n > self.maximum:
                return f"{symbol} per word {count / n:.3f} > max_symbol_word_ratio={self.maximum}"
        return None


class AlphaWordFraction(DocumentFilter):
    name = "alpha_word_fraction"

    def __init__(self, minimum: float):
        self.minimum = minimum

    def check(self, doc: Document) -> str | None:
        n = len(doc.words)
        if not n:
            return None
        # most words are letters only: str.isalpha answers those in C
        fraction = sum(1 for w in doc.words if w.isalpha() or any(c.isalpha() for c in w)) / n
        if fraction < self.minimum:
            limit = f"min_alpha_word_fraction={self.minimum}"
            return f"alphabetic word fraction {fraction:.3f} < {limit}"
        return None


class StopWords(DocumentFilter):
    """Distinct English stop words present (as datatrove counts them). The list is English, so
    the rule only judges documents identified as English (or not identified at all)."""

    name = "stop_words"

    def __init__(self, minimum: int):
        self.minimum = minimum

    def check(self, doc: Document) -> str | None:
        if doc.language not in (None, "en"):
            return None
        present = STOP_WORDS.intersection(w.lower().strip(_PUNCTUATION) for w in doc.words)
        if len(present) < self.minimum:
            return f"{len(present)} distinct stop words < min_stop_words={self.minimum}"
        return None


class DuplicateLines(MaxShare):
    """Share of non-empty lines that repeat an earlier line: menus, footers, generated lists."""

    name = "duplicate_lines"
    measured = "duplicate line fraction"
    limit_key = "max_duplicate_line_fraction"

    def share(self, doc: Document) -> float | None:
        return (len(doc.lines) - len(set(doc.lines))) / len(doc.lines) if doc.lines else None


class TopWordFraction(DocumentFilter):
    """Keyword stuffing: the most frequent word (case-folded) takes too large a share."""

    name = "top_word_fraction"

    def __init__(self, maximum: float):
        self.maximum = maximum

    def check(self, doc: Document) -> str | None:
        if not doc.words:
            return None
        word, count = doc.word_counts.most_common(1)[0]
        fraction = count / len(doc.words)
        if fraction > self.maximum:
            return f"{word!r} is {fraction:.3f} of words > max_top_word_fraction={self.maximum}"
        return None


def gopher_filters(cfg: FiltersConfig) -> list[DocumentFilter]:
    """The rules in the order they run: cheap counts first."""
    return [
        WordCount(cfg.min_words, cfg.max_words),
        MeanWordLength(cfg.min_mean_word_length, cfg.max_mean_word_length),
        SymbolWordRatio(cfg.max_symbol_word_ratio),
        AlphaWordFraction(cfg.min_alpha_word_fraction),
        StopWords(cfg.min_stop_words),
        DuplicateLines(cfg.max_duplicate_line_fraction),
        TopWordFraction(cfg.max_top_word_fraction),
    ]
