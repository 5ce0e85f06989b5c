"""GPT-3-style quality classifier (Brown et al. 2020, appendix A): logistic regression on hashed
word n-grams, curated reference text (positives) against raw crawl (negatives), and the three
ways of turning its score into a keep decision (threshold, DCLM's top fraction, GPT-3's Pareto).

Features are hashed with blake2b, never Python's salted `hash()`, so a saved model scores the
same text the same way in every process. The hashing is this module's own, not MinHash's: saved
weights are only valid for these exact hashes, and MinHash must stay free to change its own for
speed. Models are saved as a `.npy` array and a JSON file, never pickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import islice
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.special import expit
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import roc_auc_score

from danlu.atomic import atomic_write_bytes, atomic_write_json
from danlu.config import QualityConfig
from danlu.curate.words import split_words
from danlu.errors import DataError
from danlu.id_hash import unit_hash

FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.npy"
META_FILE = "quality_model.json"
_META_KEYS = ("ngram", "num_features", "bias", "weights_sha256", "report", "features_probe")
FEATURES = (
    "casefolded danlu.curate.words.split_words; blake2b-64 word hashes; word 1..ngram n-grams "
    "combined polynomially mod 2^64 and splitmix64-finalised, modulo num_features; "
    "log1p term frequency; L2-normalised rows"
)
# Order-sensitive combination of word hashes into an n-gram hash, then splitmix64's finalizer.
_BASE = np.uint64(0x9E3779B97F4A7C15)
_MIX_1, _MIX_2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
# Fewer documents than this in a class cannot give both a training and a held-out set worth
# reading; it is a sanity floor, not a tuning dial.
MIN_DOCS_PER_CLASS = 5
# Texts featurised at once: bounds temporary memory whatever the number of documents.
FEATURIZE_BATCH = 4096
# A fixed text whose features are stored with the model: a change in hashing or splitting
# would silently scramble a saved model's weights, so load refuses it instead.
_PROBE = "Quality probe: The quick brown fox, 敏捷的狐狸, jumps over the lazy dog's 2 fences."


@lru_cache(maxsize=1 << 20)  # words repeat across documents; the cache bounds time and memory
def _word_hash(word: str) -> int:
    digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8, person=b"danlu-quality")
    return int.from_bytes(digest.digest(), "little")


def ngram_hashes(text: str, ngram: int) -> np.ndarray:
    """uint64 hashes of every casefolded word 1..ngram-gram of `text`."""
    words = [w.casefold() for w in split_words(text)]
    w = np.fromiter((_word_hash(x) for x in words), dtype=np.uint64, count=len(words))
    parts = [np.empty(0, dtype=np.uint64)]
    with np.errstate(over="ignore"):  # wrapping uint64 arithmetic is the hash
        for n in range(1, min(ngram, len(w)) + 1):
            count = len(w) - n + 1
            h = np.zeros(count, dtype=np.uint64)
            for k in range(n):
                h = h * _BASE + w[k : k + count]
            parts.append(_splitmix(h))
    return np.concatenate(parts)


def _splitmix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: spreads the combined words' bits over all 64."""
    h = (h ^ (h >> np.uint64(30))) * _MIX_1
    h = (h ^ (h >> np.uint64(27))) * _MIX_2
    return h ^ (h >> np.uint64(31))


def featurize(texts: Sequence[str], ngram: int, num_features: int) -> sparse.csr_matrix:
    """(len(texts), num_features) CSR: log1p counts of hashed n-grams, each row of unit L2 norm."""
    hashes = [ngram_hashes(t, ngram) for t in texts]
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), [len(h) for h in hashes])
    flat = np.concatenate([np.empty(0, dtype=np.uint64), *hashes])
    cols = (flat % np.uint64(num_features)).astype(np.int64)
    cells, counts = np.unique(rows * num_features + cols, return_counts=True)
    row, col = cells // num_features, cells % num_features
    data = np.log1p(counts.astype(np.float64))
    norms = np.sqrt(np.bincount(row, weights=data * data, minlength=len(texts)))
    data /= norms[row]
    return sparse.csr_matrix((data, (row, col)), shape=(len(texts), num_features))


def _batches(texts: Iterable[str], size: int = FEATURIZE_BATCH) -> Iterator[list[str]]:
    """Lists of `size` texts: featurising keeps its temporary arrays to one batch."""
    texts = iter(texts)
    while batch := list(islice(texts, size)):
        yield batch


def _features_probe(ngram: int, num_features: int) -> str:
    x = featurize([_PROBE], ngram, num_features)
    return hashlib.sha256(x.indices.tobytes() + x.data.tobytes()).hexdigest()[:16]


class QualityModel:
    """P(reference-like) = sigmoid(w . features(text) + bias); only numpy is needed to score."""

    def __init__(self, weights: np.ndarray, bias: float, ngram: int, report: dict) -> None:
        self.weights = weights
        self.bias = bias
        self.ngram = ngram
        self.report = report

    @property
    def num_features(self) -> int:
        return len(self.weights)

    @classmethod
    def train(
        cls, positives: Sequence[str], negatives: Sequence[str], cfg: QualityConfig, seed: int
    ) -> tuple[QualityModel, dict]:
        """Fit on a seeded sample capped per class; ROC-AUC on a seeded, stratified held-out set."""
        _check_class_sizes(len(positives), len(negatives), cfg)
        rng = np.random.default_rng(seed)
        pos_train, pos_held = _split(_capped(positives, cfg.max_train_docs, rng), cfg, rng)
        neg_train, neg_held = _split(_capped(negatives, cfg.max_train_docs, rng), cfg, rng)
        start = time.perf_counter()
        x = sparse.vstack(
            [featurize(b, cfg.ngram, cfg.num_features) for b in _batches(pos_train + neg_train)],
            format="csr",
        )
        y = np.r_[np.ones(len(pos_train)), np.zeros(len(neg_train))]
        # Balanced classes: the score then does not depend on how many documents of each kind
        # happened to be in the training set, so threshold 0.5 means "as likely either way".
        fit = SGDClassifier(
            loss="log_loss", alpha=cfg.l2, max_iter=cfg.epochs, tol=None,
            class_weight="balanced", random_state=seed,
        ).fit(x, y)
        seconds = time.perf_counter() - start
        model = cls(fit.coef_[0].astype(np.float32), float(fit.intercept_[0]), cfg.ngram, {})
        held_scores = model.score(pos_held + neg_held)
        held_y = np.r_[np.ones(len(pos_held)), np.zeros(len(neg_held))]
        model.report = {
            "roc_auc": float(roc_auc_score(held_y, held_scores)),
            "n_train_pos": len(pos_train),
            "n_train_neg": len(neg_train),
            "n_heldout_pos": len(pos_held),
            "n_heldout_neg": len(neg_held),
            "train_seconds": round(seconds, 3),
        }
        return model, model.report

    def score(self, texts: Iterable[str], batch_size: int = FEATURIZE_BATCH) -> np.ndarray:
        """float64 P(positive) per text, featurised `batch_size` texts at a time."""
        weights = self.weights.astype(np.float64)
        out = [
            expit(featurize(batch, self.ngram, self.num_features) @ weights + self.bias)
            for batch in _batches(texts, batch_size)
        ]
        return np.concatenate(out) if out else np.empty(0, dtype=np.float64)

    def save(self, folder: Path) -> None:
        """Write weights.npy, then quality_model.json naming the weights' checksum (each atomic)."""
        buffer = io.BytesIO()
        np.save(buffer, self.weights, allow_pickle=False)
        atomic_write_bytes(Path(folder) / WEIGHTS_FILE, buffer.getvalue())
        atomic_write_json(Path(folder) / META_FILE, {
            "format_version": FORMAT_VERSION,
            "features": FEATURES,
            "features_probe": _features_probe(self.ngram, self.num_features),
            "ngram": self.ngram,
            "num_features": self.num_features,
            "bias": self.bias,
            "weights_sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
            "report": self.report,
        })

    @classmethod
    def load(cls, folder: Path) -> QualityModel:
        """The model saved in `folder`; DataError naming the file when anything does not match."""
        meta_path, weights_path = Path(folder) / META_FILE, Path(folder) / WEIGHTS_FILE
        meta = _read_meta(meta_path)
        raw = _read_bytes(weights_path)
        if hashlib.sha256(raw).hexdigest() != meta["weights_sha256"]:
            raise DataError(f"{weights_path}: checksum differs from the one in {meta_path}")
        weights = np.load(io.BytesIO(raw), allow_pickle=False)
        if weights.dtype != np.float32 or weights.shape != (meta["num_features"],):
            raise DataError(
                f"{weights_path}: expected float32 ({meta['num_features']},), "
                f"found {weights.dtype} {weights.shape}"
            )
        return cls(weights, float(meta["bias"]), int(meta["ngram"]), meta["report"])


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the quality model ({exc.strerror})") from exc


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(_read_bytes(path))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        found = meta.get("format_version") if isinstance(meta, dict) else None
        raise DataError(f"{path}: format_version {found!r}, expected {FORMAT_VERSION}")
    missing = set(_META_KEYS) - set(meta)
    if missing:
        raise DataError(f"{path}: missing keys {sorted(missing)}")
    if not all(isinstance(meta[k], int) and meta[k] > 0 for k in ("ngram", "num_features")):
        raise DataError(f"{path}: ngram and num_features must be positive integers")
    if meta["features_probe"] != _features_probe(meta["ngram"], meta["num_features"]):
        raise DataError(f"{path}: trained with a different feature hashing than this danlu's")
    return meta


def _check_class_sizes(n_pos: int, n_neg: int, cfg: QualityConfig) -> None:
    if min(n_pos, n_neg) < MIN_DOCS_PER_CLASS:
        raise DataError(
            f"quality classifier needs at least {MIN_DOCS_PER_CLASS} documents per class: "
            f"positives from {cfg.positive_sources} have {n_pos}, "
            f"negatives from {cfg.negative_sources} have {n_neg}"
        )


def _capped(texts: Sequence[str], cap: int, rng: np.random.Generator) -> list[str]:
    """At most `cap` texts, a seeded sample kept in input order."""
    if len(texts) <= cap:
        return list(texts)
    return [texts[i] for i in np.sort(rng.choice(len(texts), cap, replace=False))]


def _split(
    texts: list[str], cfg: QualityConfig, rng: np.random.Generator
) -> tuple[list[str], list[str]]:
    """(train, held-out); at least one of each, so every class is in both."""
    n_held = min(max(1, round(cfg.heldout_fraction * len(texts))), len(texts) - 1)
    order = rng.permutation(len(texts))
    held = set(order[:n_held].tolist())
    return (
        [t for i, t in enumerate(texts) if i not in held],
        [t for i, t in enumerate(texts) if i in held],
    )


def keep_mask(scores: np.ndarray, keys: Sequence[str], cfg: QualityConfig, seed: int) -> np.ndarray:
    """Which documents the quality score keeps, by cfg.keep; `keys` are document ids."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(keys) != len(scores):
        raise ValueError(f"{len(scores)} scores but {len(keys)} keys")
    if cfg.keep == "threshold":
        return scores >= cfg.threshold
    if cfg.keep == "top_fraction":
        return _top_fraction(scores, keys, cfg.top_fraction)
    return pareto_draws(keys, cfg.pareto_alpha, seed) > 1.0 - scores


def _top_fraction(scores: np.ndarray, keys: Sequence[str], fraction: float) -> np.ndarray:
    """The ceil(fraction * n) best scores (DCLM); equal scores are taken in key order."""
    # Float noise (0.3 * 10 = 3.0000000000000004) must not add a document.
    k = math.ceil(fraction * len(scores) - 1e-9)
    order = np.lexsort((np.asarray(keys, dtype=str), -scores))
    mask = np.zeros(len(scores), dtype=bool)
    mask[order[:k]] = True
    return mask


def pareto_draws(keys: Sequence[str], alpha: float, seed: int) -> np.ndarray:
    """One Lomax(alpha) draw per document, as numpy's `pareto(alpha)`, but a function of
    (seed, key) alone: a document gets the same draw however documents are ordered or split
    over workers. U = blake2b(seed, key) as 53 bits in [0, 1); X = (1 - U)^(-1/alpha) - 1.
    GPT-3 keeps a document when X > 1 - score: P(keep) = (2 - score)^-alpha.
    """
    u = np.array([unit_hash(seed, "quality-pareto " + key) for key in keys], dtype=np.float64)
    return (1.0 - u) ** (-1.0 / alpha) - 1.0


def train_or_load(
    cfg: QualityConfig, positives: Sequence[str], negatives: Sequence[str], seed: int,
    out_dir: Path | None,
) -> tuple[QualityModel, dict]:
    """cfg.model when set (with its saved report), else one trained now; saved to out_dir if set."""
    if cfg.model is not None:
        model = QualityModel.load(Path(cfg.model))
        report = model.report
    else:
        model, report = QualityModel.train(positives, negatives, cfg, seed)
    if out_dir is not None:
        model.save(out_dir)
    return model, report
