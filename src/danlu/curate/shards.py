"""Input shards: every input file, with big files split into byte or row-group ranges, so the
shards can run in parallel processes and a killed run redoes only the shards it had not finished.

Which files split, and where:
- `.warc.gz` / `.wet.gz` (one gzip member per record, as Common Crawl writes them): at the first
  gzip member at or after each multiple of `shard_bytes` that inflates to a `WARC/` header.
  Planning only stats the file; each shard finds its own two boundaries, and neighbours agree
  because both use the same search on the same bytes. A file gzipped as one member is read
  whole by its first shard.
- plain `.jsonl`: at the line start at or after each multiple of `shard_bytes`. Planning counts
  the lines before each boundary (one sequential pass), so records keep their `line N` names.
- `.parquet`: by row groups.
- anything else (`.warc`, `.jsonl.gz`, `.jsonl.zst`, ...) is one shard.

A record belongs to the shard in which it starts, so its id (from file, record and absolute
offset) does not depend on `shard_bytes` or on the number of workers.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq

from danlu.curate.input_file import InputFile
from danlu.curate.warc_quirks import uses_bare_lf

GZIP_WARC_SUFFIXES = (".warc.gz", ".wet.gz")
SCAN_CHUNK = 1 << 20
# A gzip member starts with ID1 ID2 CM=deflate; FLG is usually 0 (Common Crawl, warcio, ours).
GZIP_MAGIC = b"\x1f\x8b\x08"
PROBE_BYTES = 1 << 14


@dataclass(frozen=True, slots=True)
class Shard:
    """Part of one input file: bytes [start, stop) (a record belongs where it starts), or row
    groups [start, stop) of a Parquet file; stop None means to the end. `first_line` is the
    number of lines before `start` (JSONL only)."""

    index: int
    source: str
    file: InputFile
    start: int = 0
    stop: int | None = None
    first_line: int = 0

    @property
    def name(self) -> str:
        return f"shard-{self.index:05d}"

    def approx_bytes(self) -> int:
        """The input bytes this shard reads (a Parquet shard: its whole file), for ordering."""
        try:
            size = self.file.path.stat().st_size
        except OSError:
            return 0
        if self.file.format == "parquet":
            return size
        return (size if self.stop is None else min(self.stop, size)) - self.start

    def describe(self) -> str:
        if self.start == 0 and self.stop is None:
            return f"{self.file.path}"
        unit = "row groups" if self.file.format == "parquet" else "bytes"
        return f"{self.file.path} [{unit} {self.start}:{'' if self.stop is None else self.stop}]"

    def key(self) -> list:
        """What identifies the shard's work (for resume): file, its size and mtime, the range."""
        if self.file.format == "hf_hub":  # a name, not a file: nothing to stat
            return [self.source, self.file.key, self.start, self.stop]
        stat = _stat(self.file.path)
        return [self.source, self.file.key, stat.st_size, stat.st_mtime_ns, self.start, self.stop,
                self.first_line]


def plan_shards(files: dict[str, list[InputFile]], shard_bytes: int) -> list[Shard]:
    """Every source's files in order, each cut into shards of about `shard_bytes`."""
    shards: list[Shard] = []
    for source, source_files in files.items():
        for file in source_files:
            for start, stop, first_line in _ranges(file, shard_bytes):
                shards.append(Shard(len(shards), source, file, start, stop, first_line))
    return shards


def _stat(path: Path) -> SimpleNamespace:
    """Size and modification time; of a saved dataset (a folder), its files' total and newest."""
    stats = [p.stat() for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path.stat()]
    return SimpleNamespace(st_size=sum(s.st_size for s in stats),
                           st_mtime_ns=max((s.st_mtime_ns for s in stats), default=0))


def _ranges(file: InputFile, shard_bytes: int) -> Iterator[tuple[int, int | None, int]]:
    if file.format in ("hf_dataset", "hf_hub"):
        yield 0, None, 0
        return
    name = file.path.name.lower()
    size = file.path.stat().st_size
    if file.format == "parquet":
        yield from _row_group_ranges(file.path, shard_bytes)
    elif size <= shard_bytes:
        yield 0, None, 0
    elif name.endswith(GZIP_WARC_SUFFIXES) and not uses_bare_lf(file.path):
        cuts = list(range(0, size, shard_bytes))
        for start, stop in zip(cuts, [*cuts[1:], None]):
            yield start, stop, 0
    elif name.endswith(".jsonl"):
        yield from _line_ranges(file.path, shard_bytes)
    else:
        yield 0, None, 0


def _row_group_ranges(path: Path, shard_bytes: int) -> Iterator[tuple[int, int | None, int]]:
    try:
        meta = pq.ParquetFile(path).metadata
    except Exception:  # noqa: BLE001 - the reader quarantines the file with the reason
        yield 0, None, 0
        return
    start, size = 0, 0
    for group in range(meta.num_row_groups):
        size += meta.row_group(group).total_byte_size
        if size >= shard_bytes and group + 1 < meta.num_row_groups:
            yield start, group + 1, 0
            start, size = group + 1, 0
    yield start, None, 0


def _line_ranges(path: Path, shard_bytes: int) -> Iterator[tuple[int, int | None, int]]:
    """Cut at the first line start at or after each multiple of shard_bytes."""
    start, first_line, lines, pos, target = 0, 0, 0, 0, shard_bytes
    with path.open("rb") as fh:
        while chunk := fh.read(SCAN_CHUNK):
            at = 0
            while pos + len(chunk) >= target:
                # the line holding byte target-1 ends at the first newline at or after it
                newline = chunk.find(b"\n", max(target - 1 - pos, at))
                if newline < 0:
                    break
                lines += chunk.count(b"\n", at, newline + 1)
                at = newline + 1
                cut = pos + at
                yield start, cut, first_line
                start, first_line = cut, lines
                target = max(target + shard_bytes, cut + 1)
            lines += chunk.count(b"\n", at)
            pos += len(chunk)
    yield start, None, first_line


def gzip_member_boundary(fh, offset: int) -> int:
    """Byte offset of the first gzip member at or after `offset` that holds a WARC record;
    the file size when there is none. Offset 0 is always a boundary (the file's start)."""
    if offset <= 0:
        return 0
    fh.seek(0, 2)
    size = fh.tell()
    pos = offset
    while pos < size:
        fh.seek(pos)
        chunk = fh.read(SCAN_CHUNK + len(GZIP_MAGIC))
        found = chunk.find(GZIP_MAGIC)
        while found >= 0:
            if _warc_member_at(fh, pos + found):
                return pos + found
            found = chunk.find(GZIP_MAGIC, found + 1)
        pos += SCAN_CHUNK
    return size


def _warc_member_at(fh, offset: int) -> bool:
    fh.seek(offset)
    data = fh.read(PROBE_BYTES)
    try:
        head = zlib.decompressobj(wbits=31).decompress(data, 16)
    except zlib.error:
        return False
    return head.startswith(b"WARC/")


class ByteWindow:
    """Bytes [start, end) of an open file, as a stream FastWARC can read (read and tell)."""

    def __init__(self, fh, start: int, end: int):
        self._fh = fh
        self.start = start
        self._left = end - start
        fh.seek(start)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > self._left:
            n = self._left
        data = self._fh.read(n)
        self._left -= len(data)
        return data

    def tell(self) -> int:
        return self._fh.tell() - self.start
