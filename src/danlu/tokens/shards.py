"""Binary token shards (llm.c / nanoGPT style): one file holds the tokens and the document index.

Format, version 1 (all integers little-endian):

    offset 0, 64 bytes   header, struct "<8sIIQQII" then zero padding to 64 bytes:
                           magic        8 bytes  b"DANLUTOK"
                           version      uint32   1
                           dtype code   uint32   bytes per token: 2 (uint16) or 4 (uint32)
                           num_tokens   uint64   tokens in the file, BOS tokens included
                           num_docs     uint64   documents in the file
                           vocab_size   uint32   every token id is below this
                           bos_id       uint32   the token that starts every document
    offset 64            tokens: num_tokens x uint16 when vocab_size <= 65536, else uint32
                         zero padding up to the next multiple of 8 bytes
    index_start          document index: num_docs + 1 uint64 token offsets; document i is
                         tokens[index[i]:index[i+1]], index[0] = 0, index[-1] = num_tokens

    index_start = 64 + ceil8(num_tokens * dtype code); file size = index_start + 8 * (num_docs + 1).

Every document is written as [bos_id, *its token ids]. A shard is written to a temporary file
beside its path and renamed into place, so a reader never sees half a shard.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from danlu.errors import DataError

MAGIC = b"DANLUTOK"
VERSION = 1
HEADER_SIZE = 64
_HEADER = struct.Struct("<8sIIQQII")
_DTYPES = {2: np.dtype("<u2"), 4: np.dtype("<u4")}
_INDEX_DTYPE = np.dtype("<u8")
# Tokens gathered before one write: bounds the writer's memory (~8 bytes each while buffered).
_FLUSH_TOKENS = 1 << 20
_COUNT_CHUNK = 1 << 24


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 while every id fits, else uint32."""
    if not 0 < vocab_size <= 1 << 32:
        raise ValueError(f"vocab_size must be in 1..2**32, got {vocab_size}")
    return _DTYPES[2] if vocab_size <= 1 << 16 else _DTYPES[4]


def _index_start(num_tokens: int, itemsize: int) -> int:
    return HEADER_SIZE + (num_tokens * itemsize + 7) // 8 * 8


@dataclass(frozen=True)
class Shard:
    """An open shard: memory-mapped tokens and document index, and its header fields."""

    path: Path
    vocab_size: int
    bos_id: int
    tokens: np.ndarray
    offsets: np.ndarray

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    @property
    def num_docs(self) -> int:
        return len(self.offsets) - 1

    def document(self, i: int) -> np.ndarray:
        """Tokens of document i, its leading BOS included."""
        return self.tokens[int(self.offsets[i]) : int(self.offsets[i + 1])]


class ShardWriter:
    """Streams documents into one shard; `close()` writes the index and header and renames."""

    def __init__(self, path: Path, vocab_size: int, *, bos_id: int):
        self.path = Path(path)
        self.vocab_size = vocab_size
        self.bos_id = bos_id
        self.dtype = token_dtype(vocab_size)
        if not 0 <= bos_id < vocab_size:
            raise ValueError(f"bos_id {bos_id} is not below vocab_size {vocab_size}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.tmp-", dir=self.path.parent)
        self._tmp = Path(tmp)
        self._file = os.fdopen(fd, "wb")
        self._file.write(bytes(HEADER_SIZE))  # rewritten by close() once the counts are known
        self._buffer: list[np.ndarray] = []  # BOS and documents, joined at each flush
        self._buffered = 0
        self._bos = np.array([bos_id], dtype=np.int64)
        self._offsets: list[int] = [0]
        self.num_tokens = 0

    @property
    def num_docs(self) -> int:
        return len(self._offsets) - 1

    def add(self, ids: Sequence[int] | np.ndarray) -> None:
        """Append one document (its token ids, without BOS)."""
        ids = np.asarray(ids, dtype=np.int64)  # arrays stay arrays: no list round trip
        self._buffer += [self._bos, ids]
        self._buffered += len(ids) + 1
        self.num_tokens += len(ids) + 1
        self._offsets.append(self.num_tokens)
        if self._buffered >= _FLUSH_TOKENS:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        chunk = np.concatenate(self._buffer)
        self._buffer, self._buffered = [], 0
        low, high = int(chunk.min()), int(chunk.max())
        if low < 0 or high >= self.vocab_size:
            bad = low if low < 0 else high
            raise DataError(f"{self.path}: token id {bad} is outside 0..{self.vocab_size - 1}")
        self._file.write(chunk.astype(self.dtype).tobytes())

    def close(self) -> Path:
        """Finish the shard and move it to its final path."""
        try:
            self._flush()
            pad = _index_start(self.num_tokens, self.dtype.itemsize) - self._file.tell()
            self._file.write(bytes(pad))
            self._file.write(np.asarray(self._offsets, dtype=_INDEX_DTYPE).tobytes())
            self._file.seek(0)
            self._file.write(
                _HEADER.pack(
                    MAGIC, VERSION, self.dtype.itemsize, self.num_tokens,
                    self.num_docs, self.vocab_size, self.bos_id,
                )
            )
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Drop the unfinished shard."""
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_shard(
    path: Path, docs: Iterable[Sequence[int] | np.ndarray], vocab_size: int, *, bos_id: int
) -> Path:
    """Write documents (token ids without BOS) to one shard, atomically."""
    with ShardWriter(path, vocab_size, bos_id=bos_id) as writer:
        for ids in docs:
            writer.add(ids)
    return Path(path)


def write_shards(
    folder: Path,
    prefix: str,
    docs: Iterable[Sequence[int] | np.ndarray],
    vocab_size: int,
    *,
    bos_id: int,
    max_tokens: int,
) -> list[Path]:
    """Write `prefix-00000.bin`, `prefix-00001.bin`, ...; a new shard starts once one holds
    `max_tokens` tokens (documents are never split). Always writes at least one shard."""
    paths: list[Path] = []
    writer: ShardWriter | None = None

    def start() -> ShardWriter:
        return ShardWriter(folder / f"{prefix}-{len(paths):05d}.bin", vocab_size, bos_id=bos_id)

    def finish() -> None:
        nonlocal writer
        done, writer = writer, None
        paths.append(done.close())

    try:
        for ids in docs:
            if writer is None:
                writer = start()
            writer.add(ids)
            if writer.num_tokens >= max_tokens:
                finish()
        if writer is None and not paths:  # an empty split still gets its (empty) shard
            writer = start()
        if writer is not None:
            finish()
    finally:
        if writer is not None:
            writer.abort()
    return paths


def open_shard(path: Path, *, check_ids: bool = False) -> Shard:
    """Memory-map a shard and check its header and index; `check_ids` also scans every token."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: token shard not found")
    size = path.stat().st_size
    if size < HEADER_SIZE:
        raise DataError(f"{path}: truncated: {size} bytes, less than the {HEADER_SIZE}-byte header")
    with path.open("rb") as fh:
        header = fh.read(HEADER_SIZE)
    magic, version, code, num_tokens, num_docs, vocab_size, bos_id = _HEADER.unpack_from(header)
    if magic != MAGIC:
        raise DataError(f"{path}: not a danlu token shard (magic {magic!r}, expected {MAGIC!r})")
    if version != VERSION:
        raise DataError(f"{path}: shard format version {version}; this danlu reads {VERSION}")
    if code not in _DTYPES:
        raise DataError(f"{path}: unknown dtype code {code}; expected 2 (uint16) or 4 (uint32)")
    if vocab_size == 0:
        raise DataError(f"{path}: header says vocab_size 0")
    if _DTYPES[code] != token_dtype(vocab_size):
        raise DataError(
            f"{path}: dtype code {code} ({_DTYPES[code].name}) does not match vocab_size "
            f"{vocab_size}, which is stored as {token_dtype(vocab_size).name}"
        )
    index_start = _index_start(num_tokens, code)
    expected = index_start + _INDEX_DTYPE.itemsize * (num_docs + 1)
    if size != expected:
        what = "truncated" if size < expected else "has trailing bytes"
        raise DataError(
            f"{path}: {what}: {num_tokens} tokens and {num_docs} documents need {expected} bytes, "
            f"the file has {size}"
        )
    tokens = _map(path, _DTYPES[code], HEADER_SIZE, num_tokens)
    offsets = _map(path, _INDEX_DTYPE, index_start, num_docs + 1)
    _check_index(path, tokens, offsets, bos_id)
    if check_ids and num_tokens:
        chunks = range(0, num_tokens, _COUNT_CHUNK)
        high = max(int(tokens[i : i + _COUNT_CHUNK].max()) for i in chunks)
        if high >= vocab_size:
            raise DataError(f"{path}: token id {high} is not below vocab_size {vocab_size}")
    return Shard(path=path, vocab_size=vocab_size, bos_id=bos_id, tokens=tokens, offsets=offsets)


@dataclass(frozen=True)
class ShardsSummary:
    """What a set of checked shards holds."""

    shards: int
    documents: int
    tokens: int  # BOS included


def check_shards(
    paths: Sequence[Path],
    vocab_size: int,
    *,
    bos_id: int | None = None,
    documents: int | None = None,
    tokens: int | None = None,
) -> ShardsSummary:
    """Open every shard with a full scan and refuse the set unless: each has a valid header and
    index, holds at least one document, was written for `vocab_size` (and `bos_id`), has every
    id below it; and, when given, the documents and tokens (BOS included) add up to the counts
    another record (stats.json) claims. Each error names the file."""
    if not paths:
        raise DataError("no token shards to check")
    total_docs = total_tokens = 0
    for path in paths:
        shard = open_shard(path, check_ids=True)
        if shard.num_docs == 0:
            raise DataError(f"{path}: empty token shard (no documents)")
        if shard.vocab_size != vocab_size:
            raise DataError(
                f"{path}: written for vocab_size {shard.vocab_size}, the tokenizer has {vocab_size}"
            )
        if bos_id is not None and shard.bos_id != bos_id:
            raise DataError(f"{path}: BOS id {shard.bos_id}, the tokenizer's is {bos_id}")
        total_docs += shard.num_docs
        total_tokens += shard.num_tokens
    names = f"{paths[0]} .. {Path(paths[-1]).name}" if len(paths) > 1 else str(paths[0])
    counts = (("documents", documents, total_docs), ("tokens", tokens, total_tokens))
    for what, claimed, found in counts:
        if claimed is not None and claimed != found:
            raise DataError(f"{names}: the shards hold {found} {what}, {claimed} were expected")
    return ShardsSummary(shards=len(paths), documents=total_docs, tokens=total_tokens)


def _map(path: Path, dtype: np.dtype, offset: int, count: int) -> np.ndarray:
    if count == 0:  # numpy cannot map zero bytes
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(count,))


def _check_index(path: Path, tokens: np.ndarray, offsets: np.ndarray, bos_id: int) -> None:
    if offsets[0] != 0 or offsets[-1] != len(tokens):
        raise DataError(
            f"{path}: document index spans {int(offsets[0])}..{int(offsets[-1])}, "
            f"expected 0..{len(tokens)}"
        )
    # Every document holds at least its BOS, so the offsets strictly increase.
    if len(offsets) > 1 and not bool(np.all(offsets[1:] > offsets[:-1])):
        raise DataError(f"{path}: document index is not strictly increasing")
    starts = offsets[:-1].astype(np.int64)
    if len(starts) and not bool(np.all(tokens[starts] == bos_id)):
        first = int(starts[np.argmax(tokens[starts] != bos_id)])
        raise DataError(f"{path}: the document at token {first} does not start with BOS {bos_id}")


def iter_documents(paths: Iterable[Path]) -> Iterator[np.ndarray]:
    """Every document of the shards in order, each with its leading BOS."""
    for path in paths:
        shard = open_shard(path)
        for i in range(shard.num_docs):
            yield shard.document(i)


def unigram_counts(paths: Iterable[Path], vocab_size: int) -> np.ndarray:
    """How often each token id occurs in the shards (BOS included): int64, length vocab_size."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for path in paths:
        shard = open_shard(path)
        if shard.vocab_size > vocab_size:
            raise DataError(f"{path}: vocab_size {shard.vocab_size} exceeds the {vocab_size} asked")
        # Chunks keep the int64 copy that bincount makes small.
        for i in range(0, shard.num_tokens, _COUNT_CHUNK):
            chunk = np.bincount(shard.tokens[i : i + _COUNT_CHUNK], minlength=vocab_size)
            if len(chunk) > vocab_size:
                raise DataError(f"{path}: token id {len(chunk) - 1} is not below {vocab_size}")
            counts += chunk
    return counts


def shard_paths(shards_dir: Path, split: str) -> list[Path]:
    paths = sorted(Path(shards_dir).glob(f"{split}-*.bin"))
    if not paths:
        raise DataError(f"{shards_dir}: no {split}-*.bin token shards; run the tokenizer stage")
    return paths
