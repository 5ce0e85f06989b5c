"""Near-duplicate clusters from MinHash band hashes, one band in memory at a time.

Documents are numbered 0..n-1 in a stable global order (shard order, then position in the
shard). Two documents are candidates when any band hash matches; clusters are the connected
components of the candidate graph, and each document's representative is the smallest index in
its component. Components do not depend on the order in which bands or documents are visited,
so the kept documents are the same whatever the number of workers that produced the shards.

Memory: the caller hands over one band column (n uint64) at a time, read from the shards'
Parquet files; besides it only the union-find parent array (n int64) lives here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from danlu.errors import ConfigError, DataError

_U64 = np.uint64
_MIX_1, _MIX_2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_COMBINE = _U64(0x9E3779B97F4A7C15)
# Candidate pairs checked per batch when verifying: bounds the signature rows read at once.
_VERIFY_BATCH = 1 << 16

SignatureRows = Callable[[np.ndarray], np.ndarray]


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer."""
    h = (h ^ (h >> _U64(30))) * _MIX_1
    h = (h ^ (h >> _U64(27))) * _MIX_2
    return h ^ (h >> _U64(31))


def band_hashes(signature: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64 hash of each band of `rows` consecutive signature values: (num_perm,) -> (bands,),
    (n, num_perm) -> (n, bands). Any unsigned integer signature dtype; only the first
    bands * rows values are used."""
    sig = np.asarray(signature)
    if sig.shape[-1] < bands * rows:
        raise ConfigError(f"a signature of {sig.shape[-1]} values has no {bands} bands of {rows} rows")
    values = sig[..., : bands * rows].astype(_U64).reshape(*sig.shape[:-1], bands, rows)
    h = np.full(values.shape[:-1], _U64(rows), dtype=_U64)
    for r in range(rows):  # order-sensitive: a band is a sequence of values
        h = _mix(h * _COMBINE + values[..., r])
    return h


def _roots(parent: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Roots of `nodes`, compressing their paths. parent[i] <= i, so paths only go down."""
    roots = parent[nodes]
    while True:
        up = parent[roots]
        if np.array_equal(up, roots):
            break
        roots = up
    parent[nodes] = roots
    return roots


def _union(parent: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
    """Merge the components of each pair, always hanging the larger root under the smaller, so
    every root is the smallest index of its component."""
    while len(left):
        a, b = _roots(parent, left), _roots(parent, right)
        apart = a != b
        a, b, left, right = a[apart], b[apart], left[apart], right[apart]
        # Several pairs may name the same root: minimum.at keeps the smallest; the others are
        # seen again next round, now through that root.
        np.minimum.at(parent, np.maximum(a, b), np.minimum(a, b))


def candidate_pairs(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first, member) for every document whose band hash equals that of a smaller index;
    `first` is the smallest index with that hash."""
    if len(hashes) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    order = np.argsort(hashes, kind="stable")  # stable: indices ascend within equal hashes
    sorted_hashes = hashes[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_hashes[1:] != sorted_hashes[:-1])))
    run_first = np.repeat(order[starts], np.diff(np.append(starts, len(order))))
    member = order != run_first
    return run_first[member], order[member]


def near_duplicate_clusters(
    band_columns: Callable[[int], np.ndarray],
    n_docs: int,
    bands: int,
    *,
    signatures: SignatureRows | None = None,
    min_jaccard: float = 0.0,
) -> np.ndarray:
    """(n_docs,) int64: the representative (smallest index of its cluster) of each document,
    rep[i] == i for the documents to keep.

    With `signatures` (sorted int64 indices -> their signature rows), a candidate pair joins a
    cluster only when its estimated Jaccard reaches `min_jaccard`, which drops LSH's chance
    candidates below the threshold. Each member of a bucket is then checked against the
    bucket's first document and its predecessor in the bucket (2 checks, not all pairs, so a
    bucket of thousands of boilerplate pages stays linear), at most _VERIFY_BATCH pairs at once.
    """
    parent = np.arange(n_docs, dtype=np.int64)
    for band in range(bands):
        hashes = np.asarray(band_columns(band))
        if hashes.shape != (n_docs,):
            raise DataError(f"band column {band} has shape {hashes.shape}, expected ({n_docs},): "
                            "one uint64 per document")
        first, member = candidate_pairs(hashes)
        if signatures is None:
            _union(parent, first, member)
            continue
        previous = _previous_in_bucket(first, member)
        for left, right in ((first, member), (previous, member)):
            for start in range(0, len(left), _VERIFY_BATCH):
                a, b = left[start : start + _VERIFY_BATCH], right[start : start + _VERIFY_BATCH]
                keep = _similar(signatures, a, b, min_jaccard)
                _union(parent, a[keep], b[keep])
    return _roots(parent, np.arange(n_docs, dtype=np.int64))


def _previous_in_bucket(first: np.ndarray, member: np.ndarray) -> np.ndarray:
    """The member before each one in its bucket (its first for the bucket's second member);
    candidate_pairs lists a bucket's members together, in ascending index order."""
    previous = np.concatenate(([-1], member[:-1]))
    new_bucket = np.concatenate(([True], first[1:] != first[:-1]))
    return np.where(new_bucket, first, previous)


def _similar(signatures: SignatureRows, a: np.ndarray, b: np.ndarray, min_jaccard: float) -> np.ndarray:
    if len(a) == 0:
        return np.zeros(0, dtype=bool)
    needed = np.unique(np.concatenate((a, b)))
    rows = np.asarray(signatures(needed))
    sig_a, sig_b = rows[np.searchsorted(needed, a)], rows[np.searchsorted(needed, b)]
    return np.count_nonzero(sig_a == sig_b, axis=1) >= min_jaccard * rows.shape[1]
