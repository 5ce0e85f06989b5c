"""The gate on the curate outputs: one suite per output, a JSON report, optional Data Docs.

Run on the stage's temporary folder before it is renamed into place, so rejected data is never
accepted. Each output gets two Great Expectations suites: `<name>_schema` (the columns and their
types, checked on a zero-row frame of the full schema) and `<name>` (the values, checked on the
needed columns only). The report merges them into one suite per output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from danlu.atomic import atomic_write_json
from danlu.config import ValidationConfig
from danlu.errors import ValidationFailed
from danlu.validate.frames import (
    DOCUMENTS_DIR,
    DROPPED_DIR,
    QUARANTINE_FILE,
    OutputFrames,
    read_documents,
    read_dropped,
    read_quarantine,
)
from danlu.validate.runner import Batch, failure_summary, run_suites
from danlu.validate.suites import (
    DOCUMENT_COLUMNS,
    DOCUMENTS_SUITE,
    DROPPED_COLUMNS,
    DROPPED_SUITE,
    QUARANTINE_COLUMNS,
    QUARANTINE_SUITE,
    SCHEMA_SUFFIX,
    document_expectations,
    dropped_expectations,
    on_present_columns,
    quarantine_expectations,
    schema_expectations,
)


@dataclass(frozen=True)
class _Output:
    suite: str
    path: str  # inside out_dir
    frames: OutputFrames
    columns: dict | list  # expected columns (with types for parquet)
    expectations: list  # on the values

    def batches(self) -> list[Batch]:
        schema = schema_expectations(self.columns, list(self.frames.schema.columns))
        values = on_present_columns(self.expectations, list(self.frames.values.columns))
        return [
            Batch(self.suite + SCHEMA_SUFFIX, self.frames.schema, schema),
            Batch(self.suite, self.frames.values, values),
        ]


def validate_curate_outputs(
    out_dir: Path,
    cfg: ValidationConfig,
    languages: Sequence[str],
    drop_reasons: Sequence[str],
    *,
    quality_enabled: bool,
    exact_dedup: bool,
    report_path: Path,
    data_docs_dir: Path | None,
) -> dict:
    """Write the report (and Data Docs); return the report, or raise ValidationFailed."""
    out_dir = Path(out_dir)
    documents = read_documents(out_dir / DOCUMENTS_DIR)
    rules = document_expectations(
        cfg,
        languages,
        quality_enabled=quality_enabled,
        exact_dedup=exact_dedup,
        rows=len(documents.values),
    )
    outputs = [
        _Output(DOCUMENTS_SUITE, DOCUMENTS_DIR, documents, DOCUMENT_COLUMNS, rules),
        _Output(
            DROPPED_SUITE,
            DROPPED_DIR,
            read_dropped(out_dir / DROPPED_DIR),
            DROPPED_COLUMNS,
            dropped_expectations(drop_reasons),
        ),
        _Output(
            QUARANTINE_SUITE,
            QUARANTINE_FILE,
            read_quarantine(out_dir / QUARANTINE_FILE, QUARANTINE_COLUMNS),
            QUARANTINE_COLUMNS,
            quarantine_expectations(),
        ),
    ]
    results = run_suites([b for output in outputs for b in output.batches()], data_docs_dir)
    suites = [
        _merge(output, schema, values)
        for output, schema, values in zip(outputs, results[::2], results[1::2], strict=True)
    ]
    report = {
        "success": all(s["success"] for s in suites),
        "great_expectations_version": results[0]["great_expectations_version"],
        # relative to the report: the folder is renamed into place after validation
        "data_docs": _relative(Path(data_docs_dir) / "index.html", report_path.parent)
        if data_docs_dir else None,
        "suites": suites,
    }
    atomic_write_json(report_path, report)
    if not report["success"]:
        summary = failure_summary(report, str(report_path))
        raise ValidationFailed(summary, report_path=str(report_path))
    return report


def _merge(output: _Output, schema: dict, values: dict) -> dict:
    """One output's suite in the report: its schema expectations, then its value expectations."""
    return {
        "suite": output.suite,
        "path": output.path,
        "success": schema["success"] and values["success"],
        "rows": values["rows"],
        "expectations": schema["expectations"] + values["expectations"],
    }


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)
