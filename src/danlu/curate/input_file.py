"""An input file as the readers, shards and workers see it: path, stable key and format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Format = Literal["warc", "jsonl", "parquet", "hf_dataset", "hf_hub"]


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file to read; `key` is its path below the common parent of the source's inputs, so
    document ids do not depend on where the project lives."""

    path: Path
    key: str
    format: Format
