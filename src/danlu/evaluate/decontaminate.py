"""Which evaluation items the model may have seen in training: GPT-3's test (Brown et al. 2020,
appendix C), an item is dirty when it shares any word 13-gram with the training data actually
used (the curated documents and the fine-tuning data).

Words are similarity.words: case-folded, punctuation gone, one token per CJK character. Short
items: GPT-3 lowered N for benchmarks of short items, never below 8. Here an item with fewer
than `n` words is tested with its `min_words`-grams (a `min_words`-word item only when it
occurs whole), and an item under `min_words` words is never dirty: so few words match common
phrases as often as copies. The index therefore holds both lengths' hashes, twice the memory;
`min_words=n` keeps one length.

Memory: 8 bytes per distinct n-gram of each length, in one sorted numpy array: up to 16 GB for
a billion training words, and twice that for a moment while a chunk is merged in. A Python set
of the same hashes would take several times as much."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import chain
from pathlib import Path

import numpy as np

from danlu.errors import ConfigError, DataError
from danlu.evaluate.similarity import words

NGRAM = 13  # GPT-3's N
MIN_WORDS = 8  # GPT-3's smallest N for short items
# Hashes held before they are merged into the index: at least 32 MB, and a quarter of the index,
# since each merge rewrites the whole index (so a merge's cost is spread over as many new hashes).
CHUNK_HASHES = 1 << 22
READ_ROWS = 1024  # documents per Parquet batch
# Odd multipliers of the polynomial over word hashes and of the final mix (splitmix64's).
_BASE = np.uint64(0x100000001B3)
_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))
_EMPTY = np.empty(0, np.uint64)


class NgramIndex:
    """The distinct word n-gram hashes of some training texts, for membership tests."""

    def __init__(self, texts: Iterable[str], n: int = NGRAM, min_words: int = MIN_WORDS):
        if not 1 <= min_words <= n:
            raise ConfigError(f"decontamination needs 1 <= min_words <= n, got min_words "
                              f"{min_words} and n {n}")
        self.n, self.min_words = n, min_words
        self.hashes = np.empty(0, np.uint64)
        self.texts = 0  # how many training texts were read, to tell "none given" from "clean"
        pending, held = [], 0
        for text in texts:
            self.texts += 1
            ids = word_hashes(words(text))
            for length in {n, min_words}:
                pending.append(window_hashes(ids, length))
                held += len(pending[-1])
            if held >= max(CHUNK_HASHES, len(self.hashes) // 4):
                self._merge(pending)
                pending, held = [], 0
        self._merge(pending)

    def __len__(self) -> int:
        return len(self.hashes)

    def _merge(self, pending: list[np.ndarray]) -> None:
        chunk = np.concatenate([*pending, _EMPTY])
        chunk.sort()  # not np.unique: numpy 2's hash-based unique is ten times slower here
        # The index is one sorted run and the chunk a second: a stable sort (timsort) merges
        # two runs in linear time, where a fresh sort of the whole index would not.
        merged = np.concatenate([self.hashes, chunk])
        merged.sort(kind="stable")
        keep = np.ones(len(merged), bool)
        keep[1:] = merged[1:] != merged[:-1]
        self.hashes = merged[keep]

    def item_hashes(self, text: str) -> np.ndarray:
        """The hashes an evaluation item is tested with (see the module's rule for short items)."""
        ids = word_hashes(words(text))
        if len(ids) >= self.n:
            return window_hashes(ids, self.n)
        if len(ids) >= self.min_words:
            return window_hashes(ids, self.min_words)
        return _EMPTY

    def overlap(self, text: str) -> int:
        """How many of the item's n-grams (with repeats) occur in the training texts."""
        wanted = self.item_hashes(text)
        if not len(self.hashes) or not len(wanted):
            return 0
        at = np.minimum(np.searchsorted(self.hashes, wanted), len(self.hashes) - 1)
        return int(np.count_nonzero(self.hashes[at] == wanted))

    def contains_any(self, text: str) -> bool:
        return self.overlap(text) > 0


def dirty_items(index: NgramIndex, item_texts: Sequence[str]) -> list[bool]:
    """For each item (everything the model sees or is scored on: context, choices, reference),
    whether it shares an n-gram with the training texts."""
    return [index.contains_any(text) for text in item_texts]


def record_strings(value: object) -> Iterator[str]:
    """Every string inside a JSON value: a record's messages, prompts and replies, chosen and
    rejected, in any of the formats the fine-tuning stages read."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from record_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from record_strings(item)


def finetune_texts(paths: Sequence[Path]) -> Iterator[str]:
    """The text of every record of the fine-tuning inputs (files, arrays, saved datasets,
    folders). A record that is not a JSON object (quarantined) holds no text to index; one
    the stages reject later (no reply, too long) is indexed: over-counting flags an item too
    many, never one too few."""
    from danlu.records import Quarantined, iter_records

    for record in iter_records(paths):
        if not isinstance(record, Quarantined):
            yield from record_strings(record.data)


def training_index(documents_dir: Path | None, finetune_texts: Iterable[str] = (),
                   n: int = NGRAM, min_words: int = MIN_WORDS) -> NgramIndex:
    """The index of everything trained on: the curated documents, then the fine-tuning texts
    (see `finetune_texts`)."""
    documents = document_texts(Path(documents_dir)) if documents_dir is not None else ()
    index = NgramIndex(chain(documents, finetune_texts), n, min_words)
    if not index.texts:
        raise ConfigError("decontamination needs training data: no curated documents folder "
                          "and no fine-tuning texts given")
    return index


def document_texts(folder: Path) -> Iterator[str]:
    """The "text" of every document in the curate stage's Parquet parts, a batch at a time."""
    import pyarrow.parquet as pq

    parts = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not parts:
        raise DataError(f"{folder}: no .parquet parts; expected the curate stage's documents "
                        "folder")
    for part in parts:
        reader = pq.ParquetFile(part)
        if "text" not in reader.schema_arrow.names:
            raise DataError(f"{part}: no 'text' column (columns: "
                            f"{', '.join(reader.schema_arrow.names)})")
        for batch in reader.iter_batches(batch_size=READ_ROWS, columns=["text"]):
            yield from (t for t in batch.column(0).to_pylist() if t)


def word_hashes(tokens: Sequence[str]) -> np.ndarray:
    """A stable 64-bit hash per word (blake2b, not Python's per-process salted hash())."""
    return np.fromiter(map(_word_hash, tokens), np.uint64, len(tokens))


@lru_cache(maxsize=1 << 18)  # words follow Zipf's law: most lookups are repeats
def _word_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


def window_hashes(ids: np.ndarray, length: int) -> np.ndarray:
    """One 64-bit hash per run of `length` consecutive word hashes, vectorised: a polynomial
    in the words (wrapping mod 2**64), seeded by the length so that the two lengths the index
    holds hash apart, then splitmix64's finaliser to spread it over all 64 bits."""
    count = len(ids) - length + 1
    if count <= 0:
        return _EMPTY
    h = np.full(count, length, np.uint64)
    for k in range(length):
        h = h * _BASE + ids[k:k + count]
    h ^= h >> np.uint64(30)
    h *= _MIX[0]
    h ^= h >> np.uint64(27)
    h *= _MIX[1]
    return h ^ (h >> np.uint64(31))

