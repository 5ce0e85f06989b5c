"""HF datatrove doing curate's steps on a folder of WARCs; runs inside datatrove's own venv.

  WarcReader -> extractor -> GopherRepetition -> GopherQuality -> C4Quality (no terminal-
  punctuation rule) -> FineWebQuality -> JsonlWriter, then (unless --no-minhash) datatrove's four
  MinHash dedup stages on the kept documents, with curate's shape (5-grams, 16 bands x 8 rows).

Filters keep datatrove's defaults, as baselines.md measured them. There is no language filter:
datatrove's fastText model cannot be downloaded here. The extractor is `resiliparse` (a minimal
step: datatrove ships none; the same call as danlu's) or datatrove's default `trafilatura`.
Prints one JSON line: counts and seconds per stage. Started by curate_bench.py; by hand:

  DATATROVE_VENV/bin/python benchmarks/datatrove_pipeline.py --input DIR --work DIR
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import time

# Unused here on purpose: the forkserver loads this module, so every extractor sandbox (a fork
# per task) starts with its library loaded instead of importing it against datatrove's 1 s
# warm-up timeout, which a loaded 2-core machine can miss.
import resiliparse.extract.html2text  # noqa: F401
import trafilatura  # noqa: F401
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.extractors.base import BaseExtractor
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.readers import JsonlReader, WarcReader
from datatrove.pipeline.writers import JsonlWriter

# curate's near_dedup shape (params.yaml): 5-gram shingles, 16 bands x 8 rows.
MINHASH = MinhashConfig(n_grams=5, num_buckets=16, hashes_per_bucket=8)


class ResiliparseExtractor(BaseExtractor):
    """Resiliparse main-content extraction, the call danlu's curate makes."""

    name = "⛏ Resiliparse"
    _requires_dependencies = ["resiliparse"]

    def __init__(self, timeout: float = 1):
        super().__init__(timeout)

    def extract(self, text: str) -> str:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        return extract_plain_text(HTMLTree.parse(text), main_content=True).strip()


def extractor(name: str) -> BaseExtractor:
    # Trafilatura() with no arguments: datatrove's default (favour_precision, 1 s timeout).
    return ResiliparseExtractor() if name == "resiliparse" else Trafilatura()


def run(executor: LocalPipelineExecutor) -> float:
    start = time.perf_counter()
    executor.run()
    return time.perf_counter() - start


def count_jsonl(folder: str) -> int:
    total = 0
    for path in glob.glob(os.path.join(folder, "*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            total += sum(1 for _ in fh)
    return total


def step_counts(logging_dir: str) -> list[dict[str, int]]:
    """Each step's counters from the merged stats.json (a counter is a number or {"total": n})."""
    with open(os.path.join(logging_dir, "stats.json"), encoding="utf-8") as fh:
        steps = json.load(fh)
    return [
        {k: int(v["total"] if isinstance(v, dict) else v) for k, v in step["stats"].items()
         if isinstance(v, (int, float)) or (isinstance(v, dict) and "total" in v)}
        for step in steps
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="folder of .warc.gz files")
    parser.add_argument("--work", required=True, help="empty folder for outputs and logs")
    parser.add_argument("--extractor", choices=("resiliparse", "trafilatura"), default="resiliparse")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--no-minhash", action="store_true", help="stop after the filters")
    args = parser.parse_args()
    w, n = args.work, args.workers

    def executor(name: str, pipeline: list, tasks: int = n) -> LocalPipelineExecutor:
        return LocalPipelineExecutor(
            pipeline, tasks=tasks, workers=min(n, tasks), logging_dir=f"{w}/logs/{name}",
            skip_completed=False,
        )

    filtered, final = f"{w}/filtered", f"{w}/deduped"
    seconds = {"filters": run(executor("filters", [
        WarcReader(args.input, glob_pattern="*.warc.gz"),
        extractor(args.extractor),
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        JsonlWriter(filtered),
    ]))}
    reader, extract = step_counts(f"{w}/logs/filters")[:2]
    result = {
        "extractor": args.extractor,
        "workers": n,
        "read": reader.get("documents", 0),
        # documents the extractor lost: its timeouts, errors and crashed sandboxes
        "extract_failed": {k: extract[k] for k in ("timeout", "clean_error", "broken_process")
                           if extract.get(k)},
        "kept_filters": count_jsonl(filtered),
        "minhash": not args.no_minhash,
    }
    if not args.no_minhash and result["kept_filters"]:  # its readers fail on an empty folder
        sigs, buckets, remove = f"{w}/minhash/signatures", f"{w}/minhash/buckets", f"{w}/minhash/remove"
        seconds["minhash_signatures"] = run(executor("mh1", [
            JsonlReader(filtered), MinhashDedupSignature(sigs, config=MINHASH),
        ]))
        seconds["minhash_buckets"] = run(executor("mh2", [
            MinhashDedupBuckets(sigs, buckets, config=MINHASH),
        ], tasks=MINHASH.num_buckets))
        seconds["minhash_cluster"] = run(executor("mh3", [
            MinhashDedupCluster(buckets, remove, config=MINHASH),
        ], tasks=1))
        seconds["minhash_filter"] = run(executor("mh4", [
            JsonlReader(filtered), MinhashDedupFilter(remove), JsonlWriter(final),
        ]))
        result["kept"] = count_jsonl(final)
    else:
        result["kept"] = result["kept_filters"]
        result["minhash"] = False
    result["seconds"] = seconds
    print("DATATROVE_RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
