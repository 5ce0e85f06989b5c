"""MinHash signatures of word n-gram shingles: a fixed-size sketch whose share of equal values
estimates the Jaccard similarity of two documents' shingle sets.

Everything is derived from blake2b and integer arithmetic, never Python's `hash()` (salted per
process), so the same text gives the same signature in every process and on every machine.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

# Universal hashing (a*x + b) mod p over the Mersenne prime 2^61 - 1: reduction is a shift and
# a mask, and 61-bit values leave room to split products so nothing overflows uint64.
MERSENNE_61 = (1 << 61) - 1
_P = np.uint64(MERSENNE_61)
_MASK_31 = np.uint64((1 << 31) - 1)
_MASK_30 = np.uint64((1 << 30) - 1)
_S30, _S31, _S61 = np.uint64(30), np.uint64(31), np.uint64(61)
# Order-sensitive combination of word hashes into a shingle hash (wrapping uint64 arithmetic).
_COMBINE = np.uint64(0x9E3779B97F4A7C15)
_MIX_1, _MIX_2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


@lru_cache(maxsize=1 << 20)  # words repeat across documents; the cache bounds both time and memory
def word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def _finalize(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: spreads the combined words' bits over all 64."""
    h = (h ^ (h >> np.uint64(30))) * _MIX_1
    h = (h ^ (h >> np.uint64(27))) * _MIX_2
    return h ^ (h >> np.uint64(31))


def shingle_hashes(words: list[str], ngram: int) -> np.ndarray:
    """64-bit hashes (reduced below 2^61 - 1) of every word n-gram; a text shorter than `ngram`
    words is one shingle of all its words, so short texts still have a signature."""
    if not words:
        return np.empty(0, dtype=np.uint64)
    w = np.fromiter((word_hash(x) for x in words), dtype=np.uint64, count=len(words))
    n = min(ngram, len(w))
    count = len(w) - n + 1
    h = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * _COMBINE + w[k : k + count]
        h = _finalize(h)
    return _reduce(h)


def _reduce(x: np.ndarray) -> np.ndarray:
    """x mod 2^61 - 1, for any uint64 x."""
    x = (x & _P) + (x >> _S61)
    return np.where(x >= _P, x - _P, x)


def _mulmod(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """a * x mod 2^61 - 1 for a, x < 2^61, without overflow: split both into 30 + 31 bits and
    fold the powers of two with 2^61 = 1 (mod p). Every partial sum stays below 2^64."""
    a_hi, a_lo = a >> _S31, a & _MASK_31
    x_hi, x_lo = x >> _S31, x & _MASK_31
    mid = a_hi * x_lo + a_lo * x_hi  # < 2^62; times 2^31 = (mid >> 30) * 2^61 + (mid & 2^30-1) * 2^31
    high = (a_hi * x_hi) << np.uint64(1)  # 2^62 = 2 (mod p)
    total = high + (mid >> _S30) + ((mid & _MASK_30) << _S31) + a_lo * x_lo
    return _reduce(total)


def permutation_parameters(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of each permutation, a in [1, p), b in [0, p): from blake2b so no RNG version
    can change them."""
    a, b = [], []
    for i in range(num_perm):
        digest = hashlib.blake2b(f"danlu-minhash {seed} {i}".encode(), digest_size=16).digest()
        a.append(1 + int.from_bytes(digest[:8], "little") % (MERSENNE_61 - 1))
        b.append(int.from_bytes(digest[8:], "little") % MERSENNE_61)
    return np.array(a, dtype=np.uint64), np.array(b, dtype=np.uint64)


class MinHasher:
    """Signatures of `num_perm` values, each the minimum of one permutation over the shingles."""

    def __init__(self, num_perm: int, ngram: int, seed: int = 0) -> None:
        self.num_perm = num_perm
        self.ngram = ngram
        a, b = permutation_parameters(num_perm, seed)
        self._a, self._b = a[:, None], b[:, None]

    def signature(self, words: list[str]) -> np.ndarray:
        """(num_perm,) uint64; all values p (no shingle is smaller) for a text with no words."""
        shingles = np.unique(shingle_hashes(words, self.ngram))
        if shingles.size == 0:
            return np.full(self.num_perm, MERSENNE_61, dtype=np.uint64)
        permuted = _reduce(_mulmod(self._a, shingles[None, :]) + self._b)
        return permuted.min(axis=1)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a == b)) / len(a)
