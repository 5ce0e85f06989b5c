"""The normalized text that deduplication compares, and its hash.

Normalization folds case, Unicode compatibility forms, punctuation, digits and whitespace, so
copies that differ only in a date, a counter or spacing have the same hash (exact dedup, in
corpus.py). Near duplicates (a changed sentence, a different header) are caught after it by
MinHash LSH on word n-grams of the same normalized text.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

_NOT_LETTERS = re.compile(r"[\W\d_]+")  # \w is letters, digits and _: this leaves letters
# ASCII: upper case to lower, every non-letter to a space; bytes of UTF-8 sequences unchanged.
_ASCII_FOLD = bytes(c + 32 if 65 <= c <= 90 else c if 97 <= c <= 122 else 32 for c in range(128))
_ASCII_FOLD += bytes(range(128, 256))
# More distinct non-ASCII characters than this (most non-Latin text): one regex pass is faster.
_MAX_REPLACED = 32


def normalize(text: str) -> str:
    """Letters only, case-folded, single-spaced."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        # Case folding and the letter test work character by character, so mapping each
        # distinct non-ASCII character once gives the regex's result at a third of the cost.
        others = [c for c in set(text) if not c.isascii()]
        if len(others) > _MAX_REPLACED:
            return _NOT_LETTERS.sub(" ", text.casefold()).strip()
        for c in others:
            folded = _fold(c)
            if folded != c:
                text = text.replace(c, folded)
    return b" ".join(text.encode("utf-8").translate(_ASCII_FOLD).split()).decode("utf-8")


@lru_cache(maxsize=1 << 16)
def _fold(char: str) -> str:
    return _NOT_LETTERS.sub(" ", char.casefold())


def text_hash(text: str) -> bytes:
    return normalized_hash(normalize(text))


def normalized_hash(normalized: str) -> bytes:
    """text_hash of a text already normalized (so a caller that also needs a signature
    normalizes once)."""
    return hashlib.blake2b(normalized.encode("utf-8"), digest_size=16).digest()
