"""Exact deduplication on a normalized-text hash: the first document in input order wins.

Normalization folds case, Unicode compatibility forms, punctuation, digits and whitespace, so
copies that differ only in a date, a counter or spacing are still caught. Near duplicates are
the job of MinHash, which can sit beside this as another DocumentFilter.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from danlu.curate.document import Document
from danlu.curate.filters.base import DocumentFilter


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
