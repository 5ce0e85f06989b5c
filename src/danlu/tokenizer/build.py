"""The tokenizer stage: curated documents -> a trained BPE tokenizer and train/val token shards.

Output folder (written whole or not at all):
    tokenizer/              Hugging Face tokenizer folder (AutoTokenizer.from_pretrained)
    shards/train-00000.bin  token shards, format in danlu.tokens.shards; a new shard starts
    shards/val-00000.bin    after `shard_tokens` tokens
    stats.json              vocabulary, documents/tokens/bytes per split and per source, timings
    mixture.json            the train mixture per source: tokens available, target, realized
    report.json, report.md  bytes per token per source (validation text), vocabulary statistics

Documents go to validation by a salted hash of their id (seed, id), so the split does not
depend on file order and a document stays on its side when others are added. Token counts
named `tokens` include the BOS before each document (they match the shards); `text_tokens`,
`bytes_per_token` and `val_tokens` count only the text's tokens, as bits per byte needs.

The train shards follow `tokenizer.mixture` (danlu.tokenizer.mixture): the train split is
encoded once in id order, then, unless the mixture is as curated, rewritten with documents
repeated or left out and shuffled; stats.json's `train` counts what the shards hold. The BPE
is trained on the train split as curated, since the mixture is planned in its tokens.
Validation is never mixed.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from tokenizers import Tokenizer

from danlu.atomic import atomic_dir, atomic_write_json
from danlu.config.tokenizer import TokenizerConfig
from danlu.errors import DataError
from danlu.id_hash import split_by_id, unit_hash
from danlu.runners import ShardRunner
from danlu.tokens.chat import BOS
from danlu.tokenizer.mixture import (
    DocumentTokens,
    MixturePlan,
    check_weights,
    is_as_curated,
    plan_mixture,
)
from danlu.tokens.shards import VERSION as SHARD_FORMAT_VERSION
from danlu.tokenizer.encode import TextEncoder
from danlu.tokenizer.report import tokenizer_report, write_report
from danlu.tokens.shards import check_shards, open_shard, write_shards
from danlu.tokenizer.train import replace_lone_surrogates, save_tokenizer, train_bpe
from danlu.tracking.tracker import Tracker

log = logging.getLogger("danlu.tokenizer")

COLUMNS = ("id", "text", "source")
# Tokens per shard file before the next one starts: ~100 MB of uint16, easy to move and map.
SHARD_TOKENS = 50_000_000


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    source: str


@dataclass(frozen=True)
class TokenizerResult:
    out_dir: Path
    tokenizer_dir: Path
    train_shards: list[Path]
    val_shards: list[Path]
    stats_path: Path
    mixture_path: Path
    stats: dict = field(repr=False)
    mixture: dict = field(repr=False)

    def metrics(self) -> dict[str, float]:
        """The headline numbers, flat, for the tracker."""
        s = self.stats
        flat = {
            "vocab_size": s["vocab_size"],
            "train_seconds": s["train_seconds"],
            "encode_seconds": s["encode_seconds"],
        }
        for split in ("train", "val"):
            for key in ("documents", "tokens", "bytes", "bytes_per_token"):
                flat[f"{split}_{key}"] = s[split][key]
        for source, row in s["val"]["sources"].items():
            flat[f"val_bytes_per_token_{source}"] = row["bytes_per_token"]
        for source, row in self.mixture["sources"].items():
            flat[f"mixture_share_{source}"] = row["realized_share"]
            flat[f"mixture_epochs_{source}"] = row["epochs"]
        return {k: float(v) for k, v in flat.items()}


def _check(tokenizer: Tokenizer, *splits: tuple[dict, list[Path]]) -> None:
    """Every id below the vocabulary, no empty shard, counts equal to what was encoded; a
    failure names the shard (before anything is accepted)."""
    for split_stats, paths in splits:
        check_shards(paths, tokenizer.get_vocab_size(), bos_id=tokenizer.token_to_id(BOS),
                     documents=split_stats["documents"], tokens=split_stats["tokens"])


def _report(tokenizer: Tokenizer, val_docs: list[Document], train_seconds: float, folder: Path) -> dict:
    """report.json / report.md: bytes per token per source on the validation documents,
    vocabulary statistics, training time."""
    held_out: dict[str, list[str]] = defaultdict(list)
    for doc in val_docs:
        held_out[doc.source].append(doc.text)
    report = tokenizer_report(tokenizer, held_out, train_seconds)
    write_report(report, folder)
    return report


def read_documents(documents_dir: Path) -> list[Document]:
    """All documents of `documents_dir/*.parquet`, sorted by id; ids must be unique."""
    documents_dir = Path(documents_dir)
    files = sorted(documents_dir.glob("*.parquet")) if documents_dir.is_dir() else []
    if not files:
        raise DataError(f"{documents_dir}: no *.parquet documents; run the curate stage first")
    docs: dict[str, Document] = {}
    for path in files:
        try:
            table = pq.read_table(path, columns=list(COLUMNS))
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{path}: cannot read columns {', '.join(COLUMNS)} ({exc})") from None
        columns = (table.column(c).to_pylist() for c in COLUMNS)
        for row, (doc_id, text, source) in enumerate(zip(*columns)):
            if doc_id is None or source is None or not isinstance(text, str):
                raise DataError(f"{path}: row {row} needs an id, a source and a string text")
            doc_id = str(doc_id)
            if doc_id in docs:
                raise DataError(f"{path}: document id {doc_id!r} appears twice")
            docs[doc_id] = Document(doc_id, replace_lone_surrogates(text), str(source))
    if not docs:
        raise DataError(f"{documents_dir}: the parquet files hold no documents")
    return [docs[k] for k in sorted(docs)]


def split_documents(
    docs: Sequence[Document], val_fraction: float, seed: int
) -> tuple[list[Document], list[Document]]:
    """(train, val) by hash of (seed, id); each side keeps at least one document."""
    if len(docs) < 2:
        raise DataError(f"the tokenizer stage needs at least 2 documents, got {len(docs)}")
    return split_by_id(docs, lambda d: d.id, val_fraction, seed)


def training_sample(docs: Sequence[Document], max_bytes: int | None, seed: int) -> list[Document]:
    """The documents the BPE learns from: all, or the first by hash of (seed, id) until
    `max_bytes` of text, in their given order. The choice does not depend on document order,
    and growing the corpus only adds documents whose hash falls before the cut."""
    if max_bytes is None:
        return list(docs)
    chosen, total = set(), 0
    for doc in sorted(docs, key=lambda d: unit_hash(seed, "bpe-sample " + d.id)):
        if total >= max_bytes:
            break
        chosen.add(doc.id)
        total += len(doc.text.encode("utf-8", errors="replace"))
    return [d for d in docs if d.id in chosen]


@dataclass(frozen=True)
class Cluster:
    """Where encoding jobs run instead of this machine's cores (danlu.tokenizer.encode_jobs):
    a runner for n jobs, and the scratch folder every worker sees."""
    runner: Callable[[int], ShardRunner]
    scratch: Path


def _encode(
    encoder: TextEncoder, docs: Sequence[Document], folder: Path, prefix: str, shard_tokens: int,
    cluster: Cluster | None = None,
) -> tuple[list[Path], list[int]]:
    """Write the documents' shards in order, encoded on every core (danlu.tokenizer.encode) or
    by the cluster's jobs; return them and each document's text tokens."""
    counts: list[int] = []
    texts = [d.text for d in docs]  # a list: the encoder's forked workers read it from memory

    def encoded() -> Iterator[np.ndarray]:
        if cluster is None:
            return encoder.encode_texts(texts)
        from danlu.tokenizer.encode_jobs import CHUNK_BYTES, encode_on

        n_jobs = max(1, sum(map(len, texts)) // CHUNK_BYTES + 1)
        return encode_on(cluster.runner(n_jobs), texts, cluster.scratch,
                         cluster.scratch.parent / "tokenizer" / "tokenizer.json", prefix)

    def counted() -> Iterator[np.ndarray]:
        for ids in encoded():
            counts.append(len(ids))
            yield ids

    paths = write_shards(
        folder, prefix, counted(), encoder.vocab_size,
        bos_id=encoder.tokenizer.token_to_id(BOS), max_tokens=shard_tokens,
    )
    return paths, counts


def _write_mixed(
    tokenizer: Tokenizer, unmixed: list[Path], docs: Sequence[Document], plan: MixturePlan,
    folder: Path, shard_tokens: int,
) -> list[Path]:
    """Rewrite the train shards (`docs` in order) as the plan's stream."""
    shards = [open_shard(p) for p in unmixed]
    places = [(shard, i) for shard in shards for i in range(shard.num_docs)]
    where = {doc.id: place for doc, place in zip(docs, places, strict=True)}
    stream = (shard.document(i)[1:] for shard, i in (where[doc_id] for doc_id in plan.order))
    return write_shards(
        folder, "train", stream, tokenizer.get_vocab_size(),
        bos_id=tokenizer.token_to_id(BOS), max_tokens=shard_tokens,
    )


def _split_stats(
    docs: Sequence[Document], counts: Sequence[int], paths: list[Path],
    copies: dict[str, int] | None = None,
) -> dict:
    """A split's statistics; `copies` counts each document as often as the shards hold it."""
    per_source: dict[str, dict[str, int]] = defaultdict(
        lambda: {"documents": 0, "text_tokens": 0, "bytes": 0}
    )
    for doc, count in zip(docs, counts, strict=True):
        times = 1 if copies is None else copies[doc.id]
        if times:
            row = per_source[doc.source]
            row["documents"] += times
            row["text_tokens"] += times * count
            row["bytes"] += times * len(doc.text.encode("utf-8"))
    stats = _summary(per_source.values())
    stats["tokens"] = stats["text_tokens"] + stats["documents"]  # one BOS each
    stats["shards"] = [p.name for p in paths]
    stats["sources"] = {name: _summary([row]) for name, row in sorted(per_source.items())}
    return stats


def _summary(rows: Iterable[dict[str, int]]) -> dict:
    rows = list(rows)
    documents = sum(r["documents"] for r in rows)
    tokens = sum(r["text_tokens"] for r in rows)
    size = sum(r["bytes"] for r in rows)
    return {
        "documents": documents,
        "text_tokens": tokens,
        "bytes": size,
        "bytes_per_token": size / tokens if tokens else 0.0,
    }


def _settings(cfg: TokenizerConfig, seed: int, tokenizer: Tokenizer) -> dict:
    """What made the shards, at the head of stats.json."""
    return {"vocab_size": tokenizer.get_vocab_size(), "vocab_size_requested": cfg.vocab_size,
            "min_frequency": cfg.min_frequency, "val_fraction": cfg.val_fraction, "seed": seed,
            "bos_id": tokenizer.token_to_id(BOS), "shard_format_version": SHARD_FORMAT_VERSION}


def _encode_train(encoder: TextEncoder, tokenizer: Tokenizer, train_docs: list[Document],
                  cfg: TokenizerConfig, seed: int, tmp: Path, shard_tokens: int,
                  cluster: Cluster | None):
    """The train split into shards/, mixed by cfg.mixture; -> (paths, stats, mixture plan).
    Mixed shards are written from an unmixed copy, so each document is encoded once."""
    shards, mix = tmp / "shards", cfg.mixture
    unmixed = shards if is_as_curated(mix.weights, mix.total_tokens) else tmp / "unmixed"
    paths, counts = _encode(encoder, train_docs, unmixed, "train", shard_tokens, cluster)
    plan = plan_mixture(
        (DocumentTokens(d.id, d.source, n + 1) for d, n in zip(train_docs, counts)),
        mix.weights, mix.total_tokens, seed,
    )
    if not plan.as_curated:
        paths = _write_mixed(tokenizer, paths, train_docs, plan, shards, shard_tokens)
        shutil.rmtree(unmixed)
    return paths, _split_stats(train_docs, counts, paths, plan.copies), plan


def build_tokenizer(
    cfg: TokenizerConfig,
    documents_dir: Path,
    out_dir: Path,
    *,
    seed: int,
    tracker: Tracker | None = None,
    model_max_length: int | None = None,
    shard_tokens: int = SHARD_TOKENS,
    cluster_runner: Callable[[int], ShardRunner] | None = None,
) -> TokenizerResult:
    """Train the tokenizer on the train split and write it, the shards and stats.json to out_dir.
    With `cluster_runner` (n jobs -> a runner: a Dask cluster, Prefect tasks on one) the
    documents are encoded there, into the same shards."""
    out_dir = Path(out_dir)
    docs = read_documents(documents_dir)
    train_docs, val_docs = split_documents(docs, cfg.val_fraction, seed)
    log.info("tokenizer: %d documents, %d train, %d val", len(docs), len(train_docs), len(val_docs))
    check_weights(cfg.mixture.weights, (d.source for d in train_docs))  # before the long part

    started = time.perf_counter()
    sample = training_sample(train_docs, cfg.train_sample_bytes, seed)
    tokenizer = train_bpe(
        (d.text for d in sample), cfg.vocab_size, cfg.min_frequency, length=len(sample)
    )
    train_seconds = time.perf_counter() - started
    vocab_size = tokenizer.get_vocab_size()
    log.info("tokenizer: trained %d tokens in %.1f s", vocab_size, train_seconds)

    with atomic_dir(out_dir) as tmp:
        save_tokenizer(tokenizer, tmp / "tokenizer", model_max_length=model_max_length)
        started = time.perf_counter()
        encoder = TextEncoder(tokenizer)
        cluster = Cluster(cluster_runner, tmp / ".encode") if cluster_runner else None
        train_paths, train_stats, plan = _encode_train(encoder, tokenizer, train_docs, cfg, seed,
                                                       tmp, shard_tokens, cluster)
        val_paths, val_counts = _encode(encoder, val_docs, tmp / "shards", "val", shard_tokens,
                                        cluster)
        if cluster is not None:
            shutil.rmtree(cluster.scratch)
        val_stats = _split_stats(val_docs, val_counts, val_paths)
        encode_seconds = time.perf_counter() - started
        _check(tokenizer, (train_stats, train_paths), (val_stats, val_paths))
        report = _report(tokenizer, val_docs, train_seconds, tmp)
        stats = {
            **_settings(cfg, seed, tokenizer), "documents": len(docs),
            "train": train_stats, "val": val_stats,
            "val_bytes": val_stats["bytes"], "val_tokens": val_stats["text_tokens"],
            "train_seconds": round(train_seconds, 3),
            "bpe_sample": {"documents": len(sample),
                           "bytes": sum(len(d.text.encode("utf-8", errors="replace")) for d in sample)},
            "encode_seconds": round(encode_seconds, 3), "encode_engine": encoder.engine,
        }
        atomic_write_json(tmp / "stats.json", stats)
        mixture = plan.report()
        atomic_write_json(tmp / "mixture.json", mixture)

    result = TokenizerResult(
        out_dir=out_dir,
        tokenizer_dir=out_dir / "tokenizer",
        train_shards=[out_dir / "shards" / p.name for p in train_paths],
        val_shards=[out_dir / "shards" / p.name for p in val_paths],
        stats_path=out_dir / "stats.json",
        mixture_path=out_dir / "mixture.json",
        stats=stats,
        mixture=mixture,
    )
    log.info(
        "tokenizer: %d train, %d val tokens; %.2f train, %.2f val bytes per token",
        train_stats["tokens"], val_stats["tokens"],
        train_stats["bytes_per_token"], val_stats["bytes_per_token"],
    )
    log.info("tokenizer: train mixture%s\n%s", " (as curated)" if plan.as_curated else "",
             plan.markdown())
    if tracker is not None:  # the runner logs the params and metrics
        tracker.log_dict(stats, "tokenizer/stats.json")
        tracker.log_dict(mixture, "tokenizer/mixture.json")
        tracker.log_dict(report, "tokenizer/report.json")
        tracker.log_artifact(result.tokenizer_dir, "tokenizer")
    return result
