"""CCNet-style line dedup: lines seen earlier in the corpus go, the rest of each page stays,
whatever the sharding; a page left with too little text is dropped with the reason."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from curate_fixtures import stdlib_texts, write_jsonl

from danlu.config import CurateConfig
from danlu.curate.run import curate
from danlu.curate.dedup import normalize, text_hash
from danlu.curate.line_dedup import NO_HASH, remove_units, repeated_units, split_units, unit_hashes

NAV = "Home | Products | Pricing | About us | Contact our friendly team today"
FOOTER = "Copyright 2024 Example Corporation. All rights reserved in every country."


def test_units_split_and_rejoin() -> None:
    text = "first line\nsecond line\n\nnew paragraph\nits second line"
    assert split_units(text, "line") == ["first line", "second line", "", "new paragraph",
                                         "its second line"]
    assert split_units(text, "paragraph") == ["first line\nsecond line", "new paragraph\nits second line"]
    assert remove_units(text, "paragraph", np.array([True, False])) == "new paragraph\nits second line"
    with pytest.raises(ValueError, match="3 flags for 2 paragraphs"):
        remove_units(text, "paragraph", np.zeros(3, dtype=bool))


def test_hashes_ignore_case_digits_and_punctuation_but_not_words() -> None:
    a, b, c, blank = unit_hashes("Copyright 2023, ACME Inc.\ncopyright 2024 acme inc\nACME Ltd\n  --  ",
                                 "line")
    assert a == b != c and NO_HASH not in (a, c)
    assert blank == NO_HASH  # no letters: never a repeat, never removed


def test_first_occurrence_in_global_order_stays() -> None:
    hashes = np.array([5, 7, 5, 9, 7, 7, NO_HASH, NO_HASH], dtype=np.uint64)
    assert repeated_units(hashes).tolist() == [False, False, True, False, True, True, False, False]


def pages(n: int) -> list[dict]:
    """Real prose wrapped in a site's navigation and footer; a last page made of the first
    lines of the first twenty others."""
    bodies = list(dict.fromkeys(stdlib_texts(400)))[:n]
    docs = [{"text": f"{NAV}\n{body}\n{FOOTER}"} for body in bodies]
    copied = "\n".join(body.split("\n")[0] for body in bodies[:20])
    docs.append({"text": f"{NAV}\n{copied}\nA short note of our own."})
    return docs


def settings(cfg: CurateConfig, **execution) -> CurateConfig:
    lines = cfg.line_dedup.model_copy(update={"enabled": True})
    near = cfg.near_dedup.model_copy(update={"enabled": False})  # the scraper page is no near copy
    return cfg.model_copy(update={"line_dedup": lines, "near_dedup": near,
                                  "execution": cfg.execution.model_copy(update=execution)})


@pytest.fixture(scope="module")
def runs(tmp_path_factory, repo_root: Path) -> dict:
    from danlu.config import load_config

    cfg = load_config(repo_root / "params.yaml").curate
    cfg = cfg.model_copy(update={"quality": cfg.quality.model_copy(update={"enabled": False})})
    folder = tmp_path_factory.mktemp("lines")
    docs = pages(40)
    inputs = {"site": [write_jsonl(folder / "site.jsonl", docs)]}
    one = curate(settings(cfg, workers=1), inputs, folder / "one")
    split = curate(settings(cfg, workers=2, shard_bytes=8_000), inputs, folder / "split")
    return {"docs": docs, "one": one, "split": split}


def test_repeated_lines_are_removed_after_their_first_page(runs) -> None:
    kept = pq.read_table(runs["one"].documents).to_pylist()
    texts = [d["text"] for d in kept]
    assert texts[0].startswith(NAV) and texts[0].endswith(FOOTER)
    assert not any(NAV in t or FOOTER in t for t in texts[1:])
    original = {line for d in runs["docs"] for line in d["text"].split("\n")}
    seen = set()
    for doc in kept:  # only lines of the input, none twice, columns that describe the new text
        lines = [line for line in doc["text"].split("\n") if normalize(line)]
        assert set(lines) <= original and not seen & {normalize(line) for line in lines}
        seen |= {normalize(line) for line in lines}
        assert doc["n_chars"] == len(doc["text"]) and doc["text_hash"] == text_hash(doc["text"])


def test_a_page_left_with_too_few_words_is_dropped_with_the_reason(runs) -> None:
    dropped = pq.read_table(runs["one"].dropped).to_pylist()
    scraper = [d for d in dropped if d["reason"] == "line_dedup"]
    assert len(scraper) == 1
    assert re.fullmatch(r"(\d+) of 22 lines seen earlier; \d+ words left", scraper[0]["detail"])


def test_stats_count_the_step_and_the_bytes_it_removed(runs) -> None:
    stats = runs["one"].stats
    step = next(s for s in stats["steps"] if s["step"] == "line_dedup")
    assert step["removed"] == {"line_dedup": 1} and step["out"] == stats["kept"]
    assert stats["line_dedup"]["documents_rewritten"] == stats["kept"] - 1
    per_page = len((NAV + "\n").encode()) + len(("\n" + FOOTER).encode())
    assert step["bytes_removed"] == stats["line_dedup"]["bytes_removed"]
    assert step["bytes_removed"] > per_page * stats["line_dedup"]["documents_rewritten"]


def test_the_same_output_whatever_the_shards_and_workers(runs) -> None:
    one, split = runs["one"], runs["split"]
    assert split.stats["shards"] > 1
    assert pq.read_table(one.documents).equals(pq.read_table(split.documents))
    drop = {k: v for k, v in one.stats.items() if k != "shards"}
    assert drop == {k: v for k, v in split.stats.items() if k != "shards"}
    assert json.loads(one.validation_path.read_text())["success"]
