"""Which steps a curate run takes, in order: the filters each shard applies to one document
at a time, then the steps over the whole corpus."""

from __future__ import annotations

import logging
from pathlib import Path

from danlu.config.curate import CurateConfig
from danlu.curate.filters import (
    DocumentFilter,
    EmptyText,
    UrlBlocklist,
    c4_filters,
    fineweb_filters,
    gopher_filters,
    link_filters,
    read_blocklist,
    repetition_filters,
)
from danlu.curate.langid import LanguageFilter
from danlu.curate.stats import EXACT_STEP, LINE_STEP, NEAR_STEP, QUALITY_STEP

log = logging.getLogger("danlu.curate")


def shard_filters(cfg: CurateConfig) -> list[DocumentFilter]:
    """The filters each shard applies to one document at a time: language before the rules
    that use it, then the heuristics cheapest first (a URL look-up, substrings, lines, word
    n-grams). Reads the URL blocklist, so a missing file fails before any input is read."""
    steps = [EmptyText(), LanguageFilter(cfg.language)]
    if cfg.filters.enabled:
        steps += gopher_filters(cfg.filters)
    if cfg.url_blocklist is not None:
        steps.append(UrlBlocklist(read_blocklist(Path(cfg.url_blocklist))))
    steps += [*link_filters(cfg.link_lists), *c4_filters(cfg.c4), *fineweb_filters(cfg.fineweb)]
    steps += repetition_filters(cfg.gopher_repetition)
    return steps


def corpus_steps(cfg: CurateConfig, sources: list[str]) -> list[str]:
    """The steps over the whole corpus, after the shards: quality, then dedup, so the copy of
    a duplicate that stays is one that passed everything else; line dedup last, so lines are
    not removed from a page only because an exact or near copy of it came first."""
    steps = [QUALITY_STEP] if _quality_applies(cfg, sources) else []
    if cfg.exact_dedup:
        steps.append(EXACT_STEP)
    if cfg.near_dedup.enabled:
        steps.append(NEAR_STEP)
    if cfg.line_dedup.enabled:
        steps.append(LINE_STEP)
    return steps


def _quality_applies(cfg: CurateConfig, sources: list[str]) -> bool:
    q = cfg.quality
    if not q.enabled or not set(q.apply_to) & set(sources):
        return False
    if q.model is not None:
        return True
    missing = [s for s in (*q.positive_sources, *q.negative_sources) if s not in sources]
    if missing:
        log.warning("curate quality: not applied; no classifier given (curate.quality.model) "
                    "and the inputs lack its training sources %s (inputs: %s)", missing, sources)
        return False
    return True
