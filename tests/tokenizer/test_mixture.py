import json
import random
from collections import Counter

import pytest

from danlu.config import MixtureConfig, TokenizerConfig
from danlu.errors import DataError
from danlu.tokenizer.mixture import DocumentTokens, plan_mixture
from danlu.tokens.shards import open_shard
from danlu.tokenizer.build import build_tokenizer, read_documents, split_documents
from danlu.tracking.tracker import NullTracker


def corpus(sizes: dict[str, list[int]]) -> list[DocumentTokens]:
    return [DocumentTokens(f"{s}-{i:04d}", s, n) for s, ns in sizes.items() for i, n in enumerate(ns)]


def random_corpus(seed: int) -> list[DocumentTokens]:
    rng = random.Random(seed)
    return corpus({
        "crawl": [rng.randint(20, 900) for _ in range(300)],
        "books": [rng.randint(500, 5000) for _ in range(12)],
        "code": [rng.randint(5, 300) for _ in range(80)],
    })


def test_small_source_is_repeated_in_whole_epochs_and_large_one_subsampled():
    docs = corpus({"big": [100] * 30, "small": [100] * 10})
    plan = plan_mixture(docs, {"big": 0.25, "small": 0.75}, 4000, seed=0)
    small, big = plan.sources["small"], plan.sources["big"]
    assert (small.full_epochs, small.partial_ids, small.realized_tokens) == (3, (), 3000)
    assert all(plan.copies[d.id] == 3 for d in docs if d.source == "small")
    assert (big.full_epochs, len(big.partial_ids), big.realized_tokens) == (0, 10, 1000)
    assert sorted(Counter(plan.copies[d.id] for d in docs if d.source == "big").items()) == [(0, 20), (1, 10)]
    assert plan.report()["sources"]["small"]["epochs"] == 3.0
    assert plan.report()["sources"]["big"]["realized_share"] == 0.25


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("total", [None, 10_000, 2_000_000])
def test_realized_tokens_are_within_half_a_document_of_the_target(seed, total):
    docs = random_corpus(seed)
    weights = {"crawl": 0.5, "books": 0.3, "code": 0.2}
    plan = plan_mixture(docs, weights, total, seed=seed)
    total = total or sum(d.tokens for d in docs)
    for source, row in plan.sources.items():
        sizes = [d.tokens for d in docs if d.source == source]
        assert row.target_tokens == round(weights[source] * total)
        assert abs(row.realized_tokens - row.target_tokens) <= max(sizes) / 2
        held = sum(plan.copies[d.id] * d.tokens for d in docs if d.source == source)
        assert held == row.realized_tokens
        assert row.full_epochs == row.target_tokens // sum(sizes)
    assert Counter(plan.order) == +Counter(plan.copies)  # the stream holds every copy, nothing else


def test_plan_is_deterministic_and_independent_of_document_order():
    docs = random_corpus(1)
    weights = {"crawl": 0.2, "books": 0.2, "code": 0.6}
    plan = plan_mixture(docs, weights, None, seed=7)
    shuffled = docs[:]
    random.Random(3).shuffle(shuffled)
    again = plan_mixture(shuffled, weights, None, seed=7)
    assert again.order == plan.order
    assert again.copies == plan.copies
    assert again.report() == plan.report()
    other_seed = plan_mixture(docs, weights, None, seed=8)
    assert other_seed.sources["crawl"].partial_ids != plan.sources["crawl"].partial_ids


def test_copies_of_a_document_are_spread_through_the_stream():
    docs = corpus({"a": [10] * 50, "b": [10] * 10})
    plan = plan_mixture(docs, {"a": 0.5, "b": 0.5}, None, seed=0)  # b: 3 epochs
    assert plan.sources["b"].full_epochs == 3
    adjacent = sum(x == y for x, y in zip(plan.order, plan.order[1:]))
    assert adjacent <= 2
    positions = [i for i, doc_id in enumerate(plan.order) if doc_id == "b-0000"]
    assert len(positions) == 3 and positions[-1] - positions[0] > 3


def test_no_weights_keeps_the_documents_as_curated():
    docs = random_corpus(2)[::-1]
    plan = plan_mixture(docs, {}, None, seed=0)
    assert plan.as_curated
    assert plan.order == tuple(d.id for d in docs)
    assert set(plan.copies.values()) == {1}
    report = plan.report()
    assert report["tokens_realized"] == report["tokens_available"] == sum(d.tokens for d in docs)
    for row in report["sources"].values():
        assert row["target_share"] == row["realized_share"]
        assert row["epochs"] == 1.0


def test_no_weights_with_a_total_scales_the_curated_shares():
    docs = corpus({"a": [10] * 30, "b": [10] * 10})
    plan = plan_mixture(docs, {}, 800, seed=0)
    assert not plan.as_curated
    assert {s: r.realized_tokens for s, r in plan.sources.items()} == {"a": 600, "b": 200}


def test_weight_zero_drops_a_source_on_purpose():
    docs = corpus({"a": [10] * 5, "b": [10] * 5})
    plan = plan_mixture(docs, {"a": 1.0, "b": 0.0}, None, seed=0)
    assert plan.sources["b"].realized_tokens == 0
    assert plan.sources["a"].realized_tokens == 100
    assert all(not doc_id.startswith("b") for doc_id in plan.order)
    assert "| b | 5 | 50 | 0.000 | 0 | 0 | 0.000 | 0.00 |" in plan.markdown()


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"a": 0.5, "b": 0.3, "code": 0.2}, r"no training documents: code.*have sources: a, b"),
        ({"a": 1.0}, r"leave out sources: b .*give 0.*have sources: a, b"),
        ({"a": 1.2, "b": -0.2}, r"finite and >= 0.*'b': -0\.2"),
        ({"a": float("nan"), "b": 0.5}, r"finite"),
        ({"a": 0.7, "b": 0.7}, r"sum to 1, they sum to 1\.4"),
    ],
)
def test_bad_weights_are_named(weights, message):
    docs = corpus({"a": [10] * 5, "b": [10] * 5})
    with pytest.raises(DataError, match=message):
        plan_mixture(docs, weights, None, seed=0)


def test_a_share_for_a_source_without_tokens_is_an_error():
    docs = corpus({"a": [10] * 5, "b": [0, 0]})
    with pytest.raises(DataError, match=r"sources with 0 tokens: \['b'\]"):
        plan_mixture(docs, {"a": 0.5, "b": 0.5}, None, seed=0)


def test_duplicate_ids_and_empty_input_are_errors():
    with pytest.raises(DataError, match="unique ids"):
        plan_mixture([DocumentTokens("x", "a", 3)] * 2, {}, None, seed=0)
    with pytest.raises(DataError, match="at least one"):
        plan_mixture([], {}, None, seed=0)


# ---- the stage ------------------------------------------------------------------------------

def config(weights: dict[str, float], total: int | None = None) -> TokenizerConfig:
    return TokenizerConfig(vocab_size=600, min_frequency=2, val_fraction=0.1, train_sample_bytes=None,
                           mixture=MixtureConfig(weights=weights, total_tokens=total))


@pytest.fixture(scope="module")
def mixed(documents_dir, tmp_path_factory):
    """The stage as curated and with reference (a third of the documents) at 3/4 of the tokens."""
    base = tmp_path_factory.mktemp("mixture")
    plain = build_tokenizer(config({}), documents_dir, base / "plain", seed=5, shard_tokens=4000)
    tracker = NullTracker()
    result = build_tokenizer(config({"crawl": 0.25, "reference": 0.75}), documents_dir,
                             base / "mixed", seed=5, tracker=tracker, shard_tokens=4000)
    return plain, result, tracker


def test_stage_writes_mixture_json_matching_the_shards(mixed, documents_dir, hf_from):
    _, result, _ = mixed
    report = json.loads(result.mixture_path.read_text())
    assert report == result.mixture
    assert not report["as_curated"]
    assert report["sources"]["reference"]["full_epochs"] == 2  # 3/4 of the tokens from ~1/3
    assert report["sources"]["crawl"]["epochs"] < 1 < report["sources"]["reference"]["epochs"]

    train, _ = split_documents(read_documents(documents_dir), 0.1, seed=5)
    tokenizer = hf_from(result.tokenizer_dir)
    by_tokens = {tuple(tokenizer.encode(d.text, add_special_tokens=False)): d for d in train}
    assert len(by_tokens) == len(train)
    shards = [open_shard(p, check_ids=True) for p in result.train_shards]
    assert len(shards) > 1
    tokens: Counter[str] = Counter()
    copies: Counter[str] = Counter()
    for shard in shards:
        for i in range(shard.num_docs):
            doc = by_tokens[tuple(shard.document(i)[1:].tolist())]
            tokens[doc.source] += len(shard.document(i))
            copies[doc.id] += 1
    assert dict(tokens) == {s: r["realized_tokens"] for s, r in report["sources"].items()}
    assert sum(s.num_tokens for s in shards) == report["tokens_realized"] == result.stats["train"]["tokens"]
    assert sum(copies.values()) == report["documents_realized"] == result.stats["train"]["documents"]
    assert max(copies.values()) == 3
    stats_sources = result.stats["train"]["sources"]
    assert {s: r["documents"] for s, r in stats_sources.items()} == {
        s: r["realized_documents"] for s, r in report["sources"].items()
    }
    assert sorted(p.name for p in (result.out_dir / "shards").iterdir()) == sorted(
        p.name for p in result.train_shards + result.val_shards
    )
    assert not (result.out_dir / "unmixed").exists()


def test_stage_leaves_validation_and_tokenizer_as_curated(mixed):
    plain, result, _ = mixed
    assert plain.mixture["as_curated"] and result.mixture_path.is_file()
    assert (plain.tokenizer_dir / "tokenizer.json").read_bytes() == (result.tokenizer_dir / "tokenizer.json").read_bytes()
    assert [p.read_bytes() for p in plain.val_shards] == [p.read_bytes() for p in result.val_shards]
    assert plain.stats["val"] == result.stats["val"]
    assert plain.mixture["tokens_available"] == result.mixture["tokens_available"]
    assert plain.mixture["tokens_realized"] == plain.stats["train"]["tokens"]


def test_stage_logs_the_mixture(mixed):
    _, result, tracker = mixed
    assert tracker.dicts["tokenizer/mixture.json"] == result.mixture
    share = result.mixture["sources"]["reference"]["realized_share"]
    assert result.metrics()["mixture_share_reference"] == share
    assert abs(share - 0.75) < 0.01


def test_stage_names_bad_weights_before_writing(documents_dir, tmp_path):
    with pytest.raises(DataError, match=r"code.*have sources: crawl, reference"):
        build_tokenizer(config({"crawl": 0.5, "code": 0.5}), documents_dir, tmp_path / "out", seed=0)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.iterdir())
