"""Writers for the curate outputs: parquet parts (kept, dropped) and the quarantine log."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from danlu.curate.document import Document, Quarantined

DOCUMENTS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("source", pa.string()),
        ("url", pa.string()),
        ("language", pa.string()),
        ("language_score", pa.float64()),
        ("n_chars", pa.int64()),
        ("n_words", pa.int64()),
        ("file", pa.string()),
        ("record", pa.string()),
        ("offset", pa.int64()),
        ("encoding", pa.string()),
        ("encoding_source", pa.string()),
        ("quality_score", pa.float64()),  # null when the classifier is off or did not score it
        ("text_hash", pa.binary(16)),  # of the normalized text (dedup.text_hash)
    ]
)
DROPPED_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("url", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("n_bytes", pa.int64()),  # UTF-8 bytes of the extracted text the step removed
    ]
)


SIGNATURE_COLUMN = "signature"
UNIT_HASHES_COLUMN = "unit_hashes"


def passed_schema(bands: int, num_perm: int, unit_hashes: bool = False) -> pa.Schema:
    """A shard's documents that passed its own filters, with what the global steps need: text
    bytes, one column per MinHash LSH band (dedup reads one band at a time), the signature
    (to verify candidate pairs and report their similarity) and, for line dedup, the hash of
    every line or paragraph."""
    fields = [f for f in DOCUMENTS_SCHEMA if f.name != "quality_score"]
    fields.append(pa.field("n_bytes", pa.int64()))
    fields += [pa.field(band_column(b), pa.uint64()) for b in range(bands)]
    if bands:
        fields.append(pa.field(SIGNATURE_COLUMN, pa.binary(4 * num_perm)))  # uint32 values
    if unit_hashes:
        fields.append(pa.field(UNIT_HASHES_COLUMN, pa.list_(pa.uint64())))
    return pa.schema(fields)


def band_column(band: int) -> str:
    return f"band_{band:03d}"
# Rows held in memory before they go to disk as one row group.
BATCH_ROWS = 2048


def document_row(doc: Document) -> dict:
    return {
        "id": doc.id,
        "text": doc.text,
        "source": doc.source,
        "url": doc.url,
        "language": doc.language,
        "language_score": doc.language_score,
        "n_chars": len(doc.text),
        "n_words": len(doc.words),
        "file": doc.provenance.file,
        "record": doc.provenance.record,
        "offset": doc.provenance.offset,
        "encoding": doc.encoding,
        "encoding_source": doc.encoding_source,
    }


def dropped_row(doc: Document, reason: str, detail: str) -> dict:
    return {"id": doc.id, "source": doc.source, "url": doc.url, "reason": reason,
            "detail": detail, "n_bytes": doc.n_text_bytes}


class ParquetParts:
    """Rows in, one Parquet file out, written in row groups so memory stays flat."""

    def __init__(self, folder: Path, schema: pa.Schema, name: str = "part-00000.parquet"):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / name
        self.schema = schema
        self._rows: list[dict] = []
        self._writer = pq.ParquetWriter(self.path, schema, compression="zstd")

    def write(self, row: dict) -> None:
        self._rows.append(row)
        if len(self._rows) >= BATCH_ROWS:
            self._flush()

    def write_table(self, table: pa.Table) -> None:
        self._flush()
        self._writer.write_table(table.select(self.schema.names).cast(self.schema))

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self.schema))
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def __enter__(self) -> ParquetParts:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.close()
        else:  # the folder is thrown away; just release the file
            self._writer.close()


class QuarantineLog:
    """One JSON line per quarantined input."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh = path.open("w", encoding="utf-8")

    def write(self, item: Quarantined) -> None:
        self._fh.write(json.dumps(item.to_json(), ensure_ascii=False, sort_keys=True) + "\n")

    def __enter__(self) -> QuarantineLog:
        return self

    def __exit__(self, *_: object) -> None:
        self._fh.close()
