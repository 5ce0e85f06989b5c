"""The curate stage: raw web crawl, JSONL, Parquet and datasets in; extracted, language-identified,
filtered, quality-scored and deduplicated documents out, every input accounted for (kept,
dropped with a reason, or quarantined) and the outputs gated by Great Expectations.

stage.py is the entry; run.py the work on explicit inputs and folder (shards.py, worker.py and
execute.py run the shards; corpus.py the steps over the whole corpus; steps.py their order)."""
