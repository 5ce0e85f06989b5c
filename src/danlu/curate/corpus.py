"""The steps that need the whole corpus, run once the shards are done: the quality classifier
(trained on this run's documents or loaded), exact dedup, MinHash LSH near dedup; then the
final outputs, written shard by shard in shard order.

Documents are numbered 0..n-1 in shard order, then in their order inside the shard, so "the
first" copy of a duplicate is the same whatever the number of workers. Only small columns (id,
source, hash, bytes, language) are held for the whole corpus; texts are read one shard at a
time, and LSH bands one band at a time from the shards' Parquet files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from danlu.config import CurateConfig
from danlu.curate.output import DOCUMENTS_SCHEMA, DROPPED_SCHEMA, SIGNATURE_COLUMN, band_column
from danlu.curate.stats import EXACT_STEP, LINE_STEP, NEAR_STEP, QUALITY_STEP, CurateStats
from danlu.runners import ShardRunner, run_all
from danlu.curate.worker import DROPPED_FILE, PASSED_FILE, QUARANTINE_FILE, ScoreJob, score_shard
from danlu.errors import DataError

log = logging.getLogger("danlu.curate")

# The columns of a document that line dedup rewrites.
REWRITTEN_COLUMNS = ["text", "n_chars", "n_words", "n_bytes", "text_hash"]
META_COLUMNS = ["id", "source", "url", "language", "n_bytes", "text_hash"]
# Near dedup's band hashes of a corpus up to this size are read at once (16 MB: 100,000
# documents of 20 bands); beyond, band by band.
BANDS_IN_MEMORY = 16 << 20
# Fixed, like the MinHash seed: the same inputs keep the same documents on every run.
QUALITY_SEED = 1


@dataclass
class Corpus:
    """The passed documents of every shard, as small columns, and what each global step did."""

    shard_dirs: list[Path]
    meta: pa.Table
    offsets: np.ndarray  # offsets[k] = index of shard k's first document
    drop_reason: np.ndarray = field(init=False)  # "" while alive
    drop_detail: np.ndarray = field(init=False)
    quality_score: np.ndarray = field(init=False)  # nan where not scored
    rewrites: dict[int, Path] = field(init=False)  # shard -> Parquet of rewritten rows (line dedup)
    _bands: np.ndarray | None = field(init=False, default=None)  # (bands, n), see band()

    def __post_init__(self) -> None:
        n = self.meta.num_rows
        self.drop_reason = np.full(n, "", dtype=object)
        self.drop_detail = np.full(n, "", dtype=object)
        self.quality_score = np.full(n, np.nan)
        self.rewrites = {}

    @classmethod
    def load(cls, shard_dirs: list[Path]) -> Corpus:
        tables = [pq.read_table(d / PASSED_FILE, columns=META_COLUMNS) for d in shard_dirs]
        sizes = np.array([t.num_rows for t in tables], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        meta = pa.concat_tables(tables) if tables else pa.table({c: [] for c in META_COLUMNS})
        return cls(shard_dirs, meta, offsets)

    @property
    def n(self) -> int:
        return self.meta.num_rows

    def alive(self) -> np.ndarray:
        return np.flatnonzero(self.drop_reason == "")

    def column(self, name: str) -> np.ndarray:
        return self.meta.column(name).to_numpy(zero_copy_only=False)

    def texts(self, indices: np.ndarray) -> list[str]:
        """Texts of the documents at sorted global `indices`, reading only the shards they are in."""
        out: list[str] = []
        for k, directory in enumerate(self.shard_dirs):
            lo, hi = self.offsets[k], self.offsets[k + 1]
            local = indices[(indices >= lo) & (indices < hi)] - lo
            if local.size:
                text = pq.read_table(directory / PASSED_FILE, columns=["text"]).column("text")
                out.extend(text.take(pa.array(local)).to_pylist())
        return out

    def signatures(self, indices: np.ndarray, num_perm: int) -> np.ndarray:
        """(len(indices), num_perm) uint32 MinHash signatures of the documents at sorted
        global `indices`, read shard by shard (only the shards they are in)."""
        rows = []
        for k, directory in enumerate(self.shard_dirs):
            lo, hi = self.offsets[k], self.offsets[k + 1]
            local = indices[(indices >= lo) & (indices < hi)] - lo
            if local.size:
                column = pq.read_table(directory / PASSED_FILE, columns=[SIGNATURE_COLUMN])
                raw = column.column(SIGNATURE_COLUMN).take(pa.array(local)).to_pylist()
                rows.append(np.frombuffer(b"".join(raw), dtype="<u4").reshape(-1, num_perm))
        return np.concatenate(rows) if rows else np.empty((0, num_perm), dtype=np.uint32)

    def band(self, b: int, indices: np.ndarray, bands: int = 1) -> np.ndarray:
        """Band b's hashes of the documents at `indices`. A corpus whose `bands` columns fit in
        BANDS_IN_MEMORY bytes reads them all on the first call, one read per shard instead of
        one per shard and band; a bigger one reads band by band, to bound the memory."""
        if self.n * bands * 8 <= BANDS_IN_MEMORY and bands > 1:
            if self._bands is None or self._bands.shape[0] < bands:
                names = [band_column(k) for k in range(bands)]
                tables = [pq.read_table(d / PASSED_FILE, columns=names) for d in self.shard_dirs]
                self._bands = np.stack([
                    pa.chunked_array([t.column(name) for t in tables], pa.uint64()).to_numpy()
                    for name in names]) if tables else np.empty((bands, 0), np.uint64)
            return self._bands[b][indices]
        name = band_column(b)
        parts = [pq.read_table(d / PASSED_FILE, columns=[name]).column(name) for d in self.shard_dirs]
        return pa.chunked_array(parts, pa.uint64()).to_numpy()[indices]

    def drop(self, indices: np.ndarray, reason: str, details: list[str], stats: CurateStats) -> None:
        sources, sizes, languages = self.column("source"), self.column("n_bytes"), self.column("language")
        for i, detail in zip(indices, details):
            self.drop_reason[i], self.drop_detail[i] = reason, detail
            stats.drop(reason, sources[i], int(sizes[i]), languages[i])


def apply_quality(
    corpus: Corpus, cfg: CurateConfig, stats: CurateStats, model_dir: Path,
    runner_for: Callable[[int], ShardRunner],
) -> dict:
    """Score every passed document (shards in parallel, like the shard step); drop by the keep
    rule in the sources of `apply_to`."""
    from danlu.curate.quality import keep_mask, train_or_load

    qcfg = cfg.quality
    alive = corpus.alive()
    stats.enter(QUALITY_STEP, alive.size)
    ids, sources = corpus.column("id"), corpus.column("source")
    positives = _training_sample(ids, np.isin(sources, qcfg.positive_sources), qcfg.max_train_docs)
    negatives = _training_sample(ids, np.isin(sources, qcfg.negative_sources), qcfg.max_train_docs)
    try:
        _, report = train_or_load(
            qcfg,
            corpus.texts(positives) if qcfg.model is None else [],
            corpus.texts(negatives) if qcfg.model is None else [],
            QUALITY_SEED,
            model_dir,
        )
    except DataError as exc:
        raise DataError(f"{exc}; give a trained classifier (curate.quality.model) or turn it "
                        "off (curate.quality.enabled=false)") from None
    # saved to model_dir (trained or loaded), where the scoring workers load it from
    jobs = [ScoreJob(k, d, model_dir) for k, d in enumerate(corpus.shard_dirs)
            if corpus.offsets[k + 1] > corpus.offsets[k]]
    for k, scores in run_all(runner_for(len(jobs)), score_shard, jobs, "curate shards scored"):
        corpus.quality_score[corpus.offsets[k] : corpus.offsets[k + 1]] = scores
    judged = alive[np.isin(sources[alive], qcfg.apply_to)]
    keep = keep_mask(corpus.quality_score[judged], ids[judged].tolist(), qcfg, QUALITY_SEED)
    dropped = judged[~keep]
    rule = {"threshold": f"< threshold {qcfg.threshold}",
            "top_fraction": f"not in top {qcfg.top_fraction:.0%}",
            "pareto": f"pareto(alpha={qcfg.pareto_alpha}) draw"}[qcfg.keep]
    corpus.drop(dropped, QUALITY_STEP,
                [f"score {corpus.quality_score[i]:.3f} ({rule})" for i in dropped], stats)
    log.info("curate quality: %s, held-out ROC-AUC %s; %d of %d judged documents dropped",
             "loaded" if qcfg.model else "trained", report.get("roc_auc"), dropped.size, judged.size)
    return {**report, "judged": int(judged.size), "dropped": int(dropped.size), "keep": qcfg.keep}


def _training_sample(ids: np.ndarray, mask: np.ndarray, cap: int) -> np.ndarray:
    """Up to `cap` documents of the class, chosen by a hash of their id: the same documents
    whatever the sharding, and spread over all of them."""
    chosen = np.flatnonzero(mask)
    if chosen.size > cap:
        rank = [hashlib.blake2b(ids[i].encode(), digest_size=8).digest() for i in chosen]
        chosen = np.sort(chosen[np.argsort(np.array(rank, dtype="V8"), kind="stable")[:cap]])
    return chosen


def apply_exact_dedup(corpus: Corpus, stats: CurateStats) -> None:
    """The first document of each normalized-text hash stays."""
    alive = corpus.alive()
    stats.enter(EXACT_STEP, alive.size)
    if alive.size == 0:
        return
    hashes = _fixed_binary(corpus.meta.column("text_hash"), 16)[alive]
    _, first, group = np.unique(hashes, return_index=True, return_inverse=True)
    # np.unique's return_index is the first occurrence in `hashes`, which follows global order
    duplicate = np.flatnonzero(first[group.ravel()] != np.arange(alive.size))
    ids = corpus.column("id")
    kept_of = alive[first[group.ravel()[duplicate]]]
    corpus.drop(alive[duplicate], EXACT_STEP, [str(ids[k]) for k in kept_of], stats)


def _fixed_binary(column: pa.ChunkedArray, width: int) -> np.ndarray:
    chunks = []
    for chunk in column.chunks:
        raw = np.frombuffer(chunk.buffers()[1], dtype=np.uint8)
        start = chunk.offset * width
        chunks.append(raw[start : start + len(chunk) * width])
    flat = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.uint8)
    return flat.view(f"V{width}")


def apply_near_dedup(corpus: Corpus, cfg: CurateConfig, stats: CurateStats) -> dict:
    """MinHash LSH over the surviving documents; each connected component keeps its first."""
    from danlu.curate.lsh import near_duplicate_clusters

    alive = corpus.alive()
    stats.enter(NEAR_STEP, alive.size)
    if alive.size == 0:
        return {"clusters": 0}
    nd = cfg.near_dedup

    def signatures(local: np.ndarray) -> np.ndarray:
        order = np.argsort(local, kind="stable")  # read in index order, hand back as asked
        rows = corpus.signatures(alive[local[order]], nd.num_perm)
        out = np.empty_like(rows)
        out[order] = rows
        return out

    # Candidates are checked against the threshold: unchecked, a pair of the sample's API pages
    # at J~0.41 shared a band. On planted web copies the check costs 0.4 points of recall.
    rep = near_duplicate_clusters(lambda b: corpus.band(b, alive, nd.bands), alive.size,
                                  nd.bands,
                                  signatures=signatures, min_jaccard=nd.threshold)
    duplicate = np.flatnonzero(rep != np.arange(alive.size))
    ids = corpus.column("id")
    similarity = (signatures(duplicate) == signatures(rep[duplicate])).mean(axis=1) \
        if duplicate.size else np.empty(0)
    details = [f"of {ids[alive[rep[j]]]} (J~{s:.2f})" for j, s in zip(duplicate, similarity)]
    corpus.drop(alive[duplicate], NEAR_STEP, details, stats)
    clusters = np.unique(rep[duplicate]).size
    log.info("curate near dedup: %d bands x %d rows = %d permutations on word %d-grams, "
             "similarity threshold ~%.2f; %d duplicates in %d clusters", nd.bands, nd.rows,
             nd.num_perm, nd.ngram, nd.threshold, duplicate.size, clusters)
    return {"clusters": int(clusters), "duplicates": int(duplicate.size),
            "threshold": round(cfg.near_dedup.threshold, 4)}


# Over 60 lines: two passes (count the units, then rewrite the texts) that share their
# bookkeeping; split, each half would need all of it.
def apply_line_dedup(corpus: Corpus, cfg: CurateConfig, stats: CurateStats, scratch: Path) -> dict:
    """CCNet-style: every line (or paragraph) seen earlier in the global order is removed from
    the surviving documents; the rewritten ones go to `scratch`, one Parquet file per shard; a
    document left under `min_words` words, or under the gate's `validation.min_chars`, is
    dropped."""
    import pyarrow.compute as pc

    from danlu.curate.dedup import text_hash
    from danlu.curate.line_dedup import remove_units, repeated_units
    from danlu.curate.output import UNIT_HASHES_COLUMN
    from danlu.curate.words import split_words

    lcfg = cfg.line_dedup
    alive = corpus.alive()
    stats.enter(LINE_STEP, alive.size)
    per_shard = []  # (shard, local rows, their flags)
    for k, directory in enumerate(corpus.shard_dirs):
        lo, hi = corpus.offsets[k], corpus.offsets[k + 1]
        local = alive[(alive >= lo) & (alive < hi)] - lo
        if local.size:
            lists = pq.read_table(directory / PASSED_FILE, columns=[UNIT_HASHES_COLUMN]) \
                .column(UNIT_HASHES_COLUMN).take(pa.array(local))
            per_shard.append((k, local, lists))
    hashes = [pc.list_flatten(lists).to_numpy() for _, _, lists in per_shard]
    repeated = repeated_units(np.concatenate(hashes) if hashes else np.empty(0, np.uint64))
    units_removed = int(repeated.sum())
    changed_docs = 0
    shutil.rmtree(scratch, ignore_errors=True)  # a killed run's leftovers
    scratch.mkdir(parents=True)
    sizes = corpus.column("n_bytes")
    at = 0
    for k, local, lists in per_shard:
        lengths = pc.list_value_length(lists).to_numpy()
        flags = np.split(repeated[at : at + lengths.sum()], np.cumsum(lengths)[:-1])
        at += lengths.sum()
        changed = [j for j, f in enumerate(flags) if f.any()]
        if not changed:
            continue
        rows = local[changed]
        texts = pq.read_table(corpus.shard_dirs[k] / PASSED_FILE, columns=["text"]) \
            .column("text").take(pa.array(rows)).to_pylist()
        rewritten, dropped, details = {c: [] for c in ["row", *REWRITTEN_COLUMNS]}, [], []
        for row, j, text in zip(rows, changed, texts):
            new = remove_units(text, lcfg.unit, flags[j])
            n_words = len(split_words(new))
            index = corpus.offsets[k] + row
            if n_words < lcfg.min_words or len(new) < cfg.validation.min_chars:
                dropped.append(index)
                details.append(f"{int(flags[j].sum())} of {flags[j].size} {lcfg.unit}s seen "
                               f"earlier; {n_words} words left")
                continue
            n_bytes = len(new.encode("utf-8"))
            stats.bytes_removed[LINE_STEP] += int(sizes[index]) - n_bytes
            for column, value in zip(["row", *REWRITTEN_COLUMNS], [
                int(row), new, len(new), n_words, n_bytes, text_hash(new)]):
                rewritten[column].append(value)
        corpus.drop(np.array(dropped, dtype=np.int64), LINE_STEP, details, stats)
        changed_docs += len(rewritten["row"])
        if rewritten["row"]:
            path = scratch / f"shard-{k:05d}.parquet"
            pq.write_table(pa.table(rewritten), path)
            corpus.rewrites[k] = path
    log.info("curate line dedup: %d %ss seen earlier removed; %d documents rewritten, %d dropped",
             units_removed, lcfg.unit, changed_docs, stats.removed[LINE_STEP][LINE_STEP])
    return {"unit": lcfg.unit, "units_removed": units_removed, "documents_rewritten": changed_docs,
            "bytes_removed": int(stats.bytes_removed[LINE_STEP])}


def _with_rewrites(passed: pa.Table, rewrites: Path | None) -> pa.Table:
    """The shard's passed documents with line dedup's rewritten rows swapped in."""
    if rewrites is None:
        return passed
    import pyarrow.compute as pc

    new = pq.read_table(rewrites)
    mask = np.zeros(passed.num_rows, dtype=bool)
    mask[new.column("row").to_numpy()] = True
    for column in REWRITTEN_COLUMNS:
        position = passed.schema.get_field_index(column)
        values = pc.replace_with_mask(passed.column(column).combine_chunks(), pa.array(mask),
                                      new.column(column).combine_chunks().cast(
                                          passed.schema.field(column).type))
        passed = passed.set_column(position, column, values)
    return passed


def write_outputs(corpus: Corpus, stats: CurateStats, out: Path, documents: str, dropped: str,
                  quarantine: str) -> None:
    """documents/ and dropped/ as one Parquet part per shard (parts that would be empty are
    skipped, but part-00000 always exists), quarantine as one JSONL, all in shard order."""
    (out / documents).mkdir(parents=True)
    (out / dropped).mkdir(parents=True)
    (out / quarantine).parent.mkdir(parents=True, exist_ok=True)
    with (out / quarantine).open("wb") as log_out:
        for k, directory in enumerate(corpus.shard_dirs):
            lo, hi = corpus.offsets[k], corpus.offsets[k + 1]
            part = f"part-{k:05d}.parquet"
            passed = _with_rewrites(pq.read_table(directory / PASSED_FILE), corpus.rewrites.get(k))
            reasons = corpus.drop_reason[lo:hi]
            kept = np.flatnonzero(reasons == "")
            docs = passed.take(pa.array(kept)).append_column(
                "quality_score", pa.array(corpus.quality_score[lo:hi][kept], pa.float64(),
                                          mask=np.isnan(corpus.quality_score[lo:hi][kept]))
            ).select(DOCUMENTS_SCHEMA.names).cast(DOCUMENTS_SCHEMA)
            sizes = passed.column("n_bytes").to_numpy()
            sources, languages = passed.column("source").to_pylist(), passed.column("language").to_pylist()
            for i in kept:
                stats.keep(sources[i], int(sizes[i]), languages[i])
            gone = np.flatnonzero(reasons != "")
            late = passed.select(["id", "source", "url", "n_bytes"]).take(pa.array(gone))
            late = late.append_column("reason", pa.array(reasons[gone].tolist(), pa.string()))
            late = late.append_column("detail", pa.array(corpus.drop_detail[lo:hi][gone].tolist(),
                                                         pa.string()))
            early = pq.read_table(directory / DROPPED_FILE)
            gone_all = pa.concat_tables([early.select(DROPPED_SCHEMA.names).cast(DROPPED_SCHEMA),
                                         late.select(DROPPED_SCHEMA.names).cast(DROPPED_SCHEMA)])
            if docs.num_rows or k == 0:
                pq.write_table(docs, out / documents / part, compression="zstd")
            if gone_all.num_rows or k == 0:
                pq.write_table(gone_all, out / dropped / part, compression="zstd")
            log_out.write((directory / QUARANTINE_FILE).read_bytes())
    if not corpus.shard_dirs:
        pq.write_table(DOCUMENTS_SCHEMA.empty_table(), out / documents / "part-00000.parquet")
        pq.write_table(DROPPED_SCHEMA.empty_table(), out / dropped / "part-00000.parquet")


def shard_stats(shard_dirs: list[Path], steps: list[str], sources: list[str]) -> CurateStats:
    from danlu.curate.worker import STATS_FILE

    total = CurateStats(steps, sources)
    for directory in shard_dirs:
        total.merge(CurateStats.from_state(json.loads((directory / STATS_FILE).read_text())))
    return total
