"""MinHash signatures and the near_duplicate filter: estimates, determinism, first-wins, and
precision/recall on planted near duplicates (synthetic and the bundled sample's crawl)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from danlu.config import CurateConfig, NearDedupConfig
from danlu.curate import curate
from danlu.curate.dedup import NearDedup
from danlu.curate.document import Document, Provenance
from danlu.curate.minhash import MinHasher, estimated_jaccard, shingle_hashes
from danlu.curate.stage import build_filters
from danlu.sample.bundle import restore

# Letters only: the filter normalizes digits away, so "w1" and "w2" would be the same word.
_LETTERS = random.Random(0)
VOCAB = ["".join(_LETTERS.choices("abcdefghijklmnopqrstuvwxyz", k=7)) for _ in range(5000)]


def random_words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(VOCAB) for _ in range(n)]


def changed(rng: random.Random, words: list[str], fraction: float) -> list[str]:
    copy = list(words)
    for k in rng.sample(range(len(words)), round(len(words) * fraction)):
        copy[k] = rng.choice(VOCAB)
    return copy


def exact_jaccard(a: list[str], b: list[str], ngram: int) -> float:
    sa, sb = set(shingle_hashes(a, ngram).tolist()), set(shingle_hashes(b, ngram).tolist())
    return len(sa & sb) / len(sa | sb)


@pytest.fixture
def near_cfg(curate_cfg: CurateConfig) -> NearDedupConfig:
    return curate_cfg.near_dedup


def make_document(text: str, doc_id: str) -> Document:
    return Document(doc_id, "test", None, text, Provenance("test", doc_id, 0), len(text))


def doc(doc_id: str, words: list[str]) -> Document:
    return make_document(" ".join(words), doc_id)


def test_identical_texts_have_identical_signatures() -> None:
    words = random_words(random.Random(1), 200)
    hasher = MinHasher(128, 5, seed=3)
    a, b = hasher.signature(words), hasher.signature(list(words))
    assert a.dtype == np.uint64 and a.shape == (128,)
    assert np.array_equal(a, b) and estimated_jaccard(a, b) == 1.0


def test_disjoint_texts_have_jaccard_near_zero() -> None:
    rng = random.Random(2)
    hasher = MinHasher(128, 5, seed=3)
    a = hasher.signature([f"left{i}" for i in range(300)])
    b = hasher.signature([f"right{i}" for i in range(300)])
    assert estimated_jaccard(a, b) < 0.03
    assert estimated_jaccard(hasher.signature(random_words(rng, 300)), a) < 0.03


@pytest.mark.parametrize("fraction", [0.01, 0.03, 0.06, 0.12, 0.25])
def test_estimate_is_close_to_exact_shingle_jaccard(fraction: float) -> None:
    rng = random.Random(int(fraction * 1000))
    base = random_words(rng, 400)
    copy = changed(rng, base, fraction)
    hasher = MinHasher(128, 5, seed=1)
    estimate = estimated_jaccard(hasher.signature(base), hasher.signature(copy))
    assert abs(estimate - exact_jaccard(base, copy, 5)) <= 0.1


def test_short_text_is_one_shingle() -> None:
    assert shingle_hashes(["only", "three", "words"], 5).shape == (1,)
    assert shingle_hashes(["a", "b", "c", "d", "e", "f"], 5).shape == (2,)
    assert shingle_hashes([], 5).shape == (0,)


def test_two_instances_give_the_same_decisions_and_details(near_cfg: NearDedupConfig) -> None:
    rng = random.Random(4)
    base = random_words(rng, 200)
    docs = [doc("a/1", base), doc("a/2", changed(rng, base, 0.02)), doc("a/3", random_words(rng, 200))]
    runs = []
    for _ in range(2):
        dedup = NearDedup(near_cfg, seed=7)
        runs.append([dedup.check(d) for d in docs])
    assert runs[0] == runs[1]
    assert runs[0][0] is None and runs[0][2] is None
    assert runs[0][1].startswith("of a/1 (J~0.")


def test_first_document_wins(near_cfg: NearDedupConfig) -> None:
    rng = random.Random(5)
    base = random_words(rng, 200)
    first, second = changed(rng, base, 0.01), changed(rng, base, 0.01)
    dedup = NearDedup(near_cfg)
    assert dedup.check(doc("first", first)) is None
    assert dedup.check(doc("second", second)).startswith("of first ")
    assert dedup.check(doc("third", base)).startswith("of first ")  # dropped ones never win


def test_below_threshold_is_kept(near_cfg: NearDedupConfig) -> None:
    rng = random.Random(6)
    base = random_words(rng, 300)
    far = changed(rng, base, 0.3)  # exact 5-gram Jaccard ~0.1
    dedup = NearDedup(near_cfg)
    assert dedup.check(doc("a", base)) is None
    assert dedup.check(doc("b", far)) is None


def test_cjk_near_duplicates(near_cfg: NearDedupConfig) -> None:
    rng = random.Random(7)
    han = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    base = "".join(rng.choice(han) for _ in range(400))
    near = base[:200] + "好" + base[201:]
    other = "".join(rng.choice(han) for _ in range(400))
    dedup = NearDedup(near_cfg)
    assert dedup.check(make_document(base, doc_id="zh/1")) is None
    assert dedup.check(make_document(near, doc_id="zh/2")).startswith("of zh/1 ")
    assert dedup.check(make_document(other, doc_id="zh/3")) is None


def test_planted_near_duplicates_precision_and_recall(near_cfg: NearDedupConfig) -> None:
    # 2% of words changed gives an exact 5-gram Jaccard ~0.82, above the 0.71 threshold of
    # bands=16, rows=8 (5% would be ~0.62: below it by design of those parameters).
    rng = random.Random(8)
    bases = [random_words(rng, 250) for _ in range(30)]
    copies = [changed(rng, b, 0.02) for b in bases]
    unrelated = [random_words(rng, 250) for _ in range(30)]
    stream = [(f"base/{i}", w) for i, w in enumerate(bases)]
    stream += [(f"copy/{i}", w) for i, w in enumerate(copies)]
    stream += [(f"other/{i}", w) for i, w in enumerate(unrelated)]
    rng.shuffle(stream)
    stream.sort(key=lambda item: not item[0].startswith("base/"))  # originals come first
    dedup = NearDedup(near_cfg)
    dropped = {doc_id for doc_id, words in stream if dedup.check(doc(doc_id, words)) is not None}
    planted = {f"copy/{i}" for i in range(30)}
    precision = len(dropped & planted) / max(len(dropped), 1)
    recall = len(dropped & planted) / len(planted)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)


def test_build_filters_puts_near_dedup_after_exact(curate_cfg: CurateConfig) -> None:
    names = [f.name for f in build_filters(curate_cfg)]
    assert names[-2:] == ["exact_duplicate", "near_duplicate"]
    disabled = curate_cfg.model_copy(
        update={"near_dedup": curate_cfg.near_dedup.model_copy(update={"enabled": False})}
    )
    assert "near_duplicate" not in [f.name for f in build_filters(disabled)]


def test_sample_crawl_planted_near_duplicates(curate_cfg: CurateConfig, tmp_path: Path) -> None:
    data = restore(tmp_path / "data")
    result = curate(curate_cfg, {"crawl": [data / "crawl"]}, tmp_path / "out")
    truth = {t["url"]: t for t in json.loads((data / "manifest.json").read_text())["crawl_truth"]}
    kept = pq.read_table(result.documents, columns=["id", "url"]).to_pandas()
    dropped = pq.read_table(result.dropped, columns=["url", "reason", "detail"]).to_pandas()
    url_of_kept = dict(zip(kept.id, kept.url))
    near = dropped[dropped.reason == "near_duplicate"]

    assert result.stats["dropped"]["near_duplicate"] == len(near)
    assert result.metrics()["dropped_near_duplicate"] == len(near)

    # Recall over planted near duplicates whose original survived the earlier filters.
    kept_urls = set(kept.url)
    planted = [t for t in truth.values() if t["kind"] == "near_duplicate" and t["duplicate_of"] in kept_urls]
    caught = set(near.url) & {t["url"] for t in planted}
    recall = len(caught) / len(planted)
    assert len(planted) >= 20 and recall >= 0.9, recall

    # Precision: every near_duplicate drop is a planted near duplicate (none is a unique article),
    # and the detail names the kept original the manifest says it copies.
    assert {truth[u]["kind"] for u in near.url} == {"near_duplicate"}
    for url, detail in zip(near.url, near.detail):
        kept_id = detail.split()[1]
        assert url_of_kept[kept_id] == truth[url]["duplicate_of"], detail
