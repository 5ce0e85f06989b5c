"""Streaming readers: WARC/WET (.warc, .warc.gz, .wet, .wet.gz, .warc.txt; read_warc.py), JSONL
(.jsonl, .jsonl.gz, .jsonl.zst), and Parquet and Hugging Face datasets (read_columnar.py), whole files
or the byte / row-group range of a shard (shards.py).

Each yields RawDocument for a usable record and Quarantined for one that is not (a corrupt
file yields what it could read, then one Quarantined for the rest), so every input is counted.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from danlu.config import HUB_PREFIX
from danlu.curate.compressed import DECOMPRESS_ERRORS, open_decompressed
from danlu.curate.document import (
    Provenance,
    Quarantined,
    RawDocument,
    document_id,
    preview,
)
from danlu.curate.input_file import Format, InputFile
from danlu.curate.read_columnar import (
    is_saved_dataset,
    read_hf_dataset,
    read_hub_dataset,
    read_parquet,
)
from danlu.curate.read_warc import read_warc, unreadable_rest
from danlu.errors import DataError

# .warc.txt: ccnet's name for a plain WET file (often LF-only, see warc_quirks.py).
WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz", ".warc.txt")
# .json.gz: Dolma's name for its JSON Lines documents (one object a line, compressed)
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.zstd", ".json.gz", ".json.zst",
                  ".json.zstd")
PARQUET_SUFFIXES = (".parquet",)
SUPPORTED_SUFFIXES = WARC_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES

Item = RawDocument | Quarantined




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
                yield unreadable_rest(source, file, line_no, offset, exc)
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
