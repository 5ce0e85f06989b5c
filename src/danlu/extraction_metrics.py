"""Scores for HTML-to-text extraction: snippet matching (trafilatura-eval) and token overlap (AEB)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_WS = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def normalise_ws(text: str) -> str:
    """Collapse every whitespace run (incl. newlines, NBSP) to one space."""
    return _WS.sub(" ", text).strip()


@dataclass
class Counts:
    tp: int = 0
    fn: int = 0
    fp: int = 0

    def add(self, other: Counts) -> None:
        self.tp += other.tp
        self.fn += other.fn
        self.fp += other.fp

    def prf(self) -> tuple[float, float, float]:
        return prf(self.tp, self.fp, self.fn)


def prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    """(precision, recall, F1); 0 where a denominator is empty."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def snippet_counts(text: str | None, with_: list[str], without: list[str], *, normalise: bool = True) -> Counts:
    """trafilatura's eval rule: a "with" snippet found is a TP (else FN), a "without" found is a FP.

    With normalise, whitespace is collapsed on both sides: extractors differ in how they lay out
    lines, and a snippet that spans a line break should not count as missing.
    """
    if not text:  # no output: every "with" snippet is missed, no boilerplate leaked
        return Counts(fn=len(with_))
    norm = normalise_ws if normalise else (lambda s: s)
    haystack = norm(text)
    tp = sum(norm(s) in haystack for s in with_)
    fp = sum(norm(s) in haystack for s in without)
    return Counts(tp=tp, fn=len(with_) - tp, fp=fp)


def tokens(text: str | None) -> Counter[str]:
    """Bag of lowercase word tokens."""
    return Counter(_WORD.findall((text or "").lower()))


@dataclass
class TokenOverlap:
    overlap: int
    n_pred: int
    n_gold: int

    def prf(self) -> tuple[float, float, float]:
        return prf(self.overlap, self.n_pred - self.overlap, self.n_gold - self.overlap)


def token_overlap(pred: str | None, gold: str) -> TokenOverlap:
    """Multiset overlap between the extracted and gold bags of words."""
    p, g = tokens(pred), tokens(gold)
    return TokenOverlap(sum((p & g).values()), sum(p.values()), sum(g.values()))


def macro_micro(pages: list[TokenOverlap]) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """((P, R, F1) averaged over pages, (P, R, F1) from pooled counts)."""
    per_page = [t.prf() for t in pages]
    n = len(per_page) or 1
    macro = tuple(sum(x[i] for x in per_page) / n for i in range(3))
    pooled = TokenOverlap(*(sum(getattr(t, f) for t in pages) for f in ("overlap", "n_pred", "n_gold")))
    return macro, pooled.prf()  # type: ignore[return-value]
