"""The records of an evaluation task, from the formats benchmarks ship in: JSON Lines, CSV or TSV
(optionally gzip-compressed), or line-aligned text files (one field per file, as parallel
translation corpora come). Each record carries where it came from, for error messages."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from danlu.errors import DataError
from danlu.jsonl import parse_lines

TABLE_DELIMITERS = {".csv": ",", ".tsv": "\t"}


def _open_text(path: Path) -> io.TextIOBase:
    if not path.is_file():
        raise DataError(f"{path}: task data not found")
    # utf-8-sig: a byte-order mark would otherwise stick to the first column's name
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _format(path: Path) -> str:
    """The format's suffix, under a .gz if there is one."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _jsonl(path: Path) -> Iterator[tuple[str, dict]]:
    with _open_text(path) as fh:
        for number, record in parse_lines(fh, path):
            yield f"{path}:{number}", record


def _table(path: Path, kind: str, columns: Sequence[str] | None, header: bool
           ) -> Iterator[tuple[str, dict]]:
    delimiter = TABLE_DELIMITERS[kind]
    with _open_text(path) as fh:
        # TSV benchmarks (SMS spam, SST-2) put bare quotes inside their text: no quoting there.
        quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        rows = csv.reader(fh, delimiter=delimiter, quoting=quoting)
        names = list(columns) if columns else None
        for number, row in enumerate(rows, start=1):
            if number == 1 and header:
                names = names or [name.strip() for name in row]
                continue
            if not row:
                continue
            if names is None:
                raise DataError(f"{path}: no header line and no `columns` in the task file")
            if len(row) != len(names):
                raise DataError(f"{path}:{number}: {len(row)} fields, expected {len(names)} "
                                f"({', '.join(names)})")
            yield f"{path}:{number}", dict(zip(names, row, strict=True))


def _aligned(files: Mapping[str, Path]) -> Iterator[tuple[str, dict]]:
    """One record per line number, a field per file; the files must have as many lines."""
    texts = {}
    for field, path in files.items():
        with _open_text(path) as fh:
            # lines end in \n only: str.splitlines() would also cut at U+2028, \x0c and \x85
            lines = fh.read().split("\n")
            texts[field] = [line.removesuffix("\r") for line in
                            (lines[:-1] if lines and lines[-1] == "" else lines)]
    counts = {field: len(lines) for field, lines in texts.items()}
    if len(set(counts.values())) > 1:
        raise DataError("line-aligned task files differ in length: "
                        + ", ".join(f"{files[f]} {n}" for f, n in counts.items()))
    first = next(iter(files.values()))
    for index in range(next(iter(counts.values()), 0)):
        yield f"{first}:{index + 1}", {field: lines[index] for field, lines in texts.items()}


def read_records(data: Path | Mapping[str, Path], *, columns: Sequence[str] | None = None,
                 header: bool = True, kind: str | None = None) -> list[tuple[str, dict]]:
    """(where, record) for every record of a task's data, in file order; `kind` (jsonl, csv,
    tsv) overrides what the file's suffix says."""
    if isinstance(data, Mapping):
        return list(_aligned(data))
    kind = f".{kind}" if kind else _format(data)
    if kind == ".jsonl":
        return list(_jsonl(data))
    if kind in TABLE_DELIMITERS:
        return list(_table(data, kind, columns, header))
    raise DataError(f"{data}: unknown task data format {kind or '(no suffix)'}; expected .jsonl, "
                    ".csv or .tsv (each optionally .gz), or a mapping of fields to line-aligned "
                    "text files")
