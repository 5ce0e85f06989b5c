"""The curate stage's entry: the validated config in, the curated corpus in outputs/curate and
its headline numbers out. The work itself is `run.curate` (explicit inputs and folder), which
`danlu curate --input ... --output ...` also calls."""

from __future__ import annotations

from danlu.config.curate import CurateConfig
from danlu.config.project import Config
from danlu.curate.run import curate
from danlu.tracking.outcome import StageOutcome
from danlu.tracking.tracker import Tracker


def settings(cfg: Config) -> CurateConfig:
    """cfg.curate with its file paths (the URL blocklist) resolved against the project root."""
    if cfg.curate.url_blocklist is None:
        return cfg.curate
    return cfg.curate.model_copy(update={"url_blocklist": str(cfg.path(cfg.curate.url_blocklist))})


def run(cfg: Config, tracker: Tracker) -> StageOutcome:
    inputs = {source: [cfg.path(p) for p in paths] for source, paths in cfg.curate.inputs.items()}
    result = curate(settings(cfg), inputs, cfg.out_dir("curate"), tracker=tracker)
    return StageOutcome(result.metrics())
