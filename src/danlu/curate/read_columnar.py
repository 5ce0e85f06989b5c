"""Parquet reader: one document per row of a string `text` column (optional `id`, `url`).

Read one record batch at a time, so memory stays bounded by the batch, not the file. A row has
no byte offset of its own: its provenance offset is its row index in the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from danlu.curate.document import Provenance, Quarantined, RawDocument, document_id

if TYPE_CHECKING:
    from danlu.curate.readers import InputFile

TEXT_COLUMN = "text"
OPTIONAL_COLUMNS = ("id", "url")
BATCH_ROWS = 1024
REST_OF_FILE = "(rest of file)"


def read_parquet(source: str, file: InputFile) -> Iterator[RawDocument | Quarantined]:
    try:
        parquet = pq.ParquetFile(file.path)
    except (OSError, pa.ArrowException) as exc:
        yield _whole_file(source, file, 0, "corrupt_file", f"not a readable Parquet file: {exc}")
        return
    with parquet:
        names = parquet.schema_arrow.names
        if TEXT_COLUMN not in names:
            detail = f"no '{TEXT_COLUMN}' column (columns: {', '.join(names[:10])})"
            yield _whole_file(source, file, 0, "missing_text_column", detail)
            return
        columns = [TEXT_COLUMN, *(c for c in OPTIONAL_COLUMNS if c in names)]
        row = 0
        try:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                values = batch.to_pydict()
                for i in range(batch.num_rows):
                    yield _row_item(source, file, row, {c: values[c][i] for c in columns})
                    row += 1
        except (OSError, pa.ArrowException) as exc:
            detail = f"unreadable after {row} rows: {exc}"
            yield _whole_file(source, file, row, "corrupt_file", detail)


def _row_item(source: str, file: InputFile, row: int, values: dict) -> RawDocument | Quarantined:
    source_id = values.get("id")
    # The source's own id rides in the record name, so a row can be traced back by it.
    record = f"row {row}" if source_id is None else f"row {row} (id {source_id})"
    where = Provenance(str(file.path), record, row)
    doc_id = document_id(source, file.key, record, row)
    text = values[TEXT_COLUMN]
    if not isinstance(text, str):
        detail = "'text' is null" if text is None else f"'text' is {type(text).__name__}, expected a string"
        return Quarantined(source, where, "missing_text", detail, id=doc_id)
    url = values.get("url") if isinstance(values.get("url"), str) else None
    return RawDocument(doc_id, source, url, "jsonl", text, None, None, None, where)


def _whole_file(source: str, file: InputFile, row: int, reason: str, detail: str) -> Quarantined:
    where = Provenance(str(file.path), REST_OF_FILE, row)
    return Quarantined(source, where, reason, f"{file.path}: {detail}",
                       id=document_id(source, file.key, REST_OF_FILE, row))
