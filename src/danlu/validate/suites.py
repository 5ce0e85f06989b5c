"""The expectations each curate output must meet, written down independently of the writers.

They restate what the filters and dedup should already guarantee, so a bug or a config drift
(filters loosened, validation not) stops the run instead of the data. The expected schemas live
here, not in curate's writers, so a writer that changes a column fails the gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from danlu.config import ValidationConfig
from danlu.validate.frames import HASH_BYTES_COLUMN
from danlu.validate.gx_import import great_expectations

DOCUMENTS_SUITE = "curated_documents"
DROPPED_SUITE = "dropped_documents"
QUARANTINE_SUITE = "quarantine"
SCHEMA_SUFFIX = "_schema"

DOCUMENT_COLUMNS: dict[str, pa.DataType] = {
    "id": pa.string(),
    "text": pa.string(),
    "source": pa.string(),
    "url": pa.string(),
    "language": pa.string(),
    "language_score": pa.float64(),
    "quality_score": pa.float64(),
    "n_chars": pa.int64(),
    "n_words": pa.int64(),
    "file": pa.string(),
    "record": pa.string(),
    "offset": pa.int64(),
    "encoding": pa.string(),
    "encoding_source": pa.string(),
    # blake2b digest: fixed_size_binary(TEXT_HASH_BYTES) or binary, see frames._schema_frame
    "text_hash": pa.binary(),
}
DROPPED_COLUMNS: dict[str, pa.DataType] = {
    "id": pa.string(),
    "source": pa.string(),
    "url": pa.string(),
    "reason": pa.string(),
    "detail": pa.string(),
    "n_bytes": pa.int64(),
}
# JSON lines carry no column types: only the keys are checked.
QUARANTINE_COLUMNS = ["id", "source", "file", "record", "reason", "detail"]
TEXT_HASH_BYTES = 16


def schema_expectations(
    columns: dict[str, pa.DataType] | list[str], present: Sequence[str]
) -> list:
    """The expected columns exist (others may too) and, where a type is given, have that type."""
    gx = great_expectations()

    ex = gx.expectations
    expectations = [
        ex.ExpectTableColumnsToMatchSet(
            column_set=list(columns),
            exact_match=False,
            description=f"has the {len(columns)} expected columns",
        )
    ]
    if isinstance(columns, dict):
        # A missing column is reported once, by the set expectation above.
        expectations += [
            ex.ExpectColumnTypeToBe(
                column=name, type_=f"{kind}[pyarrow]", description=f"{name} is {kind}"
            )
            for name, kind in columns.items()
            if name in present
        ]
    return expectations


# Over 60 lines: one declarative list of expectations, one per column rule.
def document_expectations(
    cfg: ValidationConfig,
    languages: Sequence[str],
    *,
    quality_enabled: bool,
    exact_dedup: bool,
    rows: int,
) -> list:
    gx = great_expectations()

    ex = gx.expectations
    expectations = [
        # The frame's text column keeps only nullness: see frames.text_nullness.
        ex.ExpectColumnValuesToNotBeNull(column="text", description="text is not null"),
        ex.ExpectColumnValuesToNotBeNull(column="id", description="id is not null"),
        ex.ExpectColumnValuesToBeUnique(column="id", description="id is unique"),
        ex.ExpectColumnValuesToNotBeNull(column="source", description="source is not null"),
        ex.ExpectColumnValuesToBeBetween(
            column="n_chars",
            min_value=cfg.min_chars,
            max_value=cfg.max_chars,
            description=f"n_chars between min_chars={cfg.min_chars} and max_chars={cfg.max_chars}",
        ),
        ex.ExpectColumnValuesToBeInSet(
            column="language",
            value_set=sorted(languages),
            description=f"language in keep={sorted(languages)}",
        ),
        ex.ExpectColumnValuesToBeBetween(
            column="language_score",
            min_value=0.0,
            max_value=1.0,
            description="language_score in [0, 1]",
        ),
        ex.ExpectColumnValuesToBeBetween(
            column="quality_score",
            min_value=0.0,
            max_value=1.0,
            description="quality_score in [0, 1] (null = not scored)",
        ),
        ex.ExpectColumnValuesToBeBetween(
            column=HASH_BYTES_COLUMN,
            min_value=TEXT_HASH_BYTES,
            max_value=TEXT_HASH_BYTES,
            description=f"text_hash is {TEXT_HASH_BYTES} bytes",
        ),
    ]
    if quality_enabled and rows:
        expectations.append(
            ex.ExpectColumnProportionOfNonNullValuesToBeBetween(
                column="quality_score",
                min_value=0.0,
                strict_min=True,
                description="quality is enabled: some documents have a quality_score",
            )
        )
    if exact_dedup:
        expectations.append(
            ex.ExpectColumnValuesToBeUnique(
                column="text_hash",
                description="text_hash is unique (no exact duplicates after dedup)",
            )
        )
    return expectations


def dropped_expectations(drop_reasons: Sequence[str]) -> list:
    gx = great_expectations()

    ex = gx.expectations
    return [
        ex.ExpectColumnValuesToNotBeNull(column="id", description="id is not null"),
        ex.ExpectColumnValuesToBeUnique(column="id", description="id is unique"),
        ex.ExpectColumnValuesToBeInSet(
            column="reason",
            value_set=sorted(drop_reasons),
            description=f"reason is a filter step: {sorted(drop_reasons)}",
        ),
        ex.ExpectColumnValuesToBeBetween(
            column="n_bytes", min_value=0, description="n_bytes >= 0"
        ),
    ]


def quarantine_expectations() -> list:
    gx = great_expectations()

    ex = gx.expectations
    return [
        ex.ExpectColumnValuesToNotBeNull(column="id", description="id is not null"),
        ex.ExpectColumnValuesToBeUnique(column="id", description="id is unique"),
        ex.ExpectColumnValuesToNotBeNull(column="reason", description="reason is not null"),
        ex.ExpectColumnValuesToNotBeNull(column="file", description="file is not null"),
    ]


def on_present_columns(expectations: list[Any], present: Sequence[str]) -> list:
    """Drop column expectations on missing columns: the schema suite already names them."""
    return [e for e in expectations if getattr(e, "column", None) in (None, *present)]
