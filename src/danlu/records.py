"""Fine-tuning inputs one record at a time, from JSONL files, JSON arrays, saved Hugging Face
datasets or folders of files, each with its file and line; and the quarantine where a record
that cannot be used goes, with the reason, written beside the stage's outputs and counted."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from danlu.atomic import atomic_write_text
from danlu.errors import DataError

RAW_LIMIT = 2000  # characters of a record kept in the quarantine: enough to see what broke
DATA_SUFFIXES = (".jsonl", ".json")
SAVED_DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
T = TypeVar("T")
JSON_TYPES = {"list": "array", "str": "string", "int": "number", "float": "number",
              "bool": "boolean", "NoneType": "null", "dict": "object"}


@dataclass(frozen=True)
class Quarantined:
    file: str
    line: int  # 1-based line (JSONL), item (JSON array) or row (saved dataset); 0: whole file
    reason: str
    raw: str


@dataclass(frozen=True)
class Record:
    """One JSON object read from an input, with where it came from."""

    file: str
    line: int
    data: dict
    raw: str

    def quarantine(self, reason: str) -> Quarantined:
        return Quarantined(self.file, self.line, reason, self.raw)

    @property
    def id(self) -> str:
        """The record's own "id" when it has one, else file name:line."""
        own = self.data.get("id")
        if isinstance(own, bool):  # JSON true is not an id, though Python calls it an int
            own = None
        if (isinstance(own, str) and own.strip()) or isinstance(own, int):
            return str(own)
        return f"{Path(self.file).name}:{self.line}"


class Rejected(Exception):
    """Why a record is quarantined: raised by a record parser, caught by its reader."""


def json_type(value: object) -> str:
    return JSON_TYPES.get(type(value).__name__, type(value).__name__)


# --- inputs: files, arrays, saved datasets and folders, one record at a time -----------------

def iter_records(paths: Path | str | Iterable[Path | str], root: Path | None = None
                 ) -> Iterator[Record | Quarantined]:
    """Each record of the inputs in order, or its quarantine when it is not a JSON object;
    files are named relative to `root` when they are inside it (no machine path in outputs)."""
    for path in input_files(paths):
        file = display_name(path, root)
        if is_saved_dataset(path):
            yield from _dataset_records(path, file)
        elif path.suffix == ".json":
            yield from _json_records(path, file)
        else:
            with path.open("rb") as fh:  # bytes: one bad UTF-8 line must not end the file
                yield from _jsonl_records(file, fh)


def display_name(path: Path, root: Path | None) -> str:
    path = Path(path)
    if root is not None and path.is_absolute() and path.is_relative_to(root):
        return path.relative_to(root).as_posix()
    return str(path)


def as_path_list(paths: Path | str | Iterable[Path | str]) -> list[Path]:
    return [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]


def input_files(paths: Path | str | Iterable[Path | str]) -> list[Path]:
    """Files and saved-dataset folders to read; a missing or unsupported path is a DataError."""
    out, paths = [], as_path_list(paths)
    if not paths:
        raise DataError("no input paths given: expected files, folders or saved datasets")
    for path in paths:
        if not path.exists():
            raise DataError(f"{path}: no such file or folder")
        if is_saved_dataset(path) or (path.is_file() and path.suffix in DATA_SUFFIXES):
            out.append(path)
        elif path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in DATA_SUFFIXES)
            if not found:
                raise DataError(f"{path}: folder holds no .jsonl or .json files")
            out.extend(found)
        else:
            raise DataError(f"{path}: expected a .jsonl or .json file, a folder of them, "
                            "or a dataset saved with datasets' save_to_disk")
    return out


def is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in SAVED_DATASET_MARKERS)


def _jsonl_records(file: str, lines: Iterable[str | bytes]) -> Iterator[Record | Quarantined]:
    for number, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield Quarantined(file, number, f"not valid UTF-8 ({exc.reason} at byte "
                                  f"{exc.start})", _clip(line.decode("utf-8", "replace")))
                continue
        if number == 1:
            line = line.removeprefix("\ufeff")  # a byte-order mark is not JSON
        if line.strip():  # blank lines are layout, not records
            yield _from_text(file, number, line.strip())


def _json_records(path: Path, file: str) -> Iterator[Record | Quarantined]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        yield Quarantined(file, 0, f"not valid UTF-8 ({exc.reason} at byte {exc.start})", "")
        return
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("["):
            yield Quarantined(file, 0, f"not valid JSON ({exc.msg} at line {exc.lineno} "
                              f"column {exc.colno})", _clip(text))
        else:  # a .json file holding JSON Lines, which `datasets` reads too
            yield from _jsonl_records(file, text.split("\n"))  # not splitlines: U+2028 is JSON
        return
    if isinstance(value, list):
        for index, item in enumerate(value, start=1):
            yield _from_value(file, index, item, _clip(json.dumps(item, ensure_ascii=False)))
    else:
        yield _from_value(file, 1, value, _clip(text))


def _dataset_records(path: Path, file: str) -> Iterator[Record | Quarantined]:
    import datasets

    try:
        loaded = datasets.load_from_disk(file)
    except Exception as exc:  # noqa: BLE001 - datasets raises many types for a damaged folder
        yield Quarantined(file, 0, f"unreadable saved dataset ({type(exc).__name__}: {exc})", "")
        return
    if isinstance(loaded, datasets.DatasetDict):
        if "train" not in loaded:
            raise DataError(f"{path}: saved DatasetDict has no 'train' split "
                            f"(splits: {', '.join(sorted(loaded))})")
        loaded = loaded["train"]
    for row_number, row in enumerate(loaded, start=1):
        # Arrow gives every row every column: a field this row lacks comes back as None
        data = {key: value for key, value in row.items() if value is not None}
        raw = json.dumps(data, ensure_ascii=False, default=str)
        yield Record(file, row_number, data, _clip(raw))


def _from_text(file: str, line: int, text: str) -> Record | Quarantined:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return Quarantined(file, line, f"not valid JSON ({exc.msg})", _clip(text))
    return _from_value(file, line, value, _clip(text))


def _from_value(file: str, line: int, value: object, raw: str) -> Record | Quarantined:
    if not isinstance(value, dict):
        return Quarantined(file, line, f"expected a JSON object (got {json_type(value)})", raw)
    return Record(file, line, value, raw)


def _clip(text: str) -> str:
    return text[:RAW_LIMIT]


# --- the quarantine: written beside the outputs, counted for stats ----------------------------

def quarantine_text(rows: list[Quarantined]) -> str:
    """JSONL of {file, line, reason, raw}: the stage's quarantine file."""
    return "".join(json.dumps({"file": r.file, "line": r.line, "reason": r.reason, "raw": r.raw},
                              ensure_ascii=False) + "\n" for r in rows)


def write_quarantine(path: Path, rows: list[Quarantined]) -> None:
    """The quarantine file, written atomically (an empty file when none)."""
    atomic_write_text(Path(path), quarantine_text(rows))


def reason_kind(reason: str) -> str:
    """The reason without its detail: the text before the first " (" or ":"."""
    return re.split(r" \(|:", reason, maxsplit=1)[0].strip()


def reason_counts(rows: list[Quarantined]) -> dict[str, int]:
    """Quarantined rows per reason kind, most common first."""
    return dict(Counter(reason_kind(r.reason) for r in rows).most_common())


def read_kept(paths: Path | str | Iterable[Path | str], root: Path | None, what: str,
              parse: Callable[[Record], T]) -> tuple[list[T], list[Quarantined], dict[str, int]]:
    """(kept items, quarantined records, kept per format) of every record of the inputs:
    `parse(record) -> (format, item)` keeps it, or raises Rejected with the reason."""
    paths = as_path_list(paths)  # read twice: for the records, and to name them in an error
    kept, quarantined, formats = [], [], Counter()
    for item in iter_records(paths, root):
        if isinstance(item, Quarantined):
            quarantined.append(item)
            continue
        try:
            kind, value = parse(item)
        except Rejected as exc:
            quarantined.append(item.quarantine(str(exc)))
            continue
        kept.append(value)
        formats[kind] += 1
    require_usable(what, paths, len(kept), quarantined)
    return kept, quarantined, dict(formats)


def require_usable(what: str, paths: Path | str | Iterable[Path | str], kept: int,
                   quarantined: list[Quarantined]) -> None:
    """DataError when no record survived, naming the inputs and the commonest reasons."""
    if kept:
        return
    names = ", ".join(str(p) for p in as_path_list(paths))
    common = "; ".join(f"{kind!r} x{n}" for kind, n in list(reason_counts(quarantined).items())[:3])
    raise DataError(f"no usable {what} in {names}: {len(quarantined)} records quarantined"
                    + (f"; most common reasons: {common}" if common else ""))
