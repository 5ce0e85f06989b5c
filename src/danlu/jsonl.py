"""JSON Lines input: one object per line; a bad line is an error naming the file and the line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from danlu.errors import DataError


def jsonl_records(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with path.open(encoding="utf-8") as fh:
        yield from parse_lines(fh, path)


def parse_lines(lines: Iterable[str], name: object) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of an open text; errors name `name`."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            kind = type(record).__name__
            raise DataError(f"{name}:{number}: expected a JSON object, got {kind}")
        yield number, record
