"""MinHash signatures, normalization and the near_duplicate filter: estimates, determinism
across processes, the fast paths against their references, first-wins, and precision/recall on
planted near duplicates (synthetic and the bundled sample's crawl)."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from danlu.config import CurateConfig, NearDedupConfig
from danlu.curate.run import curate
from danlu.curate.dedup import normalize, normalized_hash, text_hash
from danlu.curate.document import Document, Provenance
from danlu.curate.minhash import (
    EMPTY,
    MinHasher,
    estimated_jaccard,
    permutation_parameters,
    shingle_hashes,
)
from danlu.curate.lsh import band_hashes, near_duplicate_clusters
from danlu.curate.words import split_words
from danlu.curate.steps import corpus_steps
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
    assert a.dtype == np.uint32 and a.shape == (128,)
    assert np.array_equal(a, b) and estimated_jaccard(a, b) == 1.0


def test_signature_is_the_same_in_another_process() -> None:
    # Another interpreter with another hash seed: nothing may depend on Python's hash().
    code = (
        "from danlu.curate.minhash import MinHasher;"
        "print(MinHasher(64, 5, seed=2)"
        ".text_signature('the same words in another process ' * 9).tolist())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    here = MinHasher(64, 5, seed=2).text_signature("the same words in another process " * 9)
    assert json.loads(out.stdout) == here.tolist()


def test_empty_text_signature() -> None:
    hasher = MinHasher(16, 5)
    assert np.all(hasher.signature([]) == EMPTY) and np.all(hasher.text_signature("") == EMPTY)


@pytest.mark.parametrize(
    "text",
    [
        "plain ascii words separated by single spaces and more of them",
        "  leading and trailing  ",
        "double  spaces\tand tabs\nand newlines\x1cand a file separator",
        "résumé naïve café with accents",
        "日本語のテキスト と english mixed 、句読点。",
        "中文没有空格",
        "one",
        "",
    ],
)
def test_text_signature_equals_signature_of_split_words(text: str) -> None:
    hasher = MinHasher(32, 3, seed=1)
    assert np.array_equal(hasher.text_signature(text), hasher.signature(split_words(text)))


def test_long_text_over_several_chunks_matches_one_block() -> None:
    words = random_words(random.Random(9), 12_000)  # > 4096 shingles: several permutation passes
    hasher = MinHasher(16, 5, seed=4)
    x = shingle_hashes(words, 5).astype(np.uint32)
    a = permutation_parameters(16, 4)
    reference = (a[:, None] * x[None, :]).min(axis=1)  # uint32, wraps mod 2^32
    assert np.array_equal(hasher.signature(words), reference)


def test_split_words_fast_path_matches_the_regex() -> None:
    from danlu.curate.words import _WORD

    rng = random.Random(11)
    spaces = [" ", "\t", "\n", "\x0b", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000", "\u200b"]
    pools = [list("abcXYZ.,"), list("äöüßéèПривет"), list("日本語、。ab"), ["々", "〇", "x"]]
    for pool in pools:
        for _ in range(100):
            text = "".join(rng.choices(pool + spaces, k=60))
            assert split_words(text) == _WORD.findall(text), repr(text)


def _regex_normalize(text: str) -> str:
    """The definition normalize() must match: NFKC, case fold, letters only, single spaces."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\W\d_]+", " ", folded).strip()


@pytest.mark.parametrize(
    "text",
    [
        "Hello, World! 42 times_over",
        "İstanbul ǅemal Straße ﬁne Ω ½ x² ٣ 〇々〆 Ⅻ ÀÉÎ ŉ ΐ",
        "e\u0301 a\u2028b c\u00a0d e\u3000f",
        "日本語テキスト 한국어 😀 _a_ a1b ᾼ ﬀ “quoted” — dash … ellipsis",
        "Привет, мир! Русский текст с ЗАГЛАВНЫМИ буквами и цифрами 123.",
        "",
        "   \n\t ",
    ],
)
def test_normalize_matches_its_regex_definition(text: str) -> None:
    assert normalize(text) == _regex_normalize(text)
    assert text_hash(text) == normalized_hash(normalize(text))


def test_normalize_matches_on_random_unicode() -> None:
    rng = random.Random(10)
    alphabet = [chr(c) for c in range(32, 0x3000) if not 0xD800 <= c < 0xE000] + list(" \n\t,.")
    for n_distinct in (5, 20, 60):  # both sides of the per-character replacement cut-off
        pool = rng.sample(alphabet, n_distinct) + list("abc XYZ 12.")
        for _ in range(50):
            text = "".join(rng.choices(pool, k=200))
            assert normalize(text) == _regex_normalize(text), text


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


def near_duplicates(cfg: NearDedupConfig, docs: list[tuple[str, str]], seed: int = 1) -> dict[str, str]:
    """The stage's near dedup on texts in memory: id of each dropped document -> id of the
    document it duplicates (the first of its cluster)."""
    hasher = MinHasher(cfg.num_perm, cfg.ngram, seed)
    bands = band_hashes(np.stack([hasher.text_signature(normalize(t)) for _, t in docs]),
                        cfg.bands, cfg.rows)
    rep = near_duplicate_clusters(lambda b: bands[:, b], len(docs), cfg.bands)
    return {docs[i][0]: docs[r][0] for i, r in enumerate(rep) if r != i}


def test_two_runs_give_the_same_decisions(near_cfg: NearDedupConfig) -> None:
    rng = random.Random(4)
    base = random_words(rng, 200)
    docs = [("a/1", " ".join(base)), ("a/2", " ".join(changed(rng, base, 0.02))),
            ("a/3", " ".join(random_words(rng, 200)))]
    assert near_duplicates(near_cfg, docs) == near_duplicates(near_cfg, docs) == {"a/2": "a/1"}


def test_first_document_wins(near_cfg: NearDedupConfig) -> None:
    rng = random.Random(5)
    base = random_words(rng, 200)
    first, second = changed(rng, base, 0.01), changed(rng, base, 0.01)
    docs = [("first", " ".join(first)), ("second", " ".join(second)), ("third", " ".join(base))]
    assert near_duplicates(near_cfg, docs) == {"second": "first", "third": "first"}


def test_below_threshold_is_kept(near_cfg: NearDedupConfig) -> None:
    rng = random.Random(6)
    base = random_words(rng, 300)
    far = changed(rng, base, 0.3)  # exact 5-gram Jaccard ~0.1
    assert near_duplicates(near_cfg, [("a", " ".join(base)), ("b", " ".join(far))]) == {}


def test_cjk_near_duplicates(near_cfg: NearDedupConfig) -> None:
    rng = random.Random(7)
    han = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    base = "".join(rng.choice(han) for _ in range(400))
    near = base[:200] + "好" + base[201:]
    other = "".join(rng.choice(han) for _ in range(400))
    docs = [("zh/1", base), ("zh/2", near), ("zh/3", other)]
    assert near_duplicates(near_cfg, docs) == {"zh/2": "zh/1"}


def test_planted_near_duplicates_precision_and_recall(near_cfg: NearDedupConfig) -> None:
    # 2% of words changed gives an exact 5-gram Jaccard ~0.82, above the 0.55 threshold of
    # bands=20, rows=5 (benchmarks/minhash_bench.py measures a realistic edit on real text).
    rng = random.Random(8)
    bases = [random_words(rng, 250) for _ in range(30)]
    copies = [changed(rng, b, 0.02) for b in bases]
    unrelated = [random_words(rng, 250) for _ in range(30)]
    stream = [(f"base/{i}", w) for i, w in enumerate(bases)]
    stream += [(f"copy/{i}", w) for i, w in enumerate(copies)]
    stream += [(f"other/{i}", w) for i, w in enumerate(unrelated)]
    rng.shuffle(stream)
    stream.sort(key=lambda item: not item[0].startswith("base/"))  # originals come first
    dropped = set(near_duplicates(near_cfg, [(i, " ".join(w)) for i, w in stream]))
    planted = {f"copy/{i}" for i in range(30)}
    precision = len(dropped & planted) / max(len(dropped), 1)
    recall = len(dropped & planted) / len(planted)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)


def test_near_dedup_runs_after_exact_dedup(curate_cfg: CurateConfig) -> None:
    assert corpus_steps(curate_cfg, ["crawl"])[-2:] == ["exact_duplicate", "near_duplicate"]
    disabled = curate_cfg.model_copy(
        update={"near_dedup": curate_cfg.near_dedup.model_copy(update={"enabled": False})}
    )
    assert "near_duplicate" not in corpus_steps(disabled, ["crawl"])


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
