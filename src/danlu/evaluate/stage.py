"""The evaluate stage's entry: the base model and the final chat model (after SFT and DPO), the
tokenizer's shards (for the unigram baseline) and the held-out sets in, the report card and
metrics in outputs/evaluate out."""

from __future__ import annotations

import json

from danlu.config.project import Config
from danlu.evaluate.run import evaluate
from danlu.tokens.shards import shard_paths, unigram_counts
from danlu.tracking.outcome import StageOutcome
from danlu.tracking.tracker import Tracker


def run(cfg: Config, tracker: Tracker) -> StageOutcome:
    tok_dir = cfg.out_dir("tokenizer")
    vocab = json.loads((tok_dir / "stats.json").read_text())["vocab_size"]
    counts = unigram_counts(shard_paths(tok_dir / "shards", "train"), vocab)
    result = evaluate(cfg.evaluate, cfg.out_dir("pretrain") / "model",
                      cfg.out_dir("dpo") / "model", counts, cfg.out_dir("evaluate"),
                      context_length=cfg.model.context_length, tracker=tracker, root=cfg.root)
    return StageOutcome(result.metrics())
