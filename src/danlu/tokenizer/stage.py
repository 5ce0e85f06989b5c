"""The tokenizer stage's entry: curated documents in, the tokenizer, token shards and their
statistics in outputs/tokenizer out (the work itself is `build.build_tokenizer`)."""

from __future__ import annotations

from danlu.config.project import Config
from danlu.tokenizer.build import build_tokenizer
from danlu.tracking.outcome import StageOutcome
from danlu.tracking.tracker import Tracker


def run(cfg: Config, tracker: Tracker) -> StageOutcome:
    result = build_tokenizer(cfg.tokenizer, cfg.out_dir("curate") / "documents",
                             cfg.out_dir("tokenizer"), seed=cfg.seed, tracker=tracker)
    return StageOutcome(result.metrics(), {"encode_engine": result.stats["encode_engine"]})
