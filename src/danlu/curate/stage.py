"""The curate stage: raw WARC/JSONL -> extracted, language-identified, filtered, deduplicated
documents, validated by a Great Expectations gate, written atomically.

    out_dir/documents/part-00000.parquet   kept documents (stable input order)
    out_dir/dropped/part-00000.parquet     id, source, url, reason, detail
    out_dir/quarantine/quarantine.jsonl    inputs that could not become documents, and why
    out_dir/stats.json                     counts per step, reason and source (+ invariant)
    out_dir/validation.json                the gate's report

When the gate fails, out_dir is left as it was and stats.json and validation.json go to
`<out_dir>.rejected/` beside it, so the reason can be read.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from danlu.atomic import atomic_dir, atomic_write_json
from danlu.config import CurateConfig
from danlu.curate.dedup import ExactDedup, NearDedup
from danlu.curate.document import Document, Quarantined
from danlu.curate.extract import extract
from danlu.curate.filters import (
    DocumentFilter,
    EmptyText,
    UrlBlocklist,
    c4_filters,
    fineweb_filters,
    gopher_filters,
    read_blocklist,
    repetition_filters,
)
from danlu.curate.langid import LanguageFilter
from danlu.curate.output import (
    DOCUMENTS_SCHEMA,
    DROPPED_SCHEMA,
    ParquetParts,
    QuarantineLog,
    document_row,
    dropped_row,
)
from danlu.curate.readers import InputFile, list_input_files, read_files
from danlu.curate.stats import EXTRACT_STEP, READ_STEP, CurateStats
from danlu.errors import DataError, ValidationFailed
from danlu.tracking.tracker import Tracker
from danlu.validate.documents import COLUMNS as VALIDATED_COLUMNS
from danlu.validate.documents import validate_documents

log = logging.getLogger("danlu.curate")

DOCUMENTS_DIR = "documents"
DROPPED_DIR = "dropped"
QUARANTINE_FILE = "quarantine/quarantine.jsonl"
STATS_FILE = "stats.json"
VALIDATION_FILE = "validation.json"
REJECTED_SUFFIX = ".rejected"
# Fixed so that the same inputs drop the same near duplicates on every run and machine.
MINHASH_SEED = 1


@dataclass(frozen=True)
class CurateResult:
    out_dir: Path
    documents: Path  # folder of parquet parts
    dropped: Path  # folder of parquet parts
    quarantine: Path
    stats_path: Path
    validation_path: Path
    stats: dict

    def metrics(self) -> dict[str, float]:
        return stats_metrics(self.stats)


def stats_metrics(stats: dict) -> dict[str, float]:
    """Flat numeric metrics for MLflow: totals, one per drop and quarantine reason, per source."""
    metrics = {k: float(stats[k]) for k in ("documents_in", "bytes_in", "kept", "bytes_kept")}
    metrics["dropped"] = float(sum(stats["dropped"].values()))
    metrics["quarantined"] = float(sum(stats["quarantined"].values()))
    metrics["kept_fraction"] = stats["kept"] / max(stats["documents_in"], 1)
    for outcome in ("dropped", "quarantined"):
        metrics.update({f"{outcome}_{reason}": float(n) for reason, n in stats[outcome].items()})
    for source, counts in stats["sources"].items():
        for key in ("documents_in", "kept"):
            metrics[f"source.{source}.{key}"] = float(counts[key])
    return metrics


def build_filters(cfg: CurateConfig) -> list[DocumentFilter]:
    """Every step that can drop a document, in order: language before the rules that use it,
    then the heuristics cheapest first (a URL look-up, substrings, lines, word n-grams), dedup
    last so the copy kept is one that passed everything else. Reads the URL blocklist, so a
    missing file fails here, before any input is read."""
    steps = [EmptyText(), LanguageFilter(cfg.language), *gopher_filters(cfg.filters)]
    if cfg.url_blocklist is not None:
        steps.append(UrlBlocklist(read_blocklist(Path(cfg.url_blocklist))))
    steps += [*c4_filters(cfg.c4), *fineweb_filters(cfg.fineweb)]
    steps += repetition_filters(cfg.gopher_repetition)
    if cfg.exact_dedup:
        steps.append(ExactDedup())
    if cfg.near_dedup.enabled:
        steps.append(NearDedup(cfg.near_dedup, seed=MINHASH_SEED))
    return steps


def curate(
    cfg: CurateConfig,
    inputs: dict[str, list[Path]],
    out_dir: Path,
    *,
    tracker: Tracker | None = None,
) -> CurateResult:
    """Curate `inputs` (source name -> files or folders) into `out_dir`; see the module doc."""
    out_dir = Path(out_dir)
    # Every path is checked before any work, so a typo fails in a second, not after an hour.
    files = {}
    for source, paths in inputs.items():
        if not paths:
            raise DataError(f"curate input source {source!r} lists no files or folders")
        files[source] = list_input_files(paths)
    filters = build_filters(cfg)
    rejected = out_dir.with_name(out_dir.name + REJECTED_SUFFIX)
    with atomic_dir(out_dir) as tmp:
        stats = _run(cfg, files, filters, tmp)
        atomic_write_json(tmp / STATS_FILE, stats)
        _log_stats(stats)
        try:
            _validate(cfg, tmp)
        except ValidationFailed as exc:
            _keep_reports(tmp, rejected)
            _track(tracker, cfg, inputs, stats, rejected, status="rejected")
            # The summary names the report inside the temporary folder, which is about to go.
            summary = str(exc).replace(str(tmp / VALIDATION_FILE), str(rejected / VALIDATION_FILE))
            where = f"{out_dir} was not written; stats.json and validation.json are in {rejected}"
            raise ValidationFailed(
                f"{summary}\n{where}", report_path=str(rejected / VALIDATION_FILE)
            ) from None
    shutil.rmtree(rejected, ignore_errors=True)  # an old rejection no longer describes out_dir
    result = CurateResult(
        out_dir=out_dir,
        documents=out_dir / DOCUMENTS_DIR,
        dropped=out_dir / DROPPED_DIR,
        quarantine=out_dir / QUARANTINE_FILE,
        stats_path=out_dir / STATS_FILE,
        validation_path=out_dir / VALIDATION_FILE,
        stats=stats,
    )
    _track(tracker, cfg, inputs, stats, out_dir, status="accepted")
    return result


def _run(
    cfg: CurateConfig, files: dict[str, list[InputFile]], filters: list[DocumentFilter], tmp: Path
) -> dict:
    """Stream every input through extraction and the filters, writing each outcome as it comes."""
    stats = CurateStats([f.name for f in filters], list(files))
    with (
        ParquetParts(tmp / DOCUMENTS_DIR, DOCUMENTS_SCHEMA) as kept,
        ParquetParts(tmp / DROPPED_DIR, DROPPED_SCHEMA) as dropped,
        QuarantineLog(tmp / QUARANTINE_FILE) as quarantine,
    ):
        for source, source_files in files.items():
            items = read_files(source, source_files, max_payload_bytes=cfg.extract.max_html_bytes)
            for item in items:
                stats.read(item)
                if isinstance(item, Quarantined):
                    stats.quarantine(READ_STEP, item)
                    quarantine.write(item)
                    continue
                doc = extract(item, cfg.extract)
                if isinstance(doc, Quarantined):
                    stats.quarantine(EXTRACT_STEP, doc)
                    quarantine.write(doc)
                    continue
                stats.extracted(doc)
                drop = _first_drop(doc, filters, stats)
                if drop is None:
                    stats.keep(doc)
                    kept.write(document_row(doc))
                else:
                    stats.drop(drop[0], doc)
                    dropped.write(dropped_row(doc, *drop))
    return stats.to_dict()


def _first_drop(
    doc: Document, filters: list[DocumentFilter], stats: CurateStats
) -> tuple[str, str] | None:
    """(reason, detail) of the first filter that drops the document; None when all keep it."""
    for step in filters:
        stats.enter(step.name)
        detail = step.check(doc)
        if detail is not None:
            return step.name, detail
    return None


def _validate(cfg: CurateConfig, tmp: Path) -> dict:
    df = pq.read_table(tmp / DOCUMENTS_DIR, columns=VALIDATED_COLUMNS).to_pandas()
    if df.empty:
        log.warning("curate kept no documents: check the inputs and curate.language.keep")
    return validate_documents(df, cfg.validation, cfg.language.keep, tmp / VALIDATION_FILE)


def _keep_reports(tmp: Path, rejected: Path) -> None:
    with atomic_dir(rejected) as keep:
        for name in (STATS_FILE, VALIDATION_FILE):
            shutil.copy2(tmp / name, keep / name)


def _log_stats(stats: dict) -> None:
    for step in stats["steps"]:
        removed = ", ".join(f"{reason} {n}" for reason, n in step["removed"].items()) or "none"
        log.info(
            "curate %-20s in %7d  out %7d  removed: %s", step["step"], step["in"], step["out"], removed
        )
    log.info(
        "curate: %d documents in, %d kept, %d dropped, %d quarantined",
        stats["documents_in"],
        stats["kept"],
        sum(stats["dropped"].values()),
        sum(stats["quarantined"].values()),
    )


def _track(
    tracker: Tracker | None,
    cfg: CurateConfig,
    inputs: dict[str, list[Path]],
    stats: dict,
    folder: Path,
    status: str,
) -> None:
    if tracker is None:
        return
    params = _flatten(cfg.model_dump(mode="json", exclude={"inputs"}), "curate")
    for source, paths in inputs.items():
        params[f"curate.inputs.{source}"] = ",".join(str(p) for p in paths)
    tracker.log_params(params)
    tracker.log_metrics(stats_metrics(stats))
    tracker.set_tags({"curate.validation": status})
    for name in (STATS_FILE, VALIDATION_FILE):
        tracker.log_artifact(folder / name, "curate")


def _flatten(data: dict, prefix: str) -> dict:
    flat = {}
    for key, value in data.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        else:
            flat[name] = json.dumps(value) if isinstance(value, list) else value
    return flat
