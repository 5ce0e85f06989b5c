"""Gopher repetition rules (Rae et al. 2021, table A1), thresholds from `curate.gopher_repetition`.

Repeated paragraphs, lines and word n-grams mark generated, templated or scraped-together text.
Every n-gram rule reads one shared index of the document's words (built once, then reused by
the other eight), so the cost is a few numpy passes over the words, not a loop per n-gram.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from danlu.config import GopherRepetitionConfig
from danlu.curate.document import Document
from danlu.curate.filters.base import DocumentFilter, MaxShare

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# Odd 64-bit multiplier of the rolling n-gram hash; products wrap modulo 2**64, so two different
# n-grams share a hash with probability ~2**-64 per pair: negligible next to the thresholds.
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


def repeated(items: list[str]) -> tuple[int, int]:
    """(count, characters) of items that repeat an earlier item; the first copy is not counted."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in _PARAGRAPH_BREAK.split(text) if p.strip()]


class WordNgrams:
    """A document's words (case-folded) as integer ids, with rolling hashes of their n-grams."""

    def __init__(self, words: list[str]):
        ids: dict[str, int] = {}
        codes = [ids.setdefault(w.lower(), len(ids) + 1) for w in words]
        self.codes = np.asarray(codes, dtype=np.uint64)
        lengths = np.asarray([len(w) for w in words], dtype=np.int64)
        # chars_before[i] = characters in words[:i], so an n-gram's characters are one subtraction.
        self.chars_before = np.concatenate(([0], np.cumsum(lengths)))
        self.lengths = lengths
        self._hashes: dict[int, np.ndarray] = {1: self.codes}

    def hashes(self, n: int) -> np.ndarray:
        """One hash per n-gram start, built from the (n-1)-gram hashes: O(words) per n."""
        if n not in self._hashes:
            shorter = self.hashes(n - 1)
            with np.errstate(over="ignore"):
                self._hashes[n] = shorter[:-1] * _HASH_MULTIPLIER + self.codes[n - 1 :]
        return self._hashes[n]

    def top_ngram_chars(self, n: int) -> int:
        """Characters covered by every occurrence of the most frequent n-gram."""
        hashes = self.hashes(n)
        if len(hashes) == 0:
            return 0
        _, first, counts = np.unique(hashes, return_index=True, return_counts=True)
        top = int(np.argmax(counts))
        start = int(first[top])
        return int(counts[top]) * int(self.chars_before[start + n] - self.chars_before[start])

    def duplicate_ngram_chars(self, n: int) -> int:
        """Characters of words inside any n-gram that repeats an earlier one, each counted once
        (overlapping repeats do not count their shared words twice)."""
        hashes = self.hashes(n)
        if len(hashes) == 0:
            return 0
        _, inverse = np.unique(hashes, return_inverse=True)
        first_seen = np.full(int(inverse.max()) + 1, len(hashes), dtype=np.int64)
        np.minimum.at(first_seen, inverse, np.arange(len(hashes)))
        repeat_starts = np.flatnonzero(first_seen[inverse] != np.arange(len(hashes)))
        cover = np.zeros(len(self.codes) + 1, dtype=np.int64)
        np.add.at(cover, repeat_starts, 1)
        np.add.at(cover, repeat_starts + n, -1)
        covered = np.cumsum(cover[:-1]) > 0
        return int(self.lengths[covered].sum())


@lru_cache(maxsize=1)
def word_ngrams(doc: Document) -> WordNgrams:
    """The index for the document being checked; the nine n-gram rules share it."""
    return WordNgrams(doc.words)


class DuplicateParagraphs(MaxShare):
    name = "duplicate_paragraphs"
    measured = "duplicate paragraph fraction"
    limit_key = "max_duplicate_paragraph_fraction"

    def share(self, doc: Document) -> float | None:
        paragraphs = _paragraphs(doc.text)
        return repeated(paragraphs)[0] / len(paragraphs) if paragraphs else None


class DuplicateParagraphChars(MaxShare):
    name = "duplicate_paragraph_chars"
    measured = "characters in duplicate paragraphs"
    limit_key = "max_duplicate_paragraph_char_fraction"

    def share(self, doc: Document) -> float | None:
        return repeated(_paragraphs(doc.text))[1] / len(doc.text) if doc.text else None


class DuplicateLineChars(MaxShare):
    name = "duplicate_line_chars"
    measured = "characters in duplicate lines"
    limit_key = "max_duplicate_line_char_fraction"

    def share(self, doc: Document) -> float | None:
        return repeated(doc.lines)[1] / len(doc.text) if doc.text else None


class TopNgramChars(DocumentFilter):
    """Characters of the most frequent word n-gram's occurrences over the text's characters
    (n = 2, 3, 4); over the whole text as datatrove measures it, which the thresholds assume."""

    def __init__(self, n: int, maximum: float):
        self.n, self.maximum = n, maximum
        self.name = f"top_{n}gram_chars"

    def check(self, doc: Document) -> str | None:
        ngrams = word_ngrams(doc)
        if not doc.text:
            return None
        fraction = ngrams.top_ngram_chars(self.n) / len(doc.text)
        if fraction > self.maximum:
            limit = f"max_top_ngram_char_fraction[{self.n}]={self.maximum}"
            return f"most frequent {self.n}-gram covers {fraction:.3f} of characters > {limit}"
        return None


class DuplicateNgramChars(DocumentFilter):
    """Characters of words inside repeated word n-grams over the text's characters (n = 5..10)."""

    def __init__(self, n: int, maximum: float):
        self.n, self.maximum = n, maximum
        self.name = f"duplicate_{n}gram_chars"

    def check(self, doc: Document) -> str | None:
        ngrams = word_ngrams(doc)
        if not doc.text:
            return None
        fraction = ngrams.duplicate_ngram_chars(self.n) / len(doc.text)
        if fraction > self.maximum:
            limit = f"max_duplicate_ngram_char_fraction[{self.n}]={self.maximum}"
            return f"repeated {self.n}-grams cover {fraction:.3f} of characters > {limit}"
        return None


def repetition_filters(cfg: GopherRepetitionConfig) -> list[DocumentFilter]:
    """Enabled rules, lines and paragraphs before the n-gram index; a null threshold is off."""
    if not cfg.enabled:
        return []
    rules: list[DocumentFilter] = []
    if cfg.max_duplicate_paragraph_fraction is not None:
        rules.append(DuplicateParagraphs(cfg.max_duplicate_paragraph_fraction))
    if cfg.max_duplicate_paragraph_char_fraction is not None:
        rules.append(DuplicateParagraphChars(cfg.max_duplicate_paragraph_char_fraction))
    if cfg.max_duplicate_line_char_fraction is not None:
        rules.append(DuplicateLineChars(cfg.max_duplicate_line_char_fraction))
    rules += [TopNgramChars(n, f) for n, f in sorted(cfg.max_top_ngram_char_fraction.items())]
    rules += [DuplicateNgramChars(n, f) for n, f in sorted(cfg.max_duplicate_ngram_char_fraction.items())]
    return rules
