"""The gate on curated documents: no document is accepted unless these expectations hold.

It checks what the filters should already guarantee (length, language, unique ids), so a bug
or a config drift (filters loosened, validation not) stops the run instead of the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from danlu.atomic import atomic_write_json
from danlu.config import ValidationConfig
from danlu.errors import ValidationFailed
from danlu.validate.runner import failure_summary, run_expectations

if TYPE_CHECKING:
    import pandas as pd

SUITE_NAME = "curated_documents"
COLUMNS = ["id", "text", "language", "n_chars"]


def document_expectations(cfg: ValidationConfig, languages: Sequence[str]) -> list:
    import great_expectations as gx

    ex = gx.expectations
    return [
        ex.ExpectColumnValuesToNotBeNull(column="text", description="text is not null"),
        ex.ExpectColumnValuesToNotBeNull(column="id", description="id is not null"),
        ex.ExpectColumnValuesToBeUnique(column="id", description="id is unique"),
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
    ]


def validate_documents(
    df: pd.DataFrame, cfg: ValidationConfig, languages: Sequence[str], report_path: Path
) -> dict:
    """Write the report to `report_path`; return it, or raise ValidationFailed naming what broke."""
    report = run_expectations(df, SUITE_NAME, document_expectations(cfg, languages), id_column="id")
    atomic_write_json(report_path, report)
    if not report["success"]:
        summary = failure_summary(report, str(report_path))
        raise ValidationFailed(summary, report_path=str(report_path))
    return report
