"""One shard's work, in a worker process: read, extract, identify language, apply the
per-document filters, and compute what the global steps need (text hash, MinHash LSH bands).

The shard's results appear at once under `<work>/shards/<shard name>/` (atomic rename):

    passed.parquet     documents that passed every per-document filter (+ n_bytes, band_*)
    dropped.parquet    documents a filter dropped, with reason and detail
    quarantine.jsonl   inputs that could not become documents
    stats.json         the shard's counters (CurateStats.state)
    shard.json         what the shard was (for resume) and how long it took

so a folder that exists is a finished shard, and a killed run leaves only finished ones.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from danlu.atomic import atomic_dir
from danlu.config import CurateConfig
from danlu.curate.dedup import normalize, normalized_hash
from danlu.curate.document import Document, Quarantined
from danlu.curate.extract import extract
from danlu.curate.filters import DocumentFilter
from danlu.curate.line_dedup import unit_hashes
from danlu.curate.output import (
    DROPPED_SCHEMA,
    SIGNATURE_COLUMN,
    UNIT_HASHES_COLUMN,
    ParquetParts,
    QuarantineLog,
    band_column,
    document_row,
    dropped_row,
    passed_schema,
)
from danlu.curate.readers import read_range
from danlu.curate.shards import Shard
from danlu.curate.steps import shard_filters
from danlu.curate.stats import EXTRACT_STEP, READ_STEP, CurateStats

PASSED_FILE = "passed.parquet"
DROPPED_FILE = "dropped.parquet"
QUARANTINE_FILE = "quarantine.jsonl"
STATS_FILE = "stats.json"
SHARD_FILE = "shard.json"
# Fixed so that the same inputs drop the same near duplicates on every run and machine.
MINHASH_SEED = 1


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs, small and picklable: paths and settings, no data."""

    shard: Shard
    cfg: CurateConfig
    shards_dir: Path
    steps: tuple[str, ...]  # every filter step of the run, global ones included (for stats)

    @property
    def name(self) -> str:
        return self.shard.name


def shard_dir(shards_dir: Path, shard: Shard) -> Path:
    return shards_dir / shard.name


def finished(job: ShardJob) -> bool:
    """True when the shard's folder exists and was made from the same input range."""
    marker = shard_dir(job.shards_dir, job.shard) / SHARD_FILE
    try:
        return json.loads(marker.read_text())["key"] == job.shard.key()
    except (OSError, ValueError, KeyError):
        return False


def run_shard(job: ShardJob) -> dict:
    """Process one shard into its folder; returns the summary written to shard.json."""
    began = time.perf_counter()
    shard, cfg = job.shard, job.cfg
    filters = _shard_filters(cfg)
    hasher = _hasher(cfg)
    stats = CurateStats(list(job.steps), [shard.source])
    bands = cfg.near_dedup.bands if cfg.near_dedup.enabled else 0
    schema = passed_schema(bands, cfg.near_dedup.num_perm, cfg.line_dedup.enabled)
    with atomic_dir(shard_dir(job.shards_dir, shard)) as tmp:
        with (
            ParquetParts(tmp, schema, PASSED_FILE) as passed,
            ParquetParts(tmp, DROPPED_SCHEMA, DROPPED_FILE) as dropped,
            QuarantineLog(tmp / QUARANTINE_FILE) as quarantine,
        ):
            items = read_range(shard.source, shard.file, shard.start, shard.stop,
                               shard.first_line, max_payload_bytes=cfg.extract.max_html_bytes)
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
                    passed.write(_passed_row(doc, hasher, cfg))
                else:
                    stats.drop(drop[0], doc.source, doc.n_text_bytes, doc.language)
                    dropped.write(dropped_row(doc, *drop))
        (tmp / STATS_FILE).write_text(json.dumps(stats.state(), sort_keys=True))
        summary = {
            "key": shard.key(),
            "shard": shard.describe(),
            "documents_in": stats.entered[READ_STEP],
            "passed": stats.entered[READ_STEP] - _removed(stats),
            "seconds": round(time.perf_counter() - began, 3),
        }
        (tmp / SHARD_FILE).write_text(json.dumps(summary, sort_keys=True))
    return summary


def _removed(stats: CurateStats) -> int:
    return sum(sum(c.values()) for c in stats.removed.values())


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


def _passed_row(doc: Document, hasher, cfg: CurateConfig) -> dict:
    row = document_row(doc)
    row["n_bytes"] = doc.n_text_bytes
    normalized = normalize(doc.text)
    row["text_hash"] = normalized_hash(normalized)
    if hasher is not None:
        from danlu.curate.lsh import band_hashes

        if normalized:
            signature = hasher.text_signature(normalized).astype("<u4")
        else:  # nothing to compare: values of its own, so it matches no other document
            signature = _unique_values(doc.id, cfg.near_dedup.num_perm)
        values = band_hashes(signature, cfg.near_dedup.bands, cfg.near_dedup.rows)
        row.update({band_column(b): int(v) for b, v in enumerate(values)})
        row[SIGNATURE_COLUMN] = signature.tobytes()
    if cfg.line_dedup.enabled:
        row[UNIT_HASHES_COLUMN] = unit_hashes(doc.text, cfg.line_dedup.unit).tolist()
    return row


def _unique_values(doc_id: str, n: int) -> np.ndarray:
    out = bytearray()
    while len(out) < 4 * n:
        out += hashlib.blake2b(f"{len(out)} {doc_id}".encode(), person=b"danlu-nowords").digest()
    return np.frombuffer(bytes(out[: 4 * n]), dtype="<u4")


# Per worker thread (a process pool has one per process; a thread-pool task runner several):
# building the filters loads the language model and the blocklist once, and the MinHasher's
# scratch buffer must not be shared between threads (shared, two threads' shards got each
# other's signature values and near dedup dropped a different document).
_LOCAL = threading.local()


def _thread_cache() -> dict[str, tuple]:
    cache = getattr(_LOCAL, "cache", None)
    if cache is None:
        cache = _LOCAL.cache = {}
    return cache


def _cache_key(cfg: CurateConfig) -> str:
    return cfg.model_dump_json()


def _shard_filters(cfg: CurateConfig) -> list[DocumentFilter]:
    key, cache = _cache_key(cfg), _thread_cache()
    if key not in cache:
        cache.clear()
        cache[key] = (shard_filters(cfg), _new_hasher(cfg))
    return cache[key][0]


def _hasher(cfg: CurateConfig):
    _shard_filters(cfg)
    return _thread_cache()[_cache_key(cfg)][1]


def _new_hasher(cfg: CurateConfig):
    if not cfg.near_dedup.enabled:
        return None
    from danlu.curate.minhash import MinHasher

    return MinHasher(cfg.near_dedup.num_perm, cfg.near_dedup.ngram, MINHASH_SEED)


@dataclass(frozen=True)
class ScoreJob:
    """Score one shard's passed documents with the saved quality classifier."""

    index: int
    shard_dir: Path
    model_dir: Path

    @property
    def name(self) -> str:
        return f"score-{self.shard_dir.name}"


def score_shard(job: ScoreJob) -> tuple[int, np.ndarray]:
    import pyarrow.parquet as pq

    texts = pq.read_table(job.shard_dir / PASSED_FILE, columns=["text"]).column("text")
    return job.index, _quality_model(job.model_dir).score(texts.to_pylist())


_MODELS: dict[Path, object] = {}


def _quality_model(folder: Path):
    """Loaded once per worker process and run (the folder is new in every run)."""
    if folder not in _MODELS:
        from danlu.curate.quality import QualityModel

        _MODELS.clear()
        _MODELS[folder] = QualityModel.load(folder)
    return _MODELS[folder]
