"""The tokenizer stage's entry: curated documents in, the tokenizer, token shards and their
statistics in outputs/tokenizer out (the work itself is `build.build_tokenizer`)."""

from __future__ import annotations

from danlu.config.project import Config
from danlu.runners import choose_runner
from danlu.tokenizer.build import build_tokenizer
from danlu.tracking.outcome import StageOutcome
from danlu.tracking.tracker import Tracker


def run(cfg: Config, tracker: Tracker) -> StageOutcome:
    # curate's Dask cluster, when params name one, encodes too: where the work runs is not a
    # param of the outputs (the shards are the same bytes), so it is not in the fingerprint
    execution = cfg.curate.execution
    cluster = (lambda n_jobs: choose_runner(execution, n_jobs)) if execution.dask_address \
        else None
    result = build_tokenizer(cfg.tokenizer, cfg.out_dir("curate") / "documents",
                             cfg.out_dir("tokenizer"), seed=cfg.seed, tracker=tracker,
                             cluster_runner=cluster)
    return StageOutcome(result.metrics(), {"encode_engine": result.stats["encode_engine"]})
