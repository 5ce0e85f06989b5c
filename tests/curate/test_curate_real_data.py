"""Curate on real crawl data from ../shared/data (skipped where the folder is absent)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from danlu.config import CurateConfig
from danlu.curate.run import curate


def test_real_common_crawl_and_wget_warcs(curate_cfg: CurateConfig, shared_data: Path, tmp_path: Path) -> None:
    inputs = {
        "commoncrawl": [shared_data / "resiliparse-warc"],
        "wget": [shared_data / "dolma-test-samples" / "warc"],
    }
    result = curate(curate_cfg, inputs, tmp_path / "out")
    stats = result.stats
    assert stats["sources"]["commoncrawl"]["documents_in"] == 16  # response records in the file
    assert stats["sources"]["wget"]["documents_in"] == 37
    assert stats["invariant"]["holds"]
    assert stats["kept"] + sum(stats["dropped"].values()) + sum(stats["quarantined"].values()) == 53

    # Mostly Chinese spam pages: language ID must see Chinese; keep=[en] drops them for it.
    assert stats["languages"]["zh"] >= 8
    dropped = pq.read_table(result.dropped).to_pandas()
    chinese = dropped[dropped.detail.str.startswith("zh (")]
    assert len(chinese) >= 8 and set(chinese.reason) == {"language"}
    assert set(chinese.source) == {"commoncrawl"}
    kept = pq.read_table(result.documents, columns=["source", "language", "url"]).to_pandas()
    # 26 since the C4/FineWeb rules: they drop 4 publication-list homepages (few sentences, few
    # lines ending in punctuation), which is what those rules are for.
    assert (kept.source == "wget").sum() >= 25 and set(kept.language) == {"en"}
    assert not kept.url.str.startswith("<").any()  # wget's <...> target URIs are unwrapped
