"""Columnar readers: Parquet files and Hugging Face `datasets` datasets (a folder written by
`save_to_disk`, or a hub name `hf://datasets/OWNER/NAME[/SPLIT]` where a network exists). One
document per row of a string `text` column (optional `id`, `url`).

Read one record batch at a time, so memory stays bounded by the batch, not the file. A row has
no byte offset of its own: its provenance offset is its row index in the file (or split).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from danlu.curate.document import Provenance, Quarantined, RawDocument, document_id
from danlu.curate.input_file import InputFile

TEXT_COLUMN = "text"
OPTIONAL_COLUMNS = ("id", "url")
BATCH_ROWS = 1024
REST_OF_FILE = "(rest of file)"


def read_parquet(
    source: str, file: InputFile, start: int = 0, stop: int | None = None
) -> Iterator[RawDocument | Quarantined]:
    """Rows of row groups [start, stop) (None: to the last)."""
    try:
        parquet = pq.ParquetFile(file.path)
    except (OSError, pa.ArrowException) as exc:
        yield _whole_file(source, file, 0, "corrupt_file", f"not a readable Parquet file: {exc}")
        return
    with parquet:
        names = parquet.schema_arrow.names
        if TEXT_COLUMN not in names:
            if start == 0:  # the file's first shard speaks for the whole file
                detail = f"no '{TEXT_COLUMN}' column (columns: {', '.join(names[:10])})"
                yield _whole_file(source, file, 0, "missing_text_column", detail)
            return
        columns = [TEXT_COLUMN, *(c for c in OPTIONAL_COLUMNS if c in names)]
        meta = parquet.metadata
        groups = list(range(start, meta.num_row_groups if stop is None else stop))
        row = sum(meta.row_group(g).num_rows for g in range(start))
        try:
            batches = parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns, row_groups=groups)
            for batch in batches:
                values = batch.to_pydict()
                for i in range(batch.num_rows):
                    yield _row_item(source, file, row, {c: values[c][i] for c in columns})
                    row += 1
        except (OSError, pa.ArrowException) as exc:
            detail = f"unreadable after {row} rows: {exc}"
            yield _whole_file(source, file, row, "corrupt_file", detail)


def _row_item(
    source: str, file: InputFile, row: int, values: dict, split: str = ""
) -> RawDocument | Quarantined:
    source_id = values.get("id")
    # The source's own id rides in the record name, so a row can be traced back by it.
    record = f"row {row}" if source_id is None else f"row {row} (id {source_id})"
    if split:
        record = f"{split} {record}"
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


def is_saved_dataset(path: Path) -> bool:
    """A folder written by `Dataset.save_to_disk` or `DatasetDict.save_to_disk`."""
    return path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file())


def read_hf_dataset(source: str, file: InputFile) -> Iterator[RawDocument | Quarantined]:
    """Every split of a saved dataset (in name order), memory-mapped, batch by batch."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(file.path))
    except Exception as exc:  # noqa: BLE001 - datasets raises many types for a damaged folder
        yield _whole_file(source, file, 0, "corrupt_file", f"not a readable saved dataset: {exc}")
        return
    splits = loaded if isinstance(loaded, datasets.DatasetDict) else {"": loaded}
    for split in sorted(splits):
        table = splits[split].data.table  # pyarrow, memory-mapped
        yield from _rows(source, file, split, table.column_names,
                         (b.to_pydict() for b in table.to_batches(max_chunksize=BATCH_ROWS)))


def read_hub_dataset(source: str, file: InputFile) -> Iterator[RawDocument | Quarantined]:
    """`hf://datasets/OWNER/NAME[/SPLIT]` streamed from the hub (default split: train)."""
    import datasets

    name, _, split = file.key.removeprefix("hf://datasets/").partition("@")
    try:
        stream = datasets.load_dataset(name, split=split or "train", streaming=True)
        columns = list(stream.column_names or [])
    except Exception as exc:  # noqa: BLE001 - no network, no such dataset, no such split
        yield _whole_file(source, file, 0, "unreadable_dataset", f"cannot open {file.key}: {exc}")
        return
    batches = (batch for batch in stream.iter(batch_size=BATCH_ROWS))
    yield from _rows(source, file, split or "train", columns, batches)


def _rows(source: str, file: InputFile, split: str, names: list[str], batches) -> Iterator:
    if TEXT_COLUMN not in names:
        detail = f"no '{TEXT_COLUMN}' column (columns: {', '.join(names[:10])})"
        yield _whole_file(source, file, 0, "missing_text_column", detail)
        return
    columns = [TEXT_COLUMN, *(c for c in OPTIONAL_COLUMNS if c in names)]
    row = 0
    for values in batches:
        for i in range(len(values[TEXT_COLUMN])):
            item = _row_item(source, file, row, {c: values[c][i] for c in columns}, split)
            yield item
            row += 1
