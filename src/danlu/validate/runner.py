"""Run a list of Great Expectations checks on a DataFrame; return a small JSON-able report.

great_expectations is imported inside `run_expectations` only: the import takes seconds.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# Offending rows shown per failed expectation: enough to find the bug, small enough to read.
EXAMPLES = 5
_TEXT_PREVIEW = 80


def run_expectations(
    df: pd.DataFrame, suite_name: str, expectations: list[Any], id_column: str
) -> dict:
    """Validate `df` (an in-memory ephemeral context: nothing is written outside the report)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),  # stage code stays free of UI
    )
    context = gx.get_context(project_config=config, mode="ephemeral")
    batch = (
        context.data_sources.add_pandas(suite_name)
        .add_dataframe_asset(suite_name)
        .add_batch_definition_whole_dataframe("all_rows")
    )
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations))
    df = df.reset_index(drop=True)  # unexpected row indices from GE then index df directly
    result = gx.ValidationDefinition(name=suite_name, data=batch, suite=suite).run(
        batch_parameters={"dataframe": df},
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES},
    )
    outcomes = [_outcome(r, df, id_column) for r in result.results]
    return {
        "suite": suite_name,
        "success": bool(result.success),
        "rows": len(df),
        "great_expectations_version": gx.__version__,
        "expectations": outcomes,
    }


def _outcome(r: Any, df: pd.DataFrame, id_column: str) -> dict:
    config = r.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "column")}
    result = r.result or {}
    rows = (result.get("partial_unexpected_index_list") or [])[:EXAMPLES]
    column = config.kwargs.get("column")
    outcome = {
        "expectation": config.type,
        "description": config.description,
        "column": config.kwargs.get("column"),
        "kwargs": kwargs,
        "success": bool(r.success),
        "unexpected_count": int(result.get("unexpected_count") or 0),
        "unexpected_percent": round(float(result.get("unexpected_percent") or 0.0), 4),
        "examples": [_example(df, int(i), column, id_column) for i in rows],
    }
    info = r.exception_info or {}
    if info.get("raised_exception"):
        outcome["success"] = False
        outcome["error"] = info.get("exception_message")
    return outcome


def _example(df: pd.DataFrame, row: int, column: str | None, id_column: str) -> dict:
    value = _plain(df.at[row, column]) if column in df.columns else None
    if isinstance(value, str) and len(value) > _TEXT_PREVIEW:
        value = value[:_TEXT_PREVIEW] + "…"
    ident = _plain(df.at[row, id_column]) if id_column in df.columns else None
    return {"row": row, id_column: ident, "value": value}


def _plain(value: Any) -> Any:
    """A JSON-ready value: numpy scalars become Python ones, NaN (pandas' missing) None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def failure_summary(report: dict, report_path: str) -> str:
    """A readable multi-line account of what failed, with examples, for the exception message."""
    failed = [e for e in report["expectations"] if not e["success"]]
    lines = [
        f"{report['suite']}: {len(failed)} of {len(report['expectations'])} expectations failed "
        f"on {report['rows']} rows (report: {report_path})"
    ]
    for e in failed:
        what = e["description"] or f"{e['expectation']} {e['column']}"
        if "error" in e:
            lines.append(f"  - {what}: could not run: {e['error']}")
            continue
        lines.append(f"  - {what}: {e['unexpected_count']} rows ({e['unexpected_percent']:.2f}%)")
        for ex in e["examples"]:
            shown = {k: v for k, v in ex.items() if k != "row"}
            lines.append(f"      row {ex['row']}: {shown}")
    return "\n".join(lines)
