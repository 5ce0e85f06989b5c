"""Documents -> token-id arrays on every core, in order, with the ids `Tokenizer.encode` gives.

Two engines give the same ids for danlu's tokenizers (byte-level BPE, GPT-4 split pattern);
tiktoken when it fits the tokenizer, else HF:

- "tiktoken": tiktoken's BPE over our ranks on a thread pool (it releases the GIL). Each task
  encodes a chunk of documents joined by a special token in one call and splits the ids at it,
  so the threads rarely meet at the GIL. ~8x HF `encode_batch`.
- "hf": `tokenizers` `encode_batch_fast` on its own Rust threads (RAYON_NUM_THREADS); the
  fallback for tokenizers of another shape.

The tiktoken engine is used only when `bpe_ranks.rank_mismatch` finds it exact for the
tokenizer. benchmarks/tokenizer_bench.py measures both against plain tiktoken. (gigatoken, also
measured, was 1.3x faster on 2 cores from a cache of every word it has seen, with no bound on
its size: not something to hold across a corpus.)

Special tokens written in a document ("<|bos|>" as text) are encoded as ordinary text, never as
the special token: only the stage decides where a BOS goes (the HF engine is set up the same
way, `encode_special_tokens`). Text with lone surrogates is encoded as `replace_lone_surrogates`
leaves it (each one U+FFFD).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
from tokenizers import Tokenizer

from danlu.errors import DataError
from danlu.lifeline import die_with_parent, lifeline_args
from danlu.tokenizer.bpe_ranks import installed, rank_mismatch, tiktoken_encoding
from danlu.tokens.shards import token_dtype
from danlu.tokenizer.train import replace_lone_surrogates

Engine = Literal["tiktoken", "hf"]
ENGINES: tuple[Engine, ...] = ("tiktoken", "hf")  # in order of preference

# Text (characters) per task handed to one tiktoken worker: big enough that the pool's
# overhead is noise, small enough that every worker gets several tasks of a batch.
_CHUNK_BYTES = 1 << 18
_CHUNK_DOCS = 1024
# Per task of a forked worker: each result crosses a pipe, so fewer, larger ones (1 MB: 0.97 of
# tiktoken x cores against 0.87 at 256 KB, on 22 MB of text).
_FORK_CHUNK_BYTES = 1 << 20
# Tasks in flight per worker: encoding runs ahead of the consumer by this much, no further.
_AHEAD = 4
# The engines that parallelise a batch themselves get this many tasks' worth at a time.
_BATCH_CHUNKS = 16


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_tokenizer(tokenizer: Tokenizer | Path | str) -> Tokenizer:
    """A Tokenizer as given, or loaded from a tokenizer folder or tokenizer.json."""
    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    path = Path(tokenizer)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise DataError(f"{path}: no tokenizer.json; run the tokenizer stage first")
    return Tokenizer.from_file(str(file))


class TextEncoder:
    """Encodes documents to arrays of token ids (uint16 when the vocabulary fits, else uint32)."""

    def __init__(self, tokenizer: Tokenizer | Path | str, *, engine: Engine | None = None):
        self.tokenizer = load_tokenizer(tokenizer)
        self.vocab_size = self.tokenizer.get_vocab_size()
        self.dtype = token_dtype(self.vocab_size)
        if engine is not None and engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        if engine == "tiktoken":
            if why := rank_mismatch(self.tokenizer):
                raise DataError(f"the {engine} engine would not match this tokenizer: {why}")
        self.engine: Engine = engine or self._pick_engine()
        if self.engine == "tiktoken":
            self._tiktoken, self._separator, self._separator_id = tiktoken_encoding(
                self.tokenizer
            )
        else:
            # A private copy: the setting below must not change the caller's tokenizer.
            self._hf = Tokenizer.from_str(self.tokenizer.to_str())
            self._hf.encode_special_tokens = True

    def _pick_engine(self) -> Engine:
        if installed("tiktoken") and rank_mismatch(self.tokenizer) is None:
            return "tiktoken"
        return "hf"

    def encode(self, text: str) -> np.ndarray:
        """One document's ids, no BOS."""
        return self._encode_chunk([text])[0]

    def _encode_chunk(self, texts: Sequence[str]) -> list[np.ndarray]:
        if self.engine == "tiktoken":
            return self._tiktoken_chunk(texts)
        try:
            encodings = self._hf.encode_batch_fast(list(texts), add_special_tokens=False)
        except TypeError:  # a lone surrogate somewhere in the batch
            texts = [replace_lone_surrogates(t) for t in texts]
            encodings = self._hf.encode_batch_fast(texts, add_special_tokens=False)
        return [np.array(e.ids, dtype=self.dtype) for e in encodings]

    def _tiktoken_chunk(self, texts: Sequence[str]) -> list[np.ndarray]:
        """The texts joined by the separator token in one call, split at it afterwards.

        tiktoken encodes the text between special tokens as separate strings, so this gives
        each text's own ids; one call per chunk keeps the GIL hand-offs between threads rare
        (one per document made two threads slower than one). A text that contains the
        separator as text is encoded alone.
        """
        sep, sep_id = self._separator, self._separator_id
        alone = {i for i, t in enumerate(texts) if sep in t}
        joined = [t for i, t in enumerate(texts) if i not in alone]
        ids = self._tiktoken_ids(sep + sep.join(joined), {sep})
        starts = np.flatnonzero(ids == sep_id)
        ends = np.append(starts[1:], len(ids))
        parts = iter([ids[a + 1 : b] for a, b in zip(starts, ends)])
        return [self._tiktoken_ids(t, set()) if i in alone else next(parts)
                for i, t in enumerate(texts)]

    def _tiktoken_ids(self, text: str, allowed: set[str]) -> np.ndarray:
        # disallowed_special=(): the separator check is ours; tiktoken's would scan the text again.
        try:
            ids = self._tiktoken.encode_to_numpy(
                text, allowed_special=allowed, disallowed_special=()
            )
        except UnicodeEncodeError:  # a lone surrogate
            ids = self._tiktoken.encode_to_numpy(
                replace_lone_surrogates(text), allowed_special=allowed, disallowed_special=()
            )
        return ids.astype(self.dtype)

    def encode_texts(
        self, texts: Iterable[str], workers: int | None = None
    ) -> Iterator[np.ndarray]:
        """Each text's ids, in the order given, on `workers` cores (default: every core).

        With the tiktoken engine, a list of texts on Linux is encoded in forked worker
        processes that read it from the memory they inherit (no text crosses a pipe, only the
        ids come back): threads in one process share tiktoken's state and ran each core at 2/3
        of its single-thread speed (benchmarks/tokenizer_bench.py). Any other iterable runs
        on threads. hf uses rayon's pool (RAYON_NUM_THREADS, off when
        TOKENIZERS_PARALLELISM=false) whatever `workers` says.
        """
        workers = workers or available_cores()
        if (self.engine == "tiktoken" and workers > 1 and isinstance(texts, list)
                and _FORK is not None):
            yield from self._encode_forked(texts, workers)
            return
        if self.engine != "tiktoken":
            # tokenizers parallelises each batch on rayon's threads (default every core).
            size = _CHUNK_BYTES * _BATCH_CHUNKS
            for chunk in _chunks(texts, size, _CHUNK_DOCS * _BATCH_CHUNKS):
                yield from self._encode_chunk(chunk)
            return
        if workers == 1:
            for chunk in _chunks(texts, _CHUNK_BYTES, _CHUNK_DOCS):
                yield from self._tiktoken_chunk(chunk)
            return
        pending: deque[Future[list[np.ndarray]]] = deque()
        with ThreadPoolExecutor(workers, thread_name_prefix="danlu-encode") as pool:
            try:
                for chunk in _chunks(texts, _CHUNK_BYTES, _CHUNK_DOCS):
                    pending.append(pool.submit(self._encode_chunk, chunk))
                    if len(pending) >= _AHEAD * workers:
                        yield from pending.popleft().result()
                while pending:
                    yield from pending.popleft().result()
            finally:  # the consumer stopped early or a task failed: drop what is queued
                for future in pending:
                    future.cancel()


    def _encode_forked(self, texts: list[str], workers: int) -> Iterator[np.ndarray]:
        """`texts` by ranges in `workers` forked processes, in order. The fork happens here,
        with the texts and this encoder in place; the children only encode and send ids."""
        global _FORKED
        ranges = list(text_ranges(texts, _FORK_CHUNK_BYTES, _CHUNK_DOCS))
        if len(ranges) < 2:
            yield from self.encode_texts(iter(texts), workers)
            return
        _FORKED = (self, texts)
        try:
            with _FORK.Pool(min(workers, len(ranges)), initializer=die_with_parent,
                            initargs=lifeline_args()) as pool:
                for flat, ends in pool.imap(_encode_range, ranges, chunksize=1):
                    yield from np.split(flat, ends[:-1])
        finally:
            _FORKED = None


# What forked encoders read (set just before the fork, in the parent).
_FORKED: tuple[TextEncoder, list[str]] | None = None
# fork only on Linux (macOS's system libraries are not fork-safe); elsewhere, threads.
_FORK = multiprocessing.get_context("fork") if sys.platform.startswith("linux") else None


def _encode_range(bounds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One range's ids as one array and each text's end in it: one buffer to pickle, not a
    list of small arrays (the parent's unpickling competes with the workers for the cores)."""
    encoder, texts = _FORKED
    ids = encoder._tiktoken_chunk(texts[bounds[0]:bounds[1]])
    return np.concatenate(ids), np.cumsum([len(i) for i in ids])


def text_ranges(texts: Sequence[str], max_bytes: int,
                max_docs: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive runs of about `max_bytes` characters or `max_docs` texts."""
    start, size = 0, 0
    for i, text in enumerate(texts):
        size += len(text)
        if size >= max_bytes or i + 1 - start >= max_docs:
            yield start, i + 1
            start, size = i + 1, 0
    if start < len(texts):
        yield start, len(texts)


def _chunks(texts: Iterable[str], max_bytes: int, max_docs: int) -> Iterator[list[str]]:
    """Consecutive runs of texts of about `max_bytes` characters or `max_docs` documents."""
    chunk: list[str] = []
    size = 0
    for text in texts:
        chunk.append(text)
        size += len(text)
        if size >= max_bytes or len(chunk) >= max_docs:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def encode_texts(
    tokenizer: Tokenizer | Path | str,
    texts: Iterable[str],
    workers: int | None = None,
    *,
    engine: Engine | None = None,
) -> Iterator[np.ndarray]:
    """Each text's token ids (no BOS), in order, encoded on `workers` cores (default: all)."""
    return TextEncoder(tokenizer, engine=engine).encode_texts(texts, workers)
