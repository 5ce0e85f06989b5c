"""The GPT-3-style quality classifier: features, separation of prose from spam (and of Wikipedia
from C4 on ../shared/data), determinism, pickle-free save/load, and the three keep rules."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from danlu.config import CurateConfig, QualityConfig
from danlu.curate.quality import (
    META_FILE,
    WEIGHTS_FILE,
    QualityModel,
    featurize,
    keep_mask,
    pareto_draws,
    train_or_load,
)
from danlu.errors import DataError

DOC_MODULES = (
    "json re os pathlib collections itertools functools argparse logging datetime subprocess textwrap"
).split()
NAV = (
    "Home|About us|Contact|Login|Sign up|Cart (0)|Privacy Policy|Terms of Use|Sitemap|FAQ|Shop|Blog"
).split("|")
SPAM = (
    "cheap|best price|buy now|free shipping|click here|limited offer|casino bonus|replica watches|"
    "100% guaranteed|lose weight fast|hot deals|top 10|download free|work from home|win big"
).split("|")


def prose_paragraphs() -> list[str]:
    """English prose: paragraphs of standard-library docstrings with at least 20 words."""
    found = set()
    for name in DOC_MODULES:
        module = importlib.import_module(name)
        for obj in [module] + [getattr(module, a) for a in dir(module) if not a.startswith("_")]:
            if inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj):
                for para in (inspect.getdoc(obj) or "").split("\n\n"):
                    if len(para.split()) >= 20 and ">>>" not in para:
                        found.add(" ".join(para.split()))
    return sorted(found)


def spam_pages(n: int, seed: int = 0) -> list[str]:
    """Navigation bars and keyword spam, as raw crawl is full of."""
    rng = random.Random(seed)
    pages = []
    for _ in range(n):
        spam = [f"{rng.choice(SPAM)} {rng.choice(SPAM)}" for _ in range(rng.randint(3, 8))]
        parts = rng.sample(NAV, 5) + spam
        parts += [f"${rng.randint(1, 999)}.99", f"© {rng.randint(2005, 2025)} All rights reserved"]
        rng.shuffle(parts)
        pages.append(" | ".join(parts))
    return pages


@pytest.fixture(scope="module")
def qcfg(curate_cfg: CurateConfig) -> QualityConfig:
    return curate_cfg.quality.model_copy(update={"epochs": 10})


@pytest.fixture(scope="module")
def trained(qcfg: QualityConfig) -> tuple[QualityModel, dict]:
    return QualityModel.train(prose_paragraphs(), spam_pages(300), qcfg, seed=0)


def test_features_casefold_normalise_and_split_cjk() -> None:
    x = featurize(["Hello World hello", "", "敏捷的狐狸"], ngram=2, num_features=1024)
    assert x.shape == (3, 1024)
    assert np.allclose(np.asarray(x.multiply(x).sum(axis=1)).ravel(), [1, 0, 1])
    assert x[1].nnz == 0
    assert x[2].nnz == 5 + 4  # five characters, four character bigrams (barring collisions)
    assert (featurize(["HELLO world"], 2, 1024) != featurize(["hello WORLD"], 2, 1024)).nnz == 0


def test_features_are_the_same_in_another_process() -> None:
    """Python's hash() is salted per process; the features must not be."""
    code = (
        "from danlu.curate.quality import featurize; x = featurize(['Quality is a habit'], 2, 4096); "
        "print(list(x.indices), [round(v, 12) for v in x.data])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345"}).stdout
    x = featurize(["Quality is a habit"], 2, 4096)
    assert out.strip() == f"{list(x.indices)} {[round(v, 12) for v in x.data]}"


def test_separates_prose_from_spam(trained: tuple[QualityModel, dict]) -> None:
    model, report = trained
    assert report["roc_auc"] > 0.9
    assert report["n_heldout_pos"] > 0 and report["n_heldout_neg"] > 0
    assert report["n_train_neg"] + report["n_heldout_neg"] == 300
    assert report["train_seconds"] >= 0
    scores = model.score(["The function returns a new list containing the items of the iterable, "
                          "sorted in ascending order by the given key.",
                          "Home | Cart (0) | cheap casino bonus | buy now free shipping | Login"])
    assert scores[0] > 0.5 > scores[1]


def test_separates_wikipedia_from_c4(shared_data: Path, qcfg: QualityConfig) -> None:
    """Real text: Wikipedia articles cut to C4's length against C4 pages (both clean prose, so
    unlike wikitext's tokenised `@-@` text this is not won by formatting alone)."""
    demo = shared_data / "llamafactory-demo"
    articles = [a for a in (demo / "wiki_demo.txt").read_text(encoding="utf-8").split("\n") if a]
    wiki = [a[i : i + 2500] for a in articles for i in range(0, len(a) - 2000, 2500)]
    lines = (demo / "c4_demo.jsonl").read_text(encoding="utf-8").splitlines()
    c4 = [json.loads(line)["text"] for line in lines]
    _, report = QualityModel.train(wiki, c4, qcfg, seed=0)
    assert report["roc_auc"] > 0.9


def test_scores_are_batched_probabilities(trained: tuple[QualityModel, dict]) -> None:
    model, _ = trained
    texts = prose_paragraphs()[:50] + spam_pages(50, seed=1) + [""]
    scores = model.score(texts)
    assert scores.dtype == np.float64 and scores.shape == (101,)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert np.array_equal(model.score(iter(texts), batch_size=7), scores)
    assert model.score([]).shape == (0,)


def test_training_is_deterministic(qcfg: QualityConfig, trained: tuple[QualityModel, dict]) -> None:
    again, _ = QualityModel.train(prose_paragraphs(), spam_pages(300), qcfg, seed=0)
    assert np.array_equal(again.weights, trained[0].weights)
    assert again.bias == trained[0].bias


def test_caps_each_class(qcfg: QualityConfig) -> None:
    cfg = qcfg.model_copy(update={"max_train_docs": 40, "heldout_fraction": 0.25})
    _, report = QualityModel.train(prose_paragraphs(), spam_pages(300), cfg, seed=0)
    assert (report["n_train_pos"], report["n_heldout_pos"]) == (30, 10)
    assert (report["n_train_neg"], report["n_heldout_neg"]) == (30, 10)


def test_too_few_documents_names_sources_and_counts(qcfg: QualityConfig) -> None:
    with pytest.raises(DataError, match=r"positives from \['reference'\] have 3.*\['crawl'\] have 300"):
        QualityModel.train(prose_paragraphs()[:3], spam_pages(300), qcfg, seed=0)


def test_save_load_round_trip(trained: tuple[QualityModel, dict], tmp_path: Path) -> None:
    model, report = trained
    model.save(tmp_path / "q")
    loaded = QualityModel.load(tmp_path / "q")
    texts = prose_paragraphs()[:20] + spam_pages(20, seed=2)
    assert np.array_equal(loaded.score(texts), model.score(texts))
    assert loaded.report == report
    assert not np.load(tmp_path / "q" / WEIGHTS_FILE, allow_pickle=False).dtype.hasobject


def test_tampered_weights_name_the_file(trained: tuple[QualityModel, dict], tmp_path: Path) -> None:
    trained[0].save(tmp_path)
    np.save(tmp_path / WEIGHTS_FILE, np.zeros(trained[0].num_features, dtype=np.float32))
    with pytest.raises(DataError, match=f"{WEIGHTS_FILE}: checksum"):
        QualityModel.load(tmp_path)


def test_wrong_shape_weights_name_the_file(trained: tuple[QualityModel, dict], tmp_path: Path) -> None:
    trained[0].save(tmp_path)
    np.save(tmp_path / WEIGHTS_FILE, np.zeros(1024, dtype=np.float32))
    meta = json.loads((tmp_path / META_FILE).read_text())
    meta["weights_sha256"] = hashlib.sha256((tmp_path / WEIGHTS_FILE).read_bytes()).hexdigest()
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(DataError, match=f"{WEIGHTS_FILE}: expected float32"):
        QualityModel.load(tmp_path)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("format_version", 2, "format_version 2, expected 1"),
    ("features_probe", "0" * 16, "trained with a different feature hashing"),
    ("bias", None, "missing keys"),
    ("num_features", "many", "ngram and num_features must be positive integers"),
])
def test_mismatched_metadata_names_the_file(
    trained: tuple[QualityModel, dict], tmp_path: Path, key: str, value: object, message: str
) -> None:
    trained[0].save(tmp_path)
    meta = json.loads((tmp_path / META_FILE).read_text())
    if value is None:
        del meta[key]
    else:
        meta[key] = value
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(DataError, match=f"{META_FILE}: {message}"):
        QualityModel.load(tmp_path)


def test_missing_model_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"{META_FILE}: cannot read"):
        QualityModel.load(tmp_path / "absent")


def test_train_or_load_saves_then_loads(qcfg: QualityConfig, tmp_path: Path) -> None:
    pos, neg = prose_paragraphs(), spam_pages(100)
    trained, report = train_or_load(qcfg, pos, neg, seed=3, out_dir=tmp_path / "a")
    assert (tmp_path / "a" / META_FILE).is_file()
    saved = qcfg.model_copy(update={"model": str(tmp_path / "a")})
    loaded, loaded_report = train_or_load(saved, [], [], seed=3, out_dir=None)
    assert loaded_report == report
    assert np.array_equal(loaded.score(neg[:10]), trained.score(neg[:10]))


def test_keep_threshold(qcfg: QualityConfig) -> None:
    cfg = qcfg.model_copy(update={"keep": "threshold", "threshold": 0.5})
    kept = keep_mask(np.array([0.1, 0.5, 0.9]), ["a", "b", "c"], cfg, seed=0)
    assert kept.tolist() == [False, True, True]
    assert keep_mask(np.empty(0), [], cfg.model_copy(update={"keep": "top_fraction"}), 0).shape == (0,)


def test_keep_top_fraction_exact_count_and_ties_by_key(qcfg: QualityConfig) -> None:
    cfg = qcfg.model_copy(update={"keep": "top_fraction", "top_fraction": 0.3})
    scores = np.array([0.2, 0.7, 0.7, 0.9, 0.7, 0.1, 0.3, 0.7, 0.4, 0.5])
    keys = ["j", "d", "b", "z", "c", "a", "e", "f", "g", "h"]
    kept = keep_mask(scores, keys, cfg, 0)
    assert kept.sum() == 3  # 0.3 * 10 is 3.0000000000000004 in floats
    assert sorted(k for k, m in zip(keys, kept) if m) == ["b", "c", "z"]
    half = keep_mask(scores, keys, cfg.model_copy(update={"top_fraction": 0.25}), 0)
    assert half.sum() == 3  # ceil(2.5)


def test_pareto_decision_is_per_document(qcfg: QualityConfig) -> None:
    cfg = qcfg.model_copy(update={"keep": "pareto"})
    rng = np.random.default_rng(0)
    keys = [f"crawl/{i:06d}" for i in range(2000)]
    scores = rng.uniform(size=2000)
    whole = keep_mask(scores, keys, cfg, seed=7)
    order = rng.permutation(2000)
    shuffled = keep_mask(scores[order], [keys[i] for i in order], cfg, seed=7)
    assert np.array_equal(shuffled, whole[order])
    first = keep_mask(scores[:700], keys[:700], cfg, seed=7)
    second = keep_mask(scores[700:], keys[700:], cfg, seed=7)
    split = np.r_[first, second]
    assert np.array_equal(split, whole)
    assert not np.array_equal(keep_mask(scores, keys, cfg, seed=8), whole)


def test_pareto_draws_follow_numpys_pareto() -> None:
    """numpy's pareto(a) is Lomax(a); the hashed draws must have that distribution."""
    draws = pareto_draws([f"doc-{i}" for i in range(5000)], alpha=9.0, seed=0)
    assert stats.kstest(draws, "lomax", args=(9.0,)).pvalue > 0.01


def test_pareto_keep_rate_rises_with_score(qcfg: QualityConfig) -> None:
    cfg = qcfg.model_copy(update={"keep": "pareto", "pareto_alpha": 9.0})
    n = 4000
    rates = []
    for s in [0.0, 0.25, 0.5, 0.75, 1.0]:
        keys = [f"s{s}-{i}" for i in range(n)]
        rates.append(keep_mask(np.full(n, s), keys, cfg, seed=0).mean())
        assert abs(rates[-1] - (2 - s) ** -9) < 0.02  # P(keep) = P(Lomax > 1 - s) = (2 - s)^-alpha
    assert rates == sorted(rates)
    assert rates[0] < 0.01 and rates[-1] > 0.99
