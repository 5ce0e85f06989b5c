"""Run Great Expectations suites on DataFrames; return small JSON-able reports, and Data Docs.

great_expectations is imported inside the run functions only: the import takes seconds. The
context is ephemeral with in-memory stores, so no `gx/` folder is written anywhere; Data Docs,
when asked for, are built from those stores straight into the folder given.
"""

from __future__ import annotations

import math
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from danlu.atomic import atomic_dir
from danlu.validate.gx_import import great_expectations

# Offending rows shown per failed expectation: enough to find the bug, small enough to read.
EXAMPLES = 5
_TEXT_PREVIEW = 80
DATA_DOCS_SITE = "local_site"


@dataclass(frozen=True)
class Batch:
    """One DataFrame and the expectations (a GE suite named `name`) it must meet."""

    name: str
    frame: pd.DataFrame
    expectations: list[Any]
    id_column: str = "id"


def run_expectations(
    df: pd.DataFrame, suite_name: str, expectations: list[Any], id_column: str
) -> dict:
    """Validate one DataFrame against one suite; nothing is written."""
    (report,) = run_suites([Batch(suite_name, df, expectations, id_column)])
    return report


def run_suites(batches: Sequence[Batch], data_docs_dir: Path | None = None) -> list[dict]:
    """One report per batch; with `data_docs_dir`, that folder is replaced by the Data Docs site."""
    gx = great_expectations()

    context = _ephemeral_context()
    reports = []
    for batch in batches:
        definition = (
            context.data_sources.add_pandas(batch.name)
            .add_dataframe_asset(batch.name)
            .add_batch_definition_whole_dataframe("all_rows")
        )
        suite = context.suites.add(
            gx.ExpectationSuite(name=batch.name, expectations=batch.expectations)
        )
        df = batch.frame.reset_index(drop=True)  # unexpected row indices then index df directly
        result = gx.ValidationDefinition(name=batch.name, data=definition, suite=suite).run(
            batch_parameters={"dataframe": df},
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES},
        )
        reports.append(
            {
                "suite": batch.name,
                "success": bool(result.success),
                "rows": len(df),
                "great_expectations_version": gx.__version__,
                "expectations": [_outcome(r, df, batch.id_column) for r in result.results],
            }
        )
    if data_docs_dir is not None:
        build_data_docs(context, Path(data_docs_dir))
    return reports


def warm_up() -> None:
    """Import Great Expectations and, in a process's main thread, validate a two-row frame
    with Data Docs into a temporary folder: GE's first validation in a process does 0.1 s of
    one-time work (its execution engine, metric registry, renderers) that a process prepared
    ahead of the real validation (runners.PreparedProcess) then has behind it. In any other
    thread only the import: the warm-up is not worth running GE beside the caller's work."""
    gx = great_expectations()
    if threading.current_thread() is not threading.main_thread():
        return
    frame = pd.DataFrame({"id": ["a", "b"], "n": [1, 2], "text": ["x", "y"]})
    expectations = [
        gx.expectations.ExpectTableColumnsToMatchSet(column_set=["id", "n", "text"]),
        gx.expectations.ExpectColumnValuesToNotBeNull(column="text"),
        gx.expectations.ExpectColumnValuesToBeBetween(column="n", min_value=0, max_value=5),
        gx.expectations.ExpectColumnValuesToBeUnique(column="id"),
    ]
    with tempfile.TemporaryDirectory(prefix="danlu-gx-warm-up-") as tmp:
        run_suites([Batch("warm_up", frame, expectations)], Path(tmp) / "data_docs")


def build_data_docs(context: Any, data_docs_dir: Path) -> Path:
    """Render every stored validation result as HTML; return the site's index.html."""
    with atomic_dir(data_docs_dir) as site:
        context.add_data_docs_site(
            DATA_DOCS_SITE,
            {
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                # The validation results only: their pages list every expectation with its
                # outcome, so the suites' own pages (and the empty profiling section) would
                # only repeat them, each section compiling GE's Jinja templates anew.
                "site_section_builders": {"expectations": "0", "profiling": "0"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(site.resolve()),
                },
            },
        )
        context.build_data_docs(site_names=[DATA_DOCS_SITE])
    return data_docs_dir / "index.html"


def _ephemeral_context() -> Any:
    gx = great_expectations()
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
    return gx.get_context(project_config=config, mode="ephemeral")


def _outcome(r: Any, df: pd.DataFrame, id_column: str) -> dict:
    config = r.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "column")}
    result = r.result or {}
    rows = (result.get("partial_unexpected_index_list") or [])[:EXAMPLES]
    column = config.kwargs.get("column")
    outcome = {
        "expectation": config.type,
        "description": config.description,
        "column": column,
        "kwargs": kwargs,
        "success": bool(r.success),
        "unexpected_count": int(result.get("unexpected_count") or 0),
        "unexpected_percent": round(float(result.get("unexpected_percent") or 0.0), 4),
        "examples": [_example(df, int(i), column, id_column) for i in rows],
    }
    if "observed_value" in result:  # table-level expectations (schema) say what they saw
        outcome["observed_value"] = _plain(result["observed_value"])
    mismatched = (result.get("details") or {}).get("mismatched")
    if mismatched:
        outcome["mismatched"] = {k: _plain(v) for k, v in mismatched.items()}
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
    """A JSON-ready value: numpy scalars become Python ones, bytes hex, missing values None."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or value is pd.NA:
        return None
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def failure_summary(report: dict, report_path: str) -> str:
    """A readable multi-line account of what failed, with examples, for the exception message.

    `report` is one suite's report, or a gate's report with a list of them under "suites".
    """
    if "suites" not in report:
        return "\n".join(_suite_lines(report, f" (report: {report_path})"))
    failed = [s for s in report["suites"] if not s["success"]]
    lines = [
        f"{len(failed)} of {len(report['suites'])} suites failed: "
        f"{', '.join(s['suite'] for s in failed)} (report: {report_path})"
    ]
    for suite in failed:
        lines.extend(_suite_lines(suite, ""))
    if report.get("data_docs"):
        lines.append(f"Data Docs: {report['data_docs']}")
    return "\n".join(lines)


def _suite_lines(suite: dict, suffix: str) -> list[str]:
    failed = [e for e in suite["expectations"] if not e["success"]]
    lines = [
        f"{suite['suite']}: {len(failed)} of {len(suite['expectations'])} expectations failed "
        f"on {suite['rows']} rows{suffix}"
    ]
    for e in failed:
        what = e["description"] or f"{e['expectation']} {e['column']}"
        if "error" in e:
            lines.append(f"  - {what}: could not run: {e['error']}")
        elif "mismatched" in e:
            lines.append(f"  - {what}: {e['mismatched']}")
        elif not e["examples"] and "observed_value" in e:
            lines.append(f"  - {what}: observed {e['observed_value']!r}")
        else:
            lines.append(
                f"  - {what}: {e['unexpected_count']} rows ({e['unexpected_percent']:.2f}%)"
            )
        for ex in e["examples"]:
            shown = {k: v for k, v in ex.items() if k != "row"}
            lines.append(f"      row {ex['row']}: {shown}")
    return lines
