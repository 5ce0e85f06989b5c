"""The curate stage end to end on a made-up corpus: outcomes, accounting, determinism,
atomicity and the validation gate."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from danlu.config import CurateConfig
from danlu.curate.run import curate
from danlu.curate.output import ParquetParts
from danlu.curate.stats import CurateStats
from danlu.errors import DataError, ValidationFailed
from danlu.tracking.tracker import NullTracker

QUALITY_RULES = {"word_count", "mean_word_length", "symbol_word_ratio", "alpha_word_fraction",
                 "stop_words", "duplicate_lines", "top_word_fraction"}


def by_url(table_path: Path) -> dict[str, dict]:
    return {row["url"]: row for row in pq.read_table(table_path).to_pylist()}


@pytest.fixture
def run(curate_cfg: CurateConfig, corpus: dict[str, list[Path]], tmp_path: Path):
    tracker = NullTracker()
    result = curate(curate_cfg, corpus, tmp_path / "out", tracker=tracker)
    return result, tracker


def test_every_input_has_its_outcome(run) -> None:
    result, _ = run
    kept = by_url(result.documents)
    assert set(kept) == {
        "http://news.example/0", "http://news.example/1", "http://news.example/2",
        "http://bees.example/", None,
    }
    assert {r["language"] for r in kept.values()} == {"en"}
    first = kept["http://news.example/0"]
    assert first["text"].startswith("Story 0\n\nThe river town") and "Home" not in first["text"]
    assert first["n_words"] > 50 and first["n_chars"] == len(first["text"])
    assert first["source"] == "crawl" and first["encoding_source"] == "header"

    dropped = by_url(result.dropped)
    assert dropped["http://mirror.example/0"]["reason"] == "exact_duplicate"
    assert dropped["http://mirror.example/0"]["detail"] == first["id"]
    # The truncated file's surviving record is story 0 plus one word: a near duplicate.
    assert dropped["http://cut.example/0"]["reason"] == "near_duplicate"
    assert dropped["http://cut.example/0"]["detail"].startswith(f"of {first['id']} (J~0.")
    assert dropped["http://zh.example/"]["reason"] == "language"
    assert dropped["http://zh.example/"]["detail"].startswith("zh (")
    assert dropped["http://ja.example/"]["detail"].startswith("ja (")  # shift_jis decoded right
    assert dropped["http://spam.example/"]["reason"] in QUALITY_RULES
    assert dropped["http://nav.example/"]["reason"] in {"empty"} | QUALITY_RULES
    assert dropped["http://empty.example/"]["reason"] == "empty"
    assert dropped[None]["reason"] == "empty" and dropped[None]["source"] == "reference"

    quarantine = [json.loads(line) for line in result.quarantine.read_text().splitlines()]
    reasons = {
        (q["reason"], q["record"] if q["source"] == "reference" else Path(q["file"]).name)
        for q in quarantine
    }
    assert reasons == {
        ("not_html", "a-main.warc.gz"),
        ("http_status", "a-main.warc.gz"),
        ("truncated_record", "b-truncated.warc.gz"),
        ("malformed_json", "line 2"),
        ("missing_text", "line 5"),
    }
    assert all(q["detail"] and q["id"] for q in quarantine)


def test_stats_account_for_every_input(run) -> None:
    result, tracker = run
    stats = json.loads(result.stats_path.read_text())
    assert stats == result.stats
    assert stats["documents_in"] == 18  # 11 responses + 2 in the truncated file + 5 JSONL lines
    accounted = stats["kept"] + sum(stats["dropped"].values()) + sum(stats["quarantined"].values())
    assert stats["invariant"]["holds"] and accounted == stats["documents_in"]
    assert stats["kept"] == 5 and stats["dropped"]["exact_duplicate"] == 1 and stats["dropped"]["language"] == 2
    assert stats["dropped"]["near_duplicate"] == 1
    assert stats["quarantined"] == {
        "http_status": 1, "malformed_json": 1, "missing_text": 1, "not_html": 1, "truncated_record": 1
    }
    assert [s["step"] for s in stats["steps"]][:4] == ["read", "extract", "empty", "language"]
    assert stats["sources"]["reference"]["documents_in"] == 5 and stats["sources"]["reference"]["kept"] == 2
    assert stats["bytes_in"] > stats["bytes_kept"] > 0
    assert stats["languages"]["zh"] == 1

    metrics = result.metrics()
    assert metrics["documents_in"] == 18 and metrics["dropped_language"] == 2
    assert metrics["quarantined_not_html"] == 1 and metrics["source.reference.kept"] == 2
    assert all(isinstance(v, float) for v in metrics.values())
    assert tracker.metrics == [] and tracker.params == {}  # the runner logs them, once
    assert tracker.tags["curate.validation"] == "accepted"
    assert {p.name for p, _ in tracker.artifacts} == {"stats.json", "stats.md", "validation.json",
                                                      "data_docs"}
    assert json.loads(result.validation_path.read_text())["success"] is True


def test_two_runs_write_identical_files(curate_cfg: CurateConfig, corpus, tmp_path: Path, run) -> None:
    first, _ = run
    second = curate(curate_cfg, corpus, tmp_path / "again")
    for relative in ("documents/part-00000.parquet", "dropped/part-00000.parquet",
                     "quarantine/quarantine.jsonl", "stats.json", "validation.json"):
        assert (first.out_dir / relative).read_bytes() == (second.out_dir / relative).read_bytes(), relative


def test_crash_midway_leaves_no_output_and_keeps_the_old_one(
    curate_cfg: CurateConfig, corpus, tmp_path: Path, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous, _ = run
    before = {p: p.read_bytes() for p in previous.out_dir.rglob("*") if p.is_file()}
    calls = []

    def failing_write(self, row):
        calls.append(row)
        if len(calls) >= 3:
            raise OSError("disk full")

    monkeypatch.setattr(ParquetParts, "write", failing_write)
    with pytest.raises(OSError, match="disk full"):
        curate(curate_cfg, corpus, previous.out_dir)
    with pytest.raises(OSError, match="disk full"):
        curate(curate_cfg, corpus, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()
    assert {p: p.read_bytes() for p in previous.out_dir.rglob("*") if p.is_file()} == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_failed_gate_rejects_the_output_and_keeps_the_reports(
    curate_cfg: CurateConfig, corpus, tmp_path: Path
) -> None:
    # Config drift: the gate wants longer documents than the filters let through.
    stricter = curate_cfg.validation.model_copy(update={"min_chars": 800})
    drifted = curate_cfg.model_copy(update={"validation": stricter})
    out = tmp_path / "out"
    with pytest.raises(ValidationFailed) as caught:
        curate(drifted, corpus, out)
    message = str(caught.value)
    assert "n_chars between min_chars=800" in message and "was not written" in message
    assert str(tmp_path / "out.rejected" / "validation.json") in message.splitlines()[0]
    assert "crawl/" in message  # examples name the offending documents
    assert not out.exists()
    rejected = tmp_path / "out.rejected"
    assert Path(caught.value.report_path) == rejected / "validation.json"
    assert json.loads((rejected / "validation.json").read_text())["success"] is False
    assert json.loads((rejected / "stats.json").read_text())["kept"] == 5
    curate(curate_cfg, corpus, out)  # a later accepted run clears the stale rejection
    assert out.exists() and not rejected.exists()


def test_missing_input_fails_before_any_output(curate_cfg: CurateConfig, corpus, tmp_path: Path) -> None:
    inputs = {**corpus, "extra": [tmp_path / "no-such-folder"]}
    with pytest.raises(DataError, match="no-such-folder"):
        curate(curate_cfg, inputs, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_broken_accounting_is_a_bug_that_raises() -> None:
    stats = CurateStats(["empty"], ["s"])
    stats.entered["read"] += 1
    stats.sources["s"].documents_in += 1  # read but never given an outcome
    with pytest.raises(AssertionError, match="lost track"):
        stats.to_dict()


def test_big_shards_run_first(curate_cfg: CurateConfig, corpus, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    import danlu.curate.run as run_module

    order = []
    real = run_module.run_all

    def spy(runner, fn, jobs, what, started=None):
        order.extend(job.shard for job in jobs)
        return real(runner, fn, jobs, what, started)

    monkeypatch.setattr(run_module, "run_all", spy)
    curate(curate_cfg, corpus, tmp_path / "out")
    sizes = [shard.approx_bytes() for shard in order]
    assert len(set(sizes)) > 1 and sizes == sorted(sizes, reverse=True)


def test_near_dedup_reads_the_bands_at_once_or_band_by_band_alike(
    curate_cfg: CurateConfig, corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import danlu.curate.corpus as corpus_module
    from danlu.curate.output import band_column

    reads = []
    real = corpus_module.pq.read_table

    def counting(path, columns=None, **kwargs):
        if columns and band_column(0) in columns:
            reads.append(len(columns))
        return real(path, columns=columns, **kwargs)

    monkeypatch.setattr(corpus_module.pq, "read_table", counting)
    at_once = curate(curate_cfg, corpus, tmp_path / "at-once")
    shards = at_once.stats["shards"]
    assert reads == [curate_cfg.near_dedup.bands] * shards  # one read per shard, every band
    reads.clear()
    monkeypatch.setattr(corpus_module, "BANDS_IN_MEMORY", 0)
    by_band = curate(curate_cfg, corpus, tmp_path / "by-band")
    assert reads == [1] * shards
    for relative in ("documents/part-00000.parquet", "dropped/part-00000.parquet", "stats.json"):
        assert (at_once.out_dir / relative).read_bytes() == (by_band.out_dir / relative).read_bytes()
