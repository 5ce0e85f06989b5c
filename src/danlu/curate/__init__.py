"""The curate stage: raw web crawl and JSONL -> clean, deduplicated, validated documents."""

from danlu.curate.run import CurateResult, curate

__all__ = ["CurateResult", "curate"]
