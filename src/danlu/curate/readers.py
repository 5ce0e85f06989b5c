"""Streaming readers: WARC/WET (.warc, .warc.gz, .wet, .wet.gz, .warc.txt), JSONL (.jsonl,
.jsonl.gz, .jsonl.zst), and Parquet and Hugging Face datasets (read_columnar.py), whole files
or the byte / row-group range of a shard (shards.py).

Each yields RawDocument for a usable record and Quarantined for one that is not (a corrupt
file yields what it could read, then one Quarantined for the rest), so every input is counted.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

from danlu.curate.compressed import DECOMPRESS_ERRORS, GZIP_SUFFIXES, open_decompressed
from danlu.curate.document import Provenance, Quarantined, RawDocument, document_id, preview
from danlu.curate.http_body import PayloadTooLarge, decode_http_body
from danlu.config import HUB_PREFIX
from danlu.curate.read_columnar import (
    is_saved_dataset,
    read_hf_dataset,
    read_hub_dataset,
    read_parquet,
)
from danlu.curate.shards import ByteWindow, gzip_member_boundary
from danlu.curate.warc_quirks import skipped_records, uses_bare_lf
from danlu.errors import DataError

# .warc.txt: ccnet's name for a plain WET file (often LF-only, see warc_quirks.py).
WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz", ".warc.txt")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.zstd")
PARQUET_SUFFIXES = (".parquet",)
SUPPORTED_SUFFIXES = WARC_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES
Format = Literal["warc", "jsonl", "parquet", "hf_dataset", "hf_hub"]
# Record types that hold a document: HTTP responses (HTML) and WET conversions (plain text).
DOCUMENT_RECORDS = WarcRecordType.response | WarcRecordType.conversion
REST_OF_FILE = "(rest of file)"

Item = RawDocument | Quarantined


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file to read; `key` is its path below the common parent of the source's inputs, so
    document ids do not depend on where the project lives."""

    path: Path
    key: str
    format: Format


log = logging.getLogger(__name__)


def file_format(path: Path) -> Format | None:
    name = path.name.lower()
    if name.endswith(WARC_SUFFIXES):
        return "warc"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def list_input_files(paths: Iterable[Path]) -> list[InputFile]:
    """Files and folders (every supported file below it, sorted) -> the files, each once."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("no input paths given")
    hub = [_hub_input(p) for p in paths if _hub_name(p)]
    paths = [p for p in paths if not _hub_name(p)]
    for path in paths:
        if not path.exists():
            raise DataError(f"{path}: input path does not exist")
    if not paths:
        return hub
    found: list[Path] = []
    datasets_found: list[Path] = []
    for path in paths:
        if is_saved_dataset(path):
            datasets_found.append(path)
        elif path.is_dir():
            inside = sorted(
                (p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path))),
                key=lambda p: p.relative_to(path).as_posix(),
            )
            for skipped in (p for p in inside if not file_format(p)):
                log.warning("%s: unsupported input file skipped (expected one of %s)",
                            skipped, ", ".join(SUPPORTED_SUFFIXES))
            inside = [p for p in inside if file_format(p)]
            if not inside:
                kinds = ", ".join(SUPPORTED_SUFFIXES)
                raise DataError(f"{path}: folder holds no input files ({kinds})")
            found.extend(inside)
        elif file_format(path):
            found.append(path)
        else:
            kinds = ", ".join(SUPPORTED_SUFFIXES)
            raise DataError(f"{path}: unsupported input file; expected one of {kinds}")
    unique: dict[Path, Path] = {}
    for path in found:  # a file named twice (alone and in its folder) is read once
        unique.setdefault(path.resolve(), path)
    # Anchored at the inputs' parents, not the files': adding a file never renames the others.
    # abspath, not resolve: a symlinked file keeps the name it has inside the input folder.
    anchor = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    def key(path: Path) -> str:
        return Path(os.path.relpath(os.path.abspath(path), anchor)).as_posix()

    files = [InputFile(path, key(path), file_format(path)) for path in unique.values()]
    files += [InputFile(path, key(path), "hf_dataset") for path in datasets_found]
    return files + hub


def _hub_name(path: Path) -> str | None:
    """`hf://datasets/OWNER/NAME[@SPLIT]`, which Path has folded to `hf:/datasets/...`."""
    text = str(path)
    if text.startswith("hf:/datasets/") and not text.startswith(HUB_PREFIX):
        text = "hf://" + text.removeprefix("hf:/")
    return text if text.startswith(HUB_PREFIX) else None


def _hub_input(path: Path) -> InputFile:
    name = _hub_name(path)
    if not name.removeprefix(HUB_PREFIX).strip("/"):
        raise DataError(f"{name}: expected hf://datasets/OWNER/NAME[@SPLIT]")
    return InputFile(path, name, "hf_hub")


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def read_files(
    source: str, files: Iterable[InputFile], *, max_payload_bytes: int | None
) -> Iterator[Item]:
    for file in files:
        yield from read_range(source, file, max_payload_bytes=max_payload_bytes)


def read_range(
    source: str,
    file: InputFile,
    start: int = 0,
    stop: int | None = None,
    first_line: int = 0,
    *,
    max_payload_bytes: int | None,
) -> Iterator[Item]:
    """The records of `file` that start in [start, stop): bytes, or row groups of Parquet (see
    shards.py for where files are cut)."""
    if file.format == "warc":
        yield from read_warc(source, file, max_payload_bytes=max_payload_bytes, start=start, stop=stop)
    elif file.format == "hf_dataset":
        yield from read_hf_dataset(source, file)
    elif file.format == "hf_hub":
        yield from read_hub_dataset(source, file)
    elif file.format == "parquet":
        yield from read_parquet(source, file, start, stop)
    else:
        yield from read_jsonl(source, file, start, stop, first_line)


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
                # ourselves, unless its short last record already accounts for the cut.
                problem = None if end_seen_short else gzip_problem(file.path, begin, end)
                if problem:
                    yield _unreadable_rest(source, file, count, last_offset, problem)
                if lenient:
                    yield from _skipped(source, file, seen)
                return
            except OSError as exc:
                yield _unreadable_rest(source, file, count, last_offset, exc)
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


def _unreadable_rest(
    source: str, file: InputFile, count: int, last_offset: int, exc: Exception | str
) -> Quarantined:
    where = Provenance(str(file.path), REST_OF_FILE, last_offset)
    detail = f"unreadable after {count} records (last good offset {last_offset}): {exc}"
    doc_id = document_id(source, file.key, REST_OF_FILE, count)
    return Quarantined(source, where, "corrupt_file", detail, id=doc_id)


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


def read_jsonl(
    source: str, file: InputFile, start: int = 0, stop: int | None = None, first_line: int = 0
) -> Iterator[Item]:
    """One document per line with a string `text` (optional `url`); blank lines are skipped.
    A range (plain .jsonl only) starts at a line start, `first_line` lines into the file."""
    with open_decompressed(file.path) as fh:
        if start:
            fh.seek(start)
        line_no, offset = first_line, start
        while stop is None or offset < stop:
            try:
                line = fh.readline()
            except DECOMPRESS_ERRORS as exc:
                yield _unreadable_rest(source, file, line_no, offset, exc)
                return
            if not line:
                return
            line_no, start, offset = line_no + 1, offset, offset + len(line)
            if line.strip():
                yield _jsonl_item(source, file, line, line_no, start)


def _jsonl_item(source: str, file: InputFile, line: bytes, line_no: int, offset: int) -> Item:
    record = f"line {line_no}"
    where = Provenance(str(file.path), record, offset)
    doc_id = document_id(source, file.key, record, offset)
    try:
        obj = json.loads(line)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both
        detail = str(exc)
        return Quarantined(source, where, "malformed_json", detail, id=doc_id, preview=preview(line))
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        if not isinstance(obj, dict):
            detail = f"expected a JSON object, got {type(obj).__name__}"
        elif "text" not in obj:
            detail = f"no 'text' field (fields: {', '.join(sorted(obj)[:10])})"
        else:
            detail = f"'text' is {type(obj['text']).__name__}, expected a string"
        return Quarantined(source, where, "missing_text", detail, id=doc_id, preview=preview(line))
    url = obj.get("url") if isinstance(obj.get("url"), str) else None
    return RawDocument(doc_id, source, url, "jsonl", obj["text"], None, None, None, where)
