"""LSH clustering over band columns: planted clusters, transitivity, determinism whatever the
document order or shard split, verification by estimated Jaccard, and a 200k-document run."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from danlu.curate.lsh import band_hashes, candidate_pairs, near_duplicate_clusters
from danlu.curate.minhash import MinHasher
from danlu.errors import ConfigError, DataError

BANDS, ROWS = 16, 8


def columns_of(bands: np.ndarray):
    """band_columns over an in-memory (n, bands) matrix, as the stage reads Parquet columns."""
    return lambda b: np.ascontiguousarray(bands[:, b])


def planted_bands(rng: np.random.Generator, n: int, clusters: dict[int, list[int]]) -> np.ndarray:
    """Random band hashes; each member shares one random band with its cluster's first."""
    bands = rng.integers(0, 2**63, size=(n, BANDS), dtype=np.uint64)
    for first, members in clusters.items():
        for m in members:
            b = int(rng.integers(BANDS))
            bands[m, b] = bands[first, b]
    return bands


def test_band_hashes_shapes_and_determinism() -> None:
    sig = np.arange(128, dtype=np.uint32)
    one = band_hashes(sig, BANDS, ROWS)
    many = band_hashes(np.stack([sig, sig + 1]), BANDS, ROWS)
    assert one.dtype == np.uint64 and one.shape == (BANDS,) and many.shape == (2, BANDS)
    assert np.array_equal(many[0], one) and not np.any(many[1] == one)
    # A band hash depends on its values only: equal bands give equal hashes.
    other = sig.copy()
    other[ROWS:] += 7
    assert band_hashes(other, BANDS, ROWS)[0] == one[0]
    assert np.all(band_hashes(other, BANDS, ROWS)[1:] != one[1:])
    # The same values as uint64 give the same hashes: the dtype is not part of the hash.
    assert np.array_equal(band_hashes(sig.astype(np.uint64), BANDS, ROWS), one)
    with pytest.raises(ConfigError, match="no 16 bands of 9 rows"):
        band_hashes(sig, BANDS, 9)


def test_planted_clusters_are_found() -> None:
    rng = np.random.default_rng(0)
    clusters = {3: [10, 57, 99], 20: [21], 40: [80, 81]}
    bands = planted_bands(rng, 120, clusters)
    rep = near_duplicate_clusters(columns_of(bands), 120, BANDS)
    expected = np.arange(120)
    for first, members in clusters.items():
        expected[members] = first
    assert rep.dtype == np.int64 and np.array_equal(rep, expected)


def test_transitive_chain_is_one_cluster_with_the_smallest_index() -> None:
    rng = np.random.default_rng(1)
    bands = rng.integers(0, 2**63, size=(10, BANDS), dtype=np.uint64)
    # 8 ~ 5 in band 0, 5 ~ 2 in band 3, 2 ~ 7 in band 9: no band links 8 to 2 or 7 directly.
    bands[5, 0] = bands[8, 0]
    bands[2, 3] = bands[5, 3]
    bands[7, 9] = bands[2, 9]
    rep = near_duplicate_clusters(columns_of(bands), 10, BANDS)
    assert rep.tolist() == [0, 1, 2, 3, 4, 2, 6, 2, 2, 9]


def test_result_does_not_depend_on_band_order_or_shard_split() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    clusters = {
        f: rng.choice(np.arange(f + 1, n), size=3, replace=False).tolist() for f in range(0, 2000, 50)
    }
    bands = planted_bands(rng, n, clusters)
    expected = near_duplicate_clusters(columns_of(bands), n, BANDS)

    # Bands visited in another order: the same components.
    perm = rng.permutation(BANDS)
    assert np.array_equal(near_duplicate_clusters(columns_of(bands[:, perm]), n, BANDS), expected)

    # Band columns assembled from shards of different sizes (as 1 or 7 workers would write them).
    for cuts in ([], [100, 1500, 1501, 2900], sorted(rng.choice(n, 6, replace=False).tolist())):
        shards = np.split(bands, cuts)
        rep = near_duplicate_clusters(lambda b: np.concatenate([s[:, b] for s in shards]), n, BANDS)
        assert np.array_equal(rep, expected)


def test_representative_is_the_minimum_whatever_the_union_order() -> None:
    # Randomised relabelling: the same graph under a permuted numbering gives the component
    # minima of that numbering.
    rng = np.random.default_rng(3)
    n = 500
    bands = rng.integers(0, 2**63, size=(n, BANDS), dtype=np.uint64)
    for _ in range(300):  # random edges, forming chains and trees
        i, j, b = rng.integers(n), rng.integers(n), rng.integers(BANDS)
        bands[j, b] = bands[i, b]
    for _ in range(3):
        perm = rng.permutation(n)
        rep = near_duplicate_clusters(columns_of(bands[perm]), n, BANDS)
        assert np.all(rep <= np.arange(n)) and np.all(rep[rep] == rep)
        # Same partition as the unpermuted run, once mapped back.
        base = near_duplicate_clusters(columns_of(bands), n, BANDS)
        back = np.empty(n, dtype=np.int64)
        back[perm] = np.arange(n)  # back[original index] = permuted index
        same_cluster = base[:, None] == base[None, :]
        permuted_same = rep[back][:, None] == rep[back][None, :]
        assert np.array_equal(same_cluster, permuted_same)


def test_empty_input() -> None:
    rep = near_duplicate_clusters(lambda b: np.empty(0, dtype=np.uint64), 0, BANDS)
    assert rep.shape == (0,) and rep.dtype == np.int64
    assert candidate_pairs(np.empty(0, dtype=np.uint64))[0].shape == (0,)


def test_wrong_column_length_is_an_error() -> None:
    with pytest.raises(DataError, match="band column 0 has shape"):
        near_duplicate_clusters(lambda b: np.zeros(3, dtype=np.uint64), 4, BANDS)


def test_verification_drops_chance_candidates_and_keeps_true_ones() -> None:
    rng = random.Random(4)
    vocab = ["".join(rng.choices("abcdefghij", k=6)) for _ in range(3000)]
    base = [rng.choice(vocab) for _ in range(300)]
    near = list(base)
    near[150] = "changed"
    texts = [base, near, [rng.choice(vocab) for _ in range(300)]]
    hasher = MinHasher(BANDS * ROWS, 5)
    sigs = np.stack([hasher.signature(t) for t in texts])
    bands = band_hashes(sigs, BANDS, ROWS)
    bands[2, 5] = bands[0, 5]  # a chance collision: document 2 shares nothing else with 0
    read = []

    def rows(indices: np.ndarray) -> np.ndarray:
        read.append(indices.tolist())
        return sigs[indices]

    plain = near_duplicate_clusters(columns_of(bands), 3, BANDS)
    verified = near_duplicate_clusters(columns_of(bands), 3, BANDS, signatures=rows, min_jaccard=0.7)
    assert plain.tolist() == [0, 0, 0]
    assert verified.tolist() == [0, 0, 2]
    assert all(r == sorted(r) for r in read)  # indices are handed over sorted


def test_two_hundred_thousand_documents_stay_fast() -> None:
    rng = np.random.default_rng(5)
    n = 200_000
    bands = rng.integers(0, 2**63, size=(n, BANDS), dtype=np.uint64)
    # 10% of documents duplicate an earlier one in a random band, some in chains.
    dup = np.sort(rng.choice(np.arange(1, n), size=n // 10, replace=False))
    src = (dup * rng.random(len(dup))).astype(np.int64)
    band = rng.integers(BANDS, size=len(dup))
    for d, s, b in zip(dup, src, band):  # in index order, so a copied band keeps its chain
        bands[d, b] = bands[s, b]
    start = time.perf_counter()
    rep = near_duplicate_clusters(columns_of(bands), n, BANDS)
    elapsed = time.perf_counter() - start
    duplicates = np.count_nonzero(rep != np.arange(n))
    print(f"\n200k documents x {BANDS} bands: {elapsed:.2f} s, {duplicates} duplicates")
    assert np.all(rep[dup] <= src) and np.all(rep[rep] == rep)
