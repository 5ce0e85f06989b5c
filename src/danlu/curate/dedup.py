"""Exact deduplication on a normalized-text hash: the first document in input order wins.

Normalization folds case, Unicode compatibility forms, punctuation, digits and whitespace, so
copies that differ only in a date, a counter or spacing are still caught. Near duplicates
(a changed sentence, a different header) are caught after it by MinHash LSH on word n-grams.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np

from danlu.config import NearDedupConfig
from danlu.curate.document import Document
from danlu.curate.filters.base import DocumentFilter
from danlu.curate.minhash import MinHasher, estimated_jaccard
from danlu.curate.words import split_words


_NOT_LETTERS = re.compile(r"[\W\d_]+")  # \w is letters, digits and _: this leaves letters


def normalize(text: str) -> str:
    """Letters only, case-folded, single-spaced."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_LETTERS.sub(" ", text).strip()


def text_hash(text: str) -> bytes:
    return hashlib.blake2b(normalize(text).encode("utf-8"), digest_size=16).digest()


class ExactDedup(DocumentFilter):
    """Stateful: remembers the hash of every document it kept (16 bytes plus the id each)."""

    name = "exact_duplicate"

    def __init__(self) -> None:
        self._first: dict[bytes, str] = {}

    def check(self, doc: Document) -> str | None:
        kept = self._first.setdefault(text_hash(doc.text), doc.id)
        return None if kept == doc.id else kept


class NearDedup(DocumentFilter):
    """MinHash LSH over word n-grams of the normalized text: the first document wins.

    A document is a candidate duplicate of a kept one when any of `bands` bands of `rows`
    signature values matches exactly; it is dropped only when the estimated Jaccard with that
    candidate also reaches `cfg.threshold`, which removes LSH's chance false positives.

    Stateful and in memory: the signature and band buckets of every kept document (about
    2 KB each at 128 permutations), so one process sees the whole stream. The next step for
    multi-worker runs is to spill (band, bucket, id) to disk per worker and drop all but the
    first of each connected component of candidate pairs.
    """

    name = "near_duplicate"

    def __init__(self, cfg: NearDedupConfig, seed: int = 0) -> None:
        self.cfg = cfg
        self.hasher = MinHasher(cfg.num_perm, cfg.ngram, seed)
        self._buckets: list[dict[bytes, str]] = [{} for _ in range(cfg.bands)]
        self._signatures: dict[str, np.ndarray] = {}

    def check(self, doc: Document) -> str | None:
        words = split_words(normalize(doc.text))
        if not words:
            return None  # nothing to compare; ExactDedup already catches repeats of nothing
        signature = self.hasher.signature(words)
        keys = self._band_keys(signature)
        best: tuple[float, str] | None = None
        for bucket, key in zip(self._buckets, keys):
            kept = bucket.get(key)
            if kept is None or (best is not None and kept == best[1]):
                continue
            similarity = estimated_jaccard(signature, self._signatures[kept])
            if similarity >= self.cfg.threshold and (best is None or similarity > best[0]):
                best = (similarity, kept)
        if best is not None:
            return f"of {best[1]} (J~{best[0]:.2f})"
        self._signatures[doc.id] = signature
        for bucket, key in zip(self._buckets, keys):
            bucket.setdefault(key, doc.id)
        return None

    def _band_keys(self, signature: np.ndarray) -> list[bytes]:
        rows = self.cfg.rows
        return [signature[i * rows : (i + 1) * rows].tobytes() for i in range(self.cfg.bands)]
