"""WARC files whose lines end in LF alone (ccnet's `.warc.txt` WET samples).

FastWARC's strict mode reads such a file as one `unknown` record, so it would yield nothing;
its quirks mode reads it but skips, without a word, a record whose Content-Length does not
match its block, or cuts the block at that length. Such files were rewritten line by line, and
their Content-Length often counts CRLF endings or characters, not the bytes there: a whole file
is read here as cc_net reads its WET files, by record boundaries (`bare_lf_records`). For a
byte range of one (a shard), FastWARC's quirks mode reads it and `skipped_records` finds what
it skipped, so the reader can quarantine those instead of losing them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from danlu.curate.compressed import DECOMPRESS_ERRORS, open_decompressed

# Only these are documents; a skipped warcinfo or request record loses nothing.
DOCUMENT_TYPES = (b"response", b"conversion")
MAX_VERSION_LINE = 64


def uses_bare_lf(path: Path) -> bool:
    """True when the file's first line is a WARC version line ended by LF without CR."""
    try:
        with open_decompressed(path) as fh:
            first = fh.readline(MAX_VERSION_LINE)
    except DECOMPRESS_ERRORS:
        return False  # the normal reader reports the damage
    return first.startswith(b"WARC/") and first.endswith(b"\n") and not first.endswith(b"\r\n")


def record_starts(path: Path) -> Iterator[tuple[int, bytes]]:
    """(offset in the decompressed stream, WARC-Type) of each document record's version line.

    A version line counts at the start of the file or after a blank line, as a record boundary
    does; a text that quotes a WARC header in its body could be counted too, which errs on the
    side of reporting a record rather than losing one.
    """
    with open_decompressed(path) as fh:
        offset, after_blank, start = 0, True, None
        for line in fh:
            bare = line.rstrip(b"\r\n")
            if after_blank and bare.startswith((b"WARC/1.0", b"WARC/1.1")) and len(bare) == 8:
                start = offset
            elif start is not None and not bare:
                start = None  # end of the header block without a WARC-Type
            elif start is not None and bare.lower().startswith(b"warc-type:"):
                kind = bare.split(b":", 1)[1].strip().lower()
                if kind in DOCUMENT_TYPES:
                    yield start, kind
                start = None
            after_blank = not bare
            offset += len(line)


def skipped_records(path: Path, seen: set[int], compressed: bool) -> list[tuple[int, str]]:
    """(offset, detail) for each document record in the file that the reader never returned.

    `seen` holds the stream positions FastWARC returned. In an uncompressed file those are the
    version lines' offsets; in a compressed one they are not comparable, so counts are.
    """
    starts = list(record_starts(path))
    if compressed:
        missing = len(starts) - len(seen)
        if missing <= 0:
            return []
        return [(0, f"{missing} of {len(starts)} document records were skipped by the WARC parser "
                    "(LF-only file, lenient mode); their Content-Length may not match their block")]
    return [
        (offset, f"{kind.decode()} record at byte {offset} was skipped by the WARC parser "
                 "(LF-only file, lenient mode); its Content-Length may not match its block")
        for offset, kind in starts if offset not in seen
    ]


@dataclass(frozen=True)
class BareRecord:
    offset: int  # of its version line in the decompressed stream
    headers: dict[str, str]  # WARC header names lower-cased
    block: bytes  # everything after the header block, without the record's closing blank line

    @property
    def kind(self) -> str:
        return self.headers.get("warc-type", "").strip().lower()


def _is_version(bare: bytes) -> bool:
    return bare in (b"WARC/1.0", b"WARC/1.1")


def bare_lf_records(path: Path) -> Iterator[BareRecord]:
    """Every record of an LF-only file, split where a version line follows a blank line (or
    starts the file); Content-Length is not trusted. A body that quotes such a line is split
    there, which errs on the side of reading a record rather than losing one."""
    with open_decompressed(path) as fh:
        data = fh.read()
    starts, offset, after_blank = [], 0, True
    for line in data.splitlines(keepends=True):
        bare = line.rstrip(b"\r\n")
        if after_blank and _is_version(bare):
            starts.append(offset)
        after_blank = not bare
        offset += len(line)
    for start, end in zip(starts, [*starts[1:], len(data)], strict=True):
        record = data[start:end]
        head, sep, block = record.partition(b"\n\n")
        headers = {}
        for line in head.split(b"\n")[1:]:
            name, colon, value = line.decode("utf-8", "replace").partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        # the record's closing blank line (CRLF CRLF in a WARC) and the body's last newlines,
        # which such a file does not tell apart
        yield BareRecord(start, headers, block.rstrip(b"\r\n") if sep else b"")
