"""Read the curate outputs into the narrow DataFrames the suites check.

Only the columns the expectations look at are read, as Arrow-backed pandas columns (no copy into
Python objects). The document text is never loaded whole: the frame's `text` column keeps only
which rows are null, taken from the parquet statistics where they prove there are none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from danlu.errors import DataError
from danlu.jsonl import jsonl_records

DOCUMENTS_DIR = "documents"
DROPPED_DIR = "dropped"
QUARANTINE_FILE = "quarantine/quarantine.jsonl"

DOCUMENT_VALUE_COLUMNS = [
    "id", "source", "language", "language_score", "quality_score", "n_chars", "text_hash",
]  # fmt: skip
DROPPED_VALUE_COLUMNS = ["id", "reason", "n_bytes"]
HASH_BYTES_COLUMN = "text_hash_bytes"  # derived: the length of each text_hash


@dataclass(frozen=True)
class OutputFrames:
    """An output's columns and types (no rows), and the rows of the columns that are checked."""

    schema: pd.DataFrame
    values: pd.DataFrame


def read_documents(folder: Path) -> OutputFrames:
    return _read_parts(folder, DOCUMENT_VALUE_COLUMNS, with_text=True)


def read_dropped(folder: Path) -> OutputFrames:
    return _read_parts(folder, DROPPED_VALUE_COLUMNS, with_text=False)


def read_quarantine(path: Path, columns: list[str]) -> OutputFrames:
    """One row per JSON line; an empty log is an empty frame with `columns`."""
    if not path.is_file():
        raise DataError(f"{path}: the quarantine log is missing (curate always writes one)")
    rows = [row for _, row in jsonl_records(path)]
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)
    return OutputFrames(schema=frame.head(0), values=frame)


def _read_parts(folder: Path, columns: list[str], *, with_text: bool) -> OutputFrames:
    parts = sorted(folder.glob("*.parquet"))
    if not parts:
        raise DataError(f"{folder}: no parquet parts (curate always writes one)")
    schema = pq.read_schema(parts[0])
    for part in parts[1:]:
        if not pq.read_schema(part).equals(schema):
            raise DataError(f"{part}: its columns differ from {parts[0].name}'s")
    present = [c for c in columns if c in schema.names]
    tables = []
    for part in parts:
        parquet = pq.ParquetFile(part)
        table = parquet.read(columns=present)
        if with_text and "text" in schema.names:
            table = table.append_column("text", text_nullness(parquet))
        if "text_hash" in present:  # pandas measures binary as UTF-8 and fails: measure here
            table = table.append_column(
                HASH_BYTES_COLUMN, pc.binary_length(table.column("text_hash"))
            )
        tables.append(table)
    values = pa.concat_tables(tables).to_pandas(types_mapper=pd.ArrowDtype)
    return OutputFrames(schema=_schema_frame(schema), values=values)


def _schema_frame(schema: pa.Schema) -> pd.DataFrame:
    """Zero rows with the file's columns and types, for the schema suite.

    pandas cannot name a fixed-size binary dtype, so a type expectation could not ask for one:
    such a column is seen as binary here, and the value suite checks each value's length.
    """
    fields = [
        pa.field(f.name, pa.binary()) if pa.types.is_fixed_size_binary(f.type) else f
        for f in schema
    ]
    return pa.schema(fields).empty_table().to_pandas(types_mapper=pd.ArrowDtype)


def text_nullness(parquet: pq.ParquetFile) -> pa.Array:
    """The text column with every value replaced by "": nulls stay null, no text is held."""
    leaf = next(
        i
        for i in range(parquet.metadata.num_columns)
        if parquet.metadata.schema.column(i).path == "text"
    )
    masks = []
    for group in range(parquet.num_row_groups):
        meta = parquet.metadata.row_group(group)
        stats = meta.column(leaf).statistics
        if stats is not None and stats.has_null_count and stats.null_count == 0:
            masks.append(np.zeros(meta.num_rows, dtype=bool))
        else:  # no statistics, or some nulls: read this row group's text to find them
            text = parquet.read_row_group(group, columns=["text"]).column("text")
            masks.append(pc.is_null(text).to_numpy())
    mask = np.concatenate(masks) if masks else np.zeros(0, dtype=bool)
    return pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), pa.scalar("", pa.string()))
