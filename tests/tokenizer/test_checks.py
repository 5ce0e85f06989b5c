"""The stage's outputs pass the shard checks, feed the loader in every mode and get a report:
what stage.py is to call on them (see check_shards and tokenizer_report)."""

from collections import defaultdict

import pytest
from tokenizers import Tokenizer

from danlu.config import MixtureConfig, TokenizerConfig
from danlu.errors import DataError
from danlu.tokens.loader import TokenLoader
from danlu.tokenizer.report import tokenizer_report
from danlu.tokens.shards import check_shards
from danlu.tokenizer.build import build_tokenizer, read_documents, split_documents

MIXES = {
    "as_curated": MixtureConfig(weights={}, total_tokens=None),
    "mixed": MixtureConfig(weights={"crawl": 0.3, "reference": 0.7}, total_tokens=30_000),
}


@pytest.fixture(scope="module", params=sorted(MIXES))
def stage(request, documents_dir, tmp_path_factory):
    cfg = TokenizerConfig(vocab_size=600, min_frequency=2, val_fraction=0.1, train_sample_bytes=None, mixture=MIXES[request.param])
    out = tmp_path_factory.mktemp(request.param) / "tokenizer-stage"
    return cfg, build_tokenizer(cfg, documents_dir, out, seed=3, shard_tokens=4000)


def test_stage_shards_pass_the_checks_and_match_stats(stage):
    _, result = stage
    stats = result.stats
    for split, paths in (("train", result.train_shards), ("val", result.val_shards)):
        summary = check_shards(paths, stats["vocab_size"], bos_id=stats["bos_id"],
                               documents=stats[split]["documents"], tokens=stats[split]["tokens"])
        assert summary.shards == len(paths)
    with pytest.raises(DataError, match="tokens"):
        check_shards(result.train_shards, stats["vocab_size"], tokens=stats["train"]["tokens"] + 1)


@pytest.mark.parametrize("mode", ["random", "bos", "sequential"])
def test_stage_shards_feed_the_loader(stage, mode):
    _, result = stage
    loader = TokenLoader(result.train_shards, 4, 32, seed=0, mode=mode)
    x, y = next(loader)
    assert x.shape == (4, 32) and int(x.max()) < result.stats["vocab_size"]
    if mode == "bos":
        assert (x[:, 0] == result.stats["bos_id"]).all()


def test_report_of_the_stage_matches_its_val_stats(stage, documents_dir):
    cfg, result = stage
    _, val = split_documents(read_documents(documents_dir), cfg.val_fraction, seed=3)
    held_out = defaultdict(list)
    for doc in val:
        held_out[doc.source].append(doc.text)
    tokenizer = Tokenizer.from_file(str(result.tokenizer_dir / "tokenizer.json"))
    report = tokenizer_report(tokenizer, held_out, result.stats["train_seconds"])
    for source, row in result.stats["val"]["sources"].items():
        mine = report["held_out"]["sources"][source]
        assert (mine["documents"], mine["bytes"], mine["tokens"]) == (
            row["documents"], row["bytes"], row["text_tokens"])
    assert report["vocabulary"]["size"] == result.stats["vocab_size"]
