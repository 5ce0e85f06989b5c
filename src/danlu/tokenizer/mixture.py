"""The training mixture: how many copies of each document the train shards hold, so that each
source gets its target share of tokens.

A source whose target exceeds what it has is repeated in whole epochs, then a partial epoch;
one that has more than its target gives a seeded subset. The documents of a partial epoch are
the first ones in the order of a salted hash of (seed, id), taken while that brings the source
closer to its target, so the choice does not depend on the order the documents arrive in and
the realized tokens are within half a document of the target. Token counts include the BOS
before each document, as the shards hold them.

Weights are shares of the train split's tokens: every source in the documents must be named (a
weight of 0 drops a source on purpose; a missing one is an error, so nothing is dropped
silently), and the shares must sum to 1 (no normalising: {crawl: 0.7, reference: 0.7} is more
likely a typo than a ratio). No weights means the mixture as curated.

Validation is not mixed: it measures the model on the curated distribution, so runs with
different mixtures are compared on the same text; stats.json already reports validation per
source for anyone who wants a source's own figure.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from danlu.errors import DataError

# Float slack when checking that the weights sum to 1; they are then divided by their sum.
_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class DocumentTokens:
    id: str
    source: str
    tokens: int


@dataclass(frozen=True)
class SourcePlan:
    source: str
    documents: int
    tokens: int
    target_share: float
    target_tokens: int
    full_epochs: int
    partial_ids: tuple[str, ...]
    realized_documents: int
    realized_tokens: int

    @property
    def epochs(self) -> float:
        """Realized tokens over the tokens the source has."""
        return self.realized_tokens / self.tokens if self.tokens else 0.0


@dataclass(frozen=True)
class MixturePlan:
    """Copies per document id and the train stream's order (ids repeated, in writing order)."""

    as_curated: bool
    seed: int
    sources: dict[str, SourcePlan]
    copies: dict[str, int]
    order: tuple[str, ...]

    @property
    def realized_tokens(self) -> int:
        return sum(s.realized_tokens for s in self.sources.values())

    def report(self) -> dict:
        """The content of mixture.json."""
        realized = self.realized_tokens
        return {
            "as_curated": self.as_curated,
            "seed": self.seed,
            "tokens_available": sum(s.tokens for s in self.sources.values()),
            "tokens_target": sum(s.target_tokens for s in self.sources.values()),
            "tokens_realized": realized,
            "documents_realized": len(self.order),
            "sources": {
                name: {
                    "documents": s.documents,
                    "tokens_available": s.tokens,
                    "target_share": s.target_share,
                    "target_tokens": s.target_tokens,
                    "realized_documents": s.realized_documents,
                    "realized_tokens": s.realized_tokens,
                    "realized_share": s.realized_tokens / realized if realized else 0.0,
                    "full_epochs": s.full_epochs,
                    "epochs": s.epochs,
                }
                for name, s in self.sources.items()
            },
        }

    def markdown(self) -> str:
        """The report as a Markdown table, one row per source."""
        rows = [
            "| source | documents | tokens | target share | target tokens | realized tokens "
            "| realized share | epochs |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, r in self.report()["sources"].items():
            rows.append(
                f"| {name} | {r['documents']} | {r['tokens_available']} | {r['target_share']:.3f} "
                f"| {r['target_tokens']} | {r['realized_tokens']} | {r['realized_share']:.3f} "
                f"| {r['epochs']:.2f} |"
            )
        return "\n".join(rows)


def is_as_curated(weights: Mapping[str, float], total_tokens: int | None) -> bool:
    """No weights and no total: the train split is written as curated, nothing repeated."""
    return not weights and total_tokens is None


def _hash(seed: int, *parts: object) -> bytes:
    return hashlib.blake2b(":".join(map(str, (seed, *parts))).encode(), digest_size=8).digest()


def check_weights(weights: Mapping[str, float], sources: Iterable[str]) -> None:
    """Raise DataError unless the weights name exactly these sources, each >= 0, summing to 1."""
    if not weights:
        return
    present = sorted(set(sources))
    unknown = sorted(set(weights) - set(present))
    missing = sorted(set(present) - set(weights))
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"name sources with no training documents: {', '.join(unknown)}")
        if missing:
            problems.append(f"leave out sources: {', '.join(missing)} (give 0 to drop one)")
        raise DataError(
            f"tokenizer.mixture.weights {'; and '.join(problems)}; "
            f"the training documents have sources: {', '.join(present)}"
        )
    bad = {s: w for s, w in weights.items() if not (math.isfinite(w) and w >= 0)}
    if bad:
        raise DataError(f"tokenizer.mixture.weights must be finite and >= 0, got {bad}")
    weight_sum = sum(weights.values())
    if abs(weight_sum - 1) > _SUM_TOLERANCE:
        raise DataError(
            f"tokenizer.mixture.weights are shares of the training tokens and must sum to 1, "
            f"they sum to {weight_sum:g}: {dict(sorted(weights.items()))}"
        )


def _shares(weights: Mapping[str, float], tokens: Mapping[str, int]) -> dict[str, float]:
    """Target share per source: the weights, checked, or the curated shares when none."""
    if not weights:
        available = sum(tokens.values())
        return {s: tokens[s] / available for s in sorted(tokens)}
    check_weights(weights, tokens)
    empty = sorted(s for s, w in weights.items() if w > 0 and tokens[s] == 0)
    if empty:
        raise DataError(f"tokenizer.mixture.weights give a share to sources with 0 tokens: {empty}")
    weight_sum = sum(weights.values())
    return {s: weights[s] / weight_sum for s in sorted(tokens)}


def _source_plan(
    source: str, docs: list[DocumentTokens], share: float, target: int, seed: int
) -> SourcePlan:
    available = sum(d.tokens for d in docs)
    full_epochs, remainder = divmod(target, available) if available else (0, 0)
    partial: list[str] = []
    taken = 0
    for doc in sorted(docs, key=lambda d: (_hash(seed, "mixture", d.id), d.id)):
        if taken >= remainder:
            break
        # Stop at the document that crosses the target; keep it when that lands nearer.
        if taken + doc.tokens > remainder and taken + doc.tokens - remainder >= remainder - taken:
            break
        partial.append(doc.id)
        taken += doc.tokens
    return SourcePlan(
        source=source,
        documents=len(docs),
        tokens=available,
        target_share=share,
        target_tokens=target,
        full_epochs=full_epochs,
        partial_ids=tuple(partial),
        realized_documents=full_epochs * len(docs) + len(partial),
        realized_tokens=full_epochs * available + taken,
    )


def plan_mixture(
    docs: Iterable[DocumentTokens],
    weights: Mapping[str, float],
    total_tokens: int | None,
    seed: int,
) -> MixturePlan:
    """The train stream for these documents: each source gets share x total tokens.

    `total_tokens` None means the documents' own total. With no weights and no total the plan
    is the documents as given, in their order, once each; otherwise the stream is shuffled by
    a salted hash of (seed, id, copy), so copies of a document are spread apart."""
    docs = list(docs)
    if not docs:
        raise DataError("the mixture needs at least one training document")
    by_source: dict[str, list[DocumentTokens]] = defaultdict(list)
    for doc in docs:
        by_source[doc.source].append(doc)
    tokens = {s: sum(d.tokens for d in group) for s, group in by_source.items()}
    shares = _shares(weights, tokens)
    as_curated = is_as_curated(weights, total_tokens)
    total = sum(tokens.values()) if total_tokens is None else total_tokens

    sources: dict[str, SourcePlan] = {}
    copies: dict[str, int] = {}
    for source in sorted(by_source):
        group = by_source[source]
        target = sum(d.tokens for d in group) if as_curated else round(shares[source] * total)
        plan = _source_plan(source, group, shares[source], target, seed)
        sources[source] = plan
        copies.update({d.id: plan.full_epochs for d in group})
        for doc_id in plan.partial_ids:
            copies[doc_id] += 1
    if len(copies) != len(docs):
        raise DataError("the mixture's documents must have unique ids")

    if as_curated:
        order = tuple(d.id for d in docs)
    else:
        stream = [(doc_id, k) for doc_id, n in copies.items() for k in range(n)]
        stream.sort(key=lambda item: (_hash(seed, "order", *item), item))
        order = tuple(doc_id for doc_id, _ in stream)
    return MixturePlan(as_curated=as_curated, seed=seed, sources=sources, copies=copies, order=order)
