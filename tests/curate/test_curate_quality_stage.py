"""The quality classifier inside the curate stage, on the bundled sample: trained on the
reference text against the crawl, saved with its ROC-AUC, every document scored, the crawl
judged by the keep rule, and a saved classifier reused without training."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from danlu.config import CurateConfig
from danlu.curate.run import curate
from danlu.curate.quality import QualityModel


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, list[Path]]:
    from danlu.sample.bundle import restore

    data = tmp_path_factory.mktemp("sample") / "data"
    restore(data)
    return {"crawl": [data / "crawl"], "reference": [data / "reference"]}


@pytest.fixture(scope="module")
def quality_cfg(curate_cfg: CurateConfig) -> CurateConfig:
    return curate_cfg.model_copy(update={"quality": curate_cfg.quality.model_copy(
        update={"enabled": True, "keep": "top_fraction", "top_fraction": 0.9})})


@pytest.fixture(scope="module")
def trained(quality_cfg: CurateConfig, sample, tmp_path_factory):
    return curate(quality_cfg, sample, tmp_path_factory.mktemp("q") / "out")


def test_classifier_is_trained_saved_and_scores_every_document(trained) -> None:
    report = trained.stats["quality"]
    assert report["roc_auc"] > 0.9 and report["n_train_pos"] > 50 and report["n_train_neg"] > 50
    assert (trained.out_dir / "quality_model" / "weights.npy").is_file()
    docs = pq.read_table(trained.documents).to_pandas()
    assert docs["quality_score"].notna().all() and docs["quality_score"].between(0, 1).all()
    # reference text is scored but never judged; the crawl keeps its best 90%
    assert set(docs["source"]) == {"crawl", "reference"}
    judged, dropped = report["judged"], report["dropped"]
    assert dropped == judged - math.ceil(0.9 * judged) and dropped > 0
    gone = pq.read_table(trained.dropped).to_pandas()
    quality = gone[gone.reason == "quality"]
    assert len(quality) == dropped and set(quality.source) == {"crawl"}
    assert quality.detail.str.startswith("score ").all()
    step = next(s for s in trained.stats["steps"] if s["step"] == "quality")
    assert step["bytes_removed"] == int(quality.n_bytes.sum())
    # the dropped crawl pages scored no higher than the kept ones
    scores = [float(d.split()[1]) for d in quality.detail]
    assert max(scores) <= docs[docs.source == "crawl"].quality_score.min() + 1e-3


def test_saved_classifier_gives_the_same_scores_and_decisions(
    trained, quality_cfg: CurateConfig, sample, tmp_path: Path
) -> None:
    model = QualityModel.load(trained.out_dir / "quality_model")
    docs = pq.read_table(trained.documents).to_pandas()
    np.testing.assert_allclose(model.score(docs.text.tolist()), docs.quality_score, rtol=1e-6)
    reuse = quality_cfg.model_copy(update={"quality": quality_cfg.quality.model_copy(
        update={"model": str(trained.out_dir / "quality_model")})})
    again = curate(reuse, sample, tmp_path / "again")
    assert pq.read_table(again.documents).column("id").equals(pq.read_table(trained.documents).column("id"))
    assert again.stats["quality"]["roc_auc"] == trained.stats["quality"]["roc_auc"]


def test_without_training_sources_or_model_the_step_is_skipped(
    quality_cfg: CurateConfig, sample, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    result = curate(quality_cfg, {"crawl": sample["crawl"]}, tmp_path / "out")
    assert "quality" not in [s["step"] for s in result.stats["steps"]]
    assert "not applied" in caplog.text and "reference" in caplog.text
    assert pq.read_table(result.documents).column("quality_score").null_count == result.stats["kept"]
    assert json.loads(result.validation_path.read_text())["success"]


def test_training_sample_is_capped_by_id_hash_not_by_position() -> None:
    from danlu.curate.corpus import _training_sample

    ids = np.array([f"crawl/{i:04d}" for i in range(400)], dtype=object)
    mask = np.arange(400) % 3 != 0
    chosen = _training_sample(ids, mask, 50)
    assert len(chosen) == 50 and mask[chosen].all() and list(chosen) == sorted(chosen)
    assert chosen.max() - chosen.min() > 300  # spread over the corpus, not its first 50
    flipped = _training_sample(ids[::-1].copy(), mask[::-1].copy(), 50)
    assert set(ids[::-1][flipped]) == set(ids[chosen])  # the same documents in any order
