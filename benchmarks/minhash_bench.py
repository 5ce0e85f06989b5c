"""MinHash near-dedup: signature speed per core and duplicate-finding quality on real text.

  speed     normalize + signature, one process, on three kinds of real text: wikitext paragraphs
            joined to ~5 KB, the gold article bodies of article-extraction-benchmark (web pages,
            ~3 KB), BBC news articles (~2 KB). Best of --repeats passes; datasketch as the peer
            when it is installed.
  planted   copies of real documents with a realistic edit (EDIT_MODEL below), mixed with all
            the other documents: precision / recall / F1 of "clustered with its original", for
            several (ngram, bands x rows), with and without verification by estimated Jaccard.
  bbc       the natural duplicates of bbc-news-summary: its same-title pairs (98 exact, 31 near)
            against the pairs that LSH puts in one cluster.

  .venv/bin/python benchmarks/minhash_bench.py [--data ../shared/data] [--repeats 3]

The last line is `minhash_docs_per_s_per_core=N` (normalize + signature, the slowest corpus).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from danlu.config import load_config
from danlu.curate.dedup import normalize
from danlu.curate.lsh import band_hashes, near_duplicate_clusters
from danlu.curate.minhash import MinHasher, shingle_hashes

REPO = Path(__file__).resolve().parents[1]
NUM_PERM = 128
# (ngram, bands, rows) compared on planted duplicates; signatures use the first bands*rows values.
GRID = [(5, 16, 8), (5, 20, 6), (5, 16, 5), (5, 20, 5), (5, 25, 5), (5, 24, 4), (5, 32, 4),
        (3, 16, 8), (3, 20, 5)]
EDIT_MODEL = (
    "per copy: 1 word in 50 replaced by a random vocabulary word (2%), one sentence dropped, a "
    "header of 4-9 words and a footer of 10-20 words of site boilerplate added"
)
HEADERS = ["Home | News | World | Share this article", "Skip to main content Menu Search",
           "Advertisement Sign in Subscribe", "Latest stories Most read Video Live", "Breaking news"]
FOOTERS = ["Copyright 2024 Example Media Group. All rights reserved. Terms of use. Privacy policy.",
           "Follow us on Twitter and Facebook. Sign up for our daily newsletter to get the top stories.",
           "Related articles: more from this section. Comments are closed. Report an error.",
           "This article was originally published on our partner site. Reprinted with permission."]


def load_corpora(data: Path) -> dict[str, list[str]]:
    wikitext, chunk, size = [], [], 0
    for name in ("test.txt", "valid.txt"):
        for line in (data / "wikitext-2-subset" / name).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("="):
                continue
            chunk.append(line)
            size += len(line)
            if size >= 5000:
                wikitext.append("\n\n".join(chunk))
                chunk, size = [], 0
    gold = json.loads((data / "article-extraction-benchmark" / "ground-truth.json").read_text())
    web = [v["articleBody"] for _, v in sorted(gold.items()) if v.get("articleBody")]
    return {"wikitext ~5KB": wikitext, "web articles (AEB gold)": web, "bbc news": bbc_articles(data)[1]}


def bbc_articles(data: Path) -> tuple[list[str], list[str]]:
    with gzip.open(data / "bbc-news-summary" / "bbc_news_summary.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [r["id"] for r in rows], [r["article"] for r in rows]


def best_rate(fn: Callable[[], None], n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()  # CPU time of this process: one core, whatever else runs
        fn()
        best = min(best, time.process_time() - start)
    return n / best


def speed(corpora: dict[str, list[str]], cfg, repeats: int) -> float:
    hasher = MinHasher(cfg.num_perm, cfg.ngram)
    peer = _datasketch(cfg)
    print(f"\n## signature speed, one process ({cfg.num_perm} permutations, {cfg.ngram}-grams), docs/s")
    print(f"| corpus | docs | median chars | normalize | signature | normalize + signature |"
          f"{' datasketch (+normalize) |' if peer else ''}")
    print(f"|---|---|---|---|---|---|{'---|' if peer else ''}")
    slowest = float("inf")
    for name, texts in corpora.items():
        normalized = [normalize(t) for t in texts]
        n = len(texts)
        norm_rate = best_rate(lambda: [normalize(t) for t in texts], n, repeats)
        sig_rate = best_rate(lambda: [hasher.text_signature(t) for t in normalized], n, repeats)
        both = best_rate(lambda: [hasher.text_signature(normalize(t)) for t in texts], n, repeats)
        slowest = min(slowest, both)
        median = int(np.median([len(t) for t in texts]))
        row = f"| {name} | {n} | {median} | {norm_rate:,.0f} | {sig_rate:,.0f} | {both:,.0f} |"
        if peer:
            row += f" {best_rate(lambda: [peer(normalize(t)) for t in texts], n, repeats):,.0f} |"
        print(row)
    return slowest


def _datasketch(cfg) -> Callable[[str], object] | None:
    try:
        from datasketch import MinHash
    except ImportError:
        return None

    def signature(text: str) -> object:
        words = text.split()
        starts = range(max(1, len(words) - cfg.ngram + 1))
        grams = {" ".join(words[i : i + cfg.ngram]).encode() for i in starts}
        m = MinHash(num_perm=cfg.num_perm)
        m.update_batch(list(grams))
        return m.hashvalues

    return signature


def edit(text: str, rng: random.Random, vocab: list[str]) -> str:
    """One planted near duplicate, per EDIT_MODEL."""
    sentences = [s for s in text.replace("\n", " ").split(". ") if s]
    if len(sentences) > 2:
        del sentences[rng.randrange(len(sentences))]
    words = ". ".join(sentences).split()
    for k in rng.sample(range(len(words)), max(1, len(words) // 50)):
        words[k] = rng.choice(vocab)
    return f"{rng.choice(HEADERS)}\n{' '.join(words)}\n{rng.choice(FOOTERS)}"


def exact_jaccard(a: str, b: str, ngram: int) -> float:
    sa = set(shingle_hashes(normalize(a).split(), ngram).tolist())
    sb = set(shingle_hashes(normalize(b).split(), ngram).tolist())
    return len(sa & sb) / len(sa | sb)


def jaccard_matrix(texts: list[str], ngram: int) -> np.ndarray:
    """Exact shingle Jaccard of every pair (dense, float32): |A & B| from one sparse product."""
    from scipy.sparse import csr_matrix

    sets = [np.unique(shingle_hashes(normalize(t).split(), ngram)) for t in texts]
    vocab, cols = np.unique(np.concatenate(sets), return_inverse=True)
    indptr = np.concatenate(([0], np.cumsum([len(x) for x in sets])))
    m = csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr), shape=(len(texts), len(vocab)))
    inter = (m @ m.T).toarray()
    sizes = np.diag(inter).copy()
    return inter / np.maximum(sizes[:, None] + sizes[None, :] - inter, 1)


def planted(corpora: dict[str, list[str]], copies: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    texts, seen = [], set()
    for corpus in corpora.values():  # the corpora's own exact duplicates (BBC has 98) left out
        for t in corpus:
            key = normalize(t)
            if key not in seen:
                seen.add(key)
                texts.append(t)
    # ... and so are the documents already near-duplicate of another (exact 5-gram J >= 0.3):
    # otherwise natural duplicates count as false positives (BBC has dozens not in its pair list).
    jac = jaccard_matrix(texts, 5)
    np.fill_diagonal(jac, 0)
    natural = {int(j) for j in np.flatnonzero(np.triu(jac >= 0.3).any(axis=0))}
    print(f"\n{len(natural)} documents left out as natural near duplicates (J >= 0.3 with one before)")
    texts = [t for k, t in enumerate(texts) if k not in natural]
    vocab = sorted({w for t in texts[:200] for w in normalize(t).split()})
    originals = rng.sample(range(len(texts)), copies)
    planted_texts = [edit(texts[i], rng, vocab) for i in originals]
    jaccards = np.array([exact_jaccard(texts[i], c, 5) for i, c in zip(originals, planted_texts)])
    print(f"\n## planted near duplicates: {copies} copies among {len(texts)} distinct real documents")
    print(f"edit model: {EDIT_MODEL}")
    print(f"exact 5-gram Jaccard of the planted pairs: min {jaccards.min():.2f}, 5th pct "
          f"{np.percentile(jaccards, 5):.2f}, median {np.median(jaccards):.2f}")
    all_texts = texts + planted_texts  # originals come first: they are the ones to keep
    truth = {len(texts) + k: i for k, i in enumerate(originals)}
    print("| ngram | bands x rows | threshold | verify | precision | recall | F1 | false pos |")
    print("|---|---|---|---|---|---|---|---|")
    signatures: dict[int, np.ndarray] = {}
    for ngram, bands, rows in GRID:
        if ngram not in signatures:
            hasher = MinHasher(NUM_PERM, ngram)
            signatures[ngram] = np.stack([hasher.text_signature(normalize(t)) for t in all_texts])
        sig = signatures[ngram][:, : bands * rows]
        cols = band_hashes(sig, bands, rows)
        threshold = (1 / bands) ** (1 / rows)
        for verify in (False, True):
            extra = {"signatures": lambda idx: sig[idx], "min_jaccard": threshold} if verify else {}
            rep = near_duplicate_clusters(lambda b: cols[:, b], len(all_texts), bands, **extra)
            p, r, f1, fp = _scores(rep, truth)
            print(f"| {ngram} | {bands} x {rows} | {threshold:.2f} | {'yes' if verify else 'no'} | "
                  f"{p:.3f} | {r:.3f} | {f1:.3f} | {fp} |")


def _scores(rep: np.ndarray, truth: dict[int, int]) -> tuple[float, float, float, int]:
    dropped = set(np.flatnonzero(rep != np.arange(len(rep))).tolist())
    correct = {c for c, o in truth.items() if c in dropped and rep[c] == rep[o]}
    precision = len(correct) / max(len(dropped), 1)
    recall = len(correct) / len(truth)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return precision, recall, f1, len(dropped - correct)


def bbc(data: Path, cfg) -> None:
    """Two truths: the dataset's same-title pairs (incomplete: retitled copies are not in it),
    and every pair whose exact 5-gram Jaccard reaches a cutoff, from all 2.5M pairs."""
    ids, texts = bbc_articles(data)
    index = {doc_id: k for k, doc_id in enumerate(ids)}
    pair_file = data / "bbc-news-summary" / "bbc_same_title_pairs.jsonl"
    pairs = [json.loads(line) for line in pair_file.open(encoding="utf-8")]
    jac = np.triu(jaccard_matrix(texts, 5), k=1)
    hasher = MinHasher(cfg.num_perm, cfg.ngram)
    sig = np.stack([hasher.text_signature(normalize(t)) for t in texts])
    cols = band_hashes(sig, cfg.bands, cfg.rows)
    print(f"\n## bbc-news-summary: {len(texts)} articles ({cfg.ngram}-grams, {cfg.bands} x {cfg.rows}, "
          f"threshold {cfg.threshold:.2f})")
    print("| verify | same-title exact | same-title near (J >= 0.5) | same-title near (J < 0.5) "
          "| truth J >= 0.5: pairs, P, R, F1 | truth J >= 0.8: pairs, P, R, F1 |")
    print("|---|---|---|---|---|---|")
    for verify in (False, True):
        extra = {"signatures": lambda idx: sig[idx], "min_jaccard": cfg.threshold} if verify else {}
        rep = near_duplicate_clusters(lambda b: cols[:, b], len(texts), cfg.bands, **extra)
        found = {"exact": [0, 0], "hi": [0, 0], "lo": [0, 0]}
        for p in pairs:
            a, b = index[p["id_a"]], index[p["id_b"]]
            kind = "exact" if p["relation"] == "exact" else ("hi" if p["jaccard_5gram"] >= 0.5 else "lo")
            found[kind][0] += rep[a] == rep[b]
            found[kind][1] += 1
        together = np.triu(rep[:, None] == rep[None, :], k=1)
        row = f"| {'yes' if verify else 'no'} |" + "".join(f" {x}/{n} |" for x, n in found.values())
        for cutoff in (0.5, 0.8):
            truth = jac >= cutoff
            tp = np.count_nonzero(together & truth)
            p, r = tp / max(np.count_nonzero(together), 1), tp / max(np.count_nonzero(truth), 1)
            row += f" {np.count_nonzero(truth)}, {p:.3f}, {r:.3f}, {2 * p * r / max(p + r, 1e-9):.3f} |"
        print(row)
        worst = [(float(jac[a, b]), ids[a], ids[b]) for a, b in zip(*np.nonzero(together & (jac < 0.5)))]
        for j, a, b in sorted(worst)[:3]:
            print(f"  clustered with J < 0.5: {a} ~ {b} (J {j:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("DANLU_SHARED_DATA", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=Path(default))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--copies", type=int, default=500)
    args = parser.parse_args()
    cfg = load_config(REPO / "params.yaml").curate.near_dedup
    corpora = load_corpora(args.data)
    rate = speed(corpora, cfg, args.repeats)
    planted(corpora, args.copies)
    bbc(args.data, cfg)
    print(f"minhash_docs_per_s_per_core={rate:.0f}")


if __name__ == "__main__":
    main()
