"""MinHash signatures of word n-gram shingles: a fixed-size sketch whose share of equal values
estimates the Jaccard similarity of two documents' shingle sets.

Everything is derived from blake2b and fixed-width integer arithmetic, never Python's `hash()`
(salted per process), so the same text gives the same signature in every process and machine.

Speed (one core, ~5 KB of text, see benchmarks/minhash_bench.py) comes from two vectorised
passes and no Python loop over words:
- shingles: the words are laid out once as UTF-8 separated by single spaces, so a word n-gram is
  one byte span; a polynomial hash mod 2^64 of every span comes from one prefix sum.
- permutations: h_i(x) = a_i * x mod 2^32 with a_i odd, over 32-bit shingle hashes, all
  permutations at once in uint32: one multiply and one min per value (uint64 arithmetic, or an
  added b_i, cost 1.7x; memory traffic is what the time goes to). Each h_i is a bijection of
  the 32-bit values, and the shingle hashes come out of a 64-bit finalizer, so each minimum
  lands on a uniformly random shingle and P[min equal] = Jaccard; the a_i decorrelate the
  permutations. Measured: bias and spread of the estimate match the binomial ideal
  sqrt(J(1-J)/num_perm) (docs/LOG.md).
"""

from __future__ import annotations

import hashlib

import numpy as np

from danlu.curate.words import split_words

_U64 = np.uint64
# Polynomial base (odd, so it is invertible mod 2^64) and splitmix64's finalizer constants.
_BASE = 0x9E3779B97F4A7C15
_BASE_INV = pow(_BASE, -1, 1 << 64)
_MIX_1, _MIX_2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
EMPTY = np.uint32(0xFFFFFFFF)  # every value of the signature of a text with no words
_CHUNK = 4096  # shingles per permutation pass: keeps the (num_perm, chunk) block in cache


class _Powers:
    """BASE^j and BASE^-j mod 2^64 for j < length, grown on demand (deterministic). Safe to
    share between threads: a grown pair replaces the old one in one assignment."""

    def __init__(self) -> None:
        self._pair = (np.ones(0, dtype=_U64), np.ones(0, dtype=_U64))

    def get(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        up, down = self._pair
        if len(up) < length:
            size = max(length, 2 * len(up), 1 << 14)
            up = np.empty(size, dtype=_U64)
            up[0] = 1
            up[1:] = np.multiply.accumulate(np.full(size - 1, _BASE, dtype=_U64))
            down = np.empty(size, dtype=_U64)
            down[0] = 1
            down[1:] = np.multiply.accumulate(np.full(size - 1, _BASE_INV, dtype=_U64))
            self._pair = (up, down)
        return up[:length], down[:length]


_POWERS = _Powers()


def _finalize(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: spreads every input bit over all 64 output bits."""
    h = (h ^ (h >> _U64(30))) * _MIX_1
    h = (h ^ (h >> _U64(27))) * _MIX_2
    return h ^ (h >> _U64(31))


def joined_shingle_hashes(joined: bytes, ngram: int) -> np.ndarray:
    """Odd 32-bit hashes (in uint64) of every word n-gram of words separated by single spaces;
    a text shorter than `ngram` words is one shingle of all its words."""
    return _span_hashes(np.frombuffer(joined, dtype=np.uint8), ngram)


def _span_hashes(chars: np.ndarray, ngram: int) -> np.ndarray:
    if len(chars) == 0:
        return np.empty(0, dtype=_U64)
    spaces = np.flatnonzero(chars == 32)
    starts = np.concatenate(([0], spaces + 1))
    ends = np.concatenate((spaces, [len(chars)]))
    n = min(ngram, len(starts))
    span_start, span_end = starts[: len(starts) - n + 1], ends[n - 1 :]
    up, down = _POWERS.get(len(chars))
    prefix = np.zeros(len(chars) + 1, dtype=_U64)
    np.cumsum(chars * up, out=prefix[1:])  # wraps mod 2^64, which is the point
    # sum_j c_j BASE^(j - start): the same value wherever the span sits in the text.
    h = (prefix[span_end] - prefix[span_start]) * down[span_start]
    # Odd: 0 is the one value every multiplicative permutation fixes (31 random bits remain).
    return (_finalize(h) >> _U64(32)) | _U64(1)


def shingle_hashes(words: list[str], ngram: int) -> np.ndarray:
    return joined_shingle_hashes(" ".join(words).encode("utf-8"), ngram)


def permutation_parameters(num_perm: int, seed: int) -> np.ndarray:
    """The odd multiplier of each permutation: from blake2b so no RNG version can change them."""
    a = []
    for i in range(num_perm):
        digest = hashlib.blake2b(f"danlu-minhash32 {seed} {i}".encode(), digest_size=4).digest()
        a.append(int.from_bytes(digest, "little") | 1)
    return np.array(a, dtype=np.uint32)


class MinHasher:
    """Signatures of `num_perm` uint32 values, each the minimum of one permutation over the
    shingles. Holds a scratch buffer: one instance per thread."""

    def __init__(self, num_perm: int, ngram: int, seed: int = 0) -> None:
        self.num_perm = num_perm
        self.ngram = ngram
        self._a = permutation_parameters(num_perm, seed)[:, None]
        self._scratch = np.empty((num_perm, _CHUNK), dtype=np.uint32)

    def signature(self, words: list[str]) -> np.ndarray:
        """(num_perm,) uint32; all values EMPTY for a text with no words."""
        return self._signature(joined_shingle_hashes(" ".join(words).encode("utf-8"), self.ngram))

    def text_signature(self, text: str) -> np.ndarray:
        """signature(split_words(text)), without splitting when the text is already ASCII words
        separated by single spaces (what normalize() gives for most Latin-script text)."""
        if text.isascii():
            joined = text.encode("ascii")
            chars = np.frombuffer(joined, dtype=np.uint8)
            # Controls (tabs, newlines, ...), double or edge spaces: str.split() would differ.
            if not (b"  " in joined or joined[:1] == b" " or joined[-1:] == b" " or np.any(chars < 32)):
                return self._signature(_span_hashes(chars, self.ngram))
        return self.signature(split_words(text))

    def _signature(self, shingles: np.ndarray) -> np.ndarray:
        out = np.full(self.num_perm, EMPTY, dtype=np.uint32)
        x = shingles.astype(np.uint32)
        for start in range(0, len(x), _CHUNK):
            part = x[start : start + _CHUNK]
            block = self._scratch[:, : len(part)]
            np.multiply(self._a, part, out=block)  # wraps mod 2^32
            np.minimum(out, block.min(axis=1), out=out)
        return out


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a == b)) / len(a)
