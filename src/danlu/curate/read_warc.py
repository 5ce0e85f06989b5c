"""WARC/WET records as documents: HTTP responses (HTML, decoded by the declared charset, then
sniffed) and WET conversions (plain text), whole files or the gzip members of a shard's byte
range. A corrupt or truncated file yields what it could read, then one Quarantined for the rest.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

from danlu.curate.compressed import GZIP_SUFFIXES
from danlu.curate.document import (
    Provenance,
    Quarantined,
    RawDocument,
    document_id,
    preview,
)
from danlu.curate.http_body import PayloadTooLarge, decode_http_body
from danlu.curate.input_file import InputFile
from danlu.curate.shards import ByteWindow, gzip_member_boundary
from danlu.curate.warc_quirks import (
    DOCUMENT_TYPES,
    BareRecord,
    bare_lf_records,
    skipped_records,
    uses_bare_lf,
)
from danlu.errors import DataError

# Record types that hold a document: HTTP responses (HTML) and WET conversions (plain text).
DOCUMENT_RECORDS = WarcRecordType.response | WarcRecordType.conversion

REST_OF_FILE = "(rest of file)"

Item = RawDocument | Quarantined


def read_warc(
    source: str,
    file: InputFile,
    *,
    max_payload_bytes: int | None = None,
    start: int = 0,
    stop: int | None = None,
) -> Iterator[Item]:
    """Response and conversion records; other record types (request, metadata...) are skipped.
    With a byte range (a .warc.gz shard), the records whose gzip member starts in it."""
    lenient = uses_bare_lf(file.path)  # strict mode reads an LF-only file as nothing at all
    if lenient and start == 0 and stop is None:
        yield from _bare_lf_items(source, file, max_payload_bytes)
        return
    with file.path.open("rb") as fh:
        begin = gzip_member_boundary(fh, start)
        end = gzip_member_boundary(fh, stop) if stop is not None else fh.seek(0, 2)
        if begin >= end:
            return
        stream = ByteWindow(fh, begin, end) if (begin, stop) != (0, None) else fh
        fh.seek(begin)
        # auto_decode stays off: a truncated record is only visible against the raw length.
        records = iter(ArchiveIterator(
            stream, record_types=DOCUMENT_RECORDS, auto_decode="none", quirks_mode=lenient
        ))
        count, last_offset, end_seen_short, seen = 0, begin, False, set()
        while True:
            try:
                record = next(records)
            except StopIteration:
                # FastWARC ends quietly at a gzip member cut near its start: check the file
                # ourselves, unless its short last record already accounts for the cut. Every
                # member before the last record's was read whole, so the check starts there.
                problem = None if end_seen_short else gzip_problem(file.path, last_offset, end)
                if problem:
                    yield unreadable_rest(source, file, count, last_offset, problem)
                if lenient:
                    yield from _skipped(source, file, seen)
                return
            except OSError as exc:
                yield unreadable_rest(source, file, count, last_offset, exc)
                return
            offset = begin + record.stream_pos
            count, last_offset = count + 1, offset
            seen.add(offset)
            item, broken = _warc_item(source, file, record, offset, max_payload_bytes)
            end_seen_short = isinstance(item, Quarantined) and item.reason == "truncated_record"
            yield item
            if broken:
                return


def _warc_item(
    source: str, file: InputFile, record: WarcRecord, offset: int, max_payload_bytes: int | None
) -> tuple[Item, bool]:
    """The record (at byte `offset` of the file) as a RawDocument or Quarantined; True when the
    file cannot be read further."""
    record_id = record.record_id or ""
    where = Provenance(str(file.path), record_id, offset)
    doc_id = document_id(source, file.key, record_id, offset)

    def quarantine(reason: str, detail: str, payload: bytes = b"") -> Quarantined:
        return Quarantined(source, where, reason, detail, id=doc_id, preview=preview(payload))

    is_response = record.record_type == WarcRecordType.response
    if is_response and not record.is_http:
        return quarantine("not_http", "response record without an HTTP message"), False
    if is_response and max_payload_bytes is not None and record.content_length > max_payload_bytes:
        detail = f"{record.content_length} bytes > max_html_bytes={max_payload_bytes}"
        return quarantine("too_large", detail), False
    try:
        raw = record.reader.read()
    except OSError as exc:
        return quarantine("corrupt_file", f"reading the payload failed: {exc}"), True
    if record.headers.get("Content-Length") is None or len(raw) < record.content_length:
        detail = f"payload has {len(raw)} of {record.content_length} bytes; the file ends early"
        return quarantine("truncated_record", detail, raw), False
    url = _clean_url(record.headers.get("WARC-Target-URI"))
    if not is_response:
        content_type = record.headers.get("Content-Type")
        charset = _charset(content_type)
        return RawDocument(
            doc_id, source, url, "conversion", raw, content_type, charset, None, where
        ), False
    http = record.http_headers
    try:
        body = decode_http_body(
            raw, http.get("Transfer-Encoding"), http.get("Content-Encoding"), max_payload_bytes
        )
    except PayloadTooLarge as exc:
        return quarantine("too_large", str(exc)), False
    except DataError as exc:
        return quarantine("bad_http_encoding", str(exc), raw), False
    return RawDocument(
        doc_id, source, url, "response", body, record.http_content_type, record.http_charset,
        http.status_code, where,
    ), False


def _bare_lf_items(source: str, file: InputFile, max_payload_bytes: int | None
                   ) -> Iterator[Item]:
    """The document records of a whole LF-only file, read by record boundaries."""
    for record in bare_lf_records(file.path):
        if record.kind.encode() not in DOCUMENT_TYPES:
            continue
        record_id = record.headers.get("warc-record-id", "")
        where = Provenance(str(file.path), record_id, record.offset)
        doc_id = document_id(source, file.key, record_id, record.offset)
        url = _clean_url(record.headers.get("warc-target-uri"))
        content_type = record.headers.get("content-type")
        if record.kind == "conversion":
            yield RawDocument(doc_id, source, url, "conversion", record.block, content_type,
                              _charset(content_type), None, where)
            continue
        yield _bare_lf_response(source, record, doc_id, url, where, max_payload_bytes)


def _bare_lf_response(source: str, record: BareRecord, doc_id: str, url: str | None,
                      where: Provenance, max_payload_bytes: int | None) -> Item:
    def quarantine(reason: str, detail: str, payload: bytes = b"") -> Quarantined:
        return Quarantined(source, where, reason, detail, id=doc_id, preview=preview(payload))

    if max_payload_bytes is not None and len(record.block) > max_payload_bytes:
        return quarantine("too_large", f"{len(record.block)} bytes > "
                                       f"max_html_bytes={max_payload_bytes}")
    head, sep, raw = record.block.replace(b"\r\n", b"\n").partition(b"\n\n")
    status_line, *lines = head.decode("latin-1").split("\n")
    parts = status_line.split()
    if not sep or not status_line.startswith("HTTP/") or len(parts) < 2 \
            or not parts[1].isdigit():
        return quarantine("not_http", "response record without an HTTP message", record.block)
    http = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            http[name.strip().lower()] = value.strip()
    try:
        body = decode_http_body(raw, http.get("transfer-encoding"),
                                http.get("content-encoding"), max_payload_bytes)
    except PayloadTooLarge as exc:
        return quarantine("too_large", str(exc))
    except DataError as exc:
        return quarantine("bad_http_encoding", str(exc), raw)
    content_type = http.get("content-type")
    mime = content_type.split(";")[0].strip().lower() if content_type else None
    return RawDocument(doc_id, source, url, "response", body, mime, _charset(content_type),
                       int(parts[1]), where)


def _skipped(source: str, file: InputFile, seen: set[int]) -> Iterator[Quarantined]:
    compressed = file.path.name.lower().endswith(GZIP_SUFFIXES)
    for offset, detail in skipped_records(file.path, seen, compressed):
        record = f"(record at byte {offset})"
        where = Provenance(str(file.path), record, offset)
        doc_id = document_id(source, file.key, record, offset)
        yield Quarantined(source, where, "unreadable_record", detail, id=doc_id)


def gzip_problem(
    path: Path, start: int = 0, end: int | None = None, chunk_size: int = 1 << 20
) -> str | None:
    """Why (multi-member) gzip bytes [start, end) of a file are damaged, or None when they are
    whole or not gzip."""
    with path.open("rb") as fh:
        fh.seek(start)
        if fh.read(2) != b"\x1f\x8b":
            return None
        fh.seek(start)
        window = ByteWindow(fh, start, end if end is not None else fh.seek(0, 2))
        member, member_start, consumed = zlib.decompressobj(wbits=31), start, start
        while chunk := window.read(chunk_size):
            data = chunk
            while data:
                try:
                    member.decompress(data)
                except zlib.error as exc:
                    return f"gzip member at byte {member_start} is corrupt ({exc})"
                if not member.eof:
                    consumed += len(data)
                    break
                used = len(data) - len(member.unused_data)
                consumed += used
                data = member.unused_data
                member, member_start = zlib.decompressobj(wbits=31), consumed
        if consumed > member_start:  # bytes of a member that never reached its end
            return f"gzip member at byte {member_start} is truncated (file ends at {consumed})"
    return None


def _clean_url(value: str | None) -> str | None:
    # wget writes WARC-Target-URI as <https://...> (WARC/1.0 grammar); others write it bare.
    if value is None:
        return None
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value or None


def _charset(content_type: str | None) -> str | None:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def unreadable_rest(
    source: str, file: InputFile, count: int, last_offset: int, exc: Exception | str
) -> Quarantined:
    """One Quarantined for the part of a file after its last readable record."""
    where = Provenance(str(file.path), REST_OF_FILE, last_offset)
    detail = f"unreadable after {count} records (last good offset {last_offset}): {exc}"
    doc_id = document_id(source, file.key, REST_OF_FILE, count)
    return Quarantined(source, where, "corrupt_file", detail, id=doc_id)
