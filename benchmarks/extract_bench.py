"""HTML -> main text: danlu's extractors (resiliparse as the curate stage calls it, and danlu's
block classifier) against trafilatura.

Quality and speed on the same pages, in one run:
  trafilatura-eval             snippet precision/recall (trafilatura's own eval rule)
  article-extraction-benchmark token precision/recall against the gold article body
Every engine is scored on the held-out half of each set only (`block_train.is_held_out`): the
block classifier was trained on the other half, and is never scored on its own training pages.

Pages are read and decoded once (danlu's `decode`, as the stage does) before any timing; pages/s
times only the extraction call, one process.

  .venv/bin/python benchmarks/extract_bench.py [--data ../shared/data] [--limit N]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import trafilatura
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

from danlu.config import load_config
from danlu.block_train import GoldPage, load_aeb, load_trafilatura_eval
from danlu.curate.blocks import c_scanner, extract_main_text
from danlu.extraction_metrics import Counts, macro_micro, snippet_counts, token_overlap

REPO = Path(__file__).resolve().parents[1]
Extractor = Callable[[str], "str | None"]


def extractors(main_content: bool) -> dict[str, Extractor]:
    def resiliparse(html: str, alt_texts: bool = False) -> str:
        # Exactly the stage's call (danlu.curate.extract.extract), minus decoding done up front.
        tree = HTMLTree.parse(html)
        text = extract_plain_text(tree, main_content=main_content, alt_texts=alt_texts)
        return text.lstrip("\ufeff").strip()

    return {
        "resiliparse (danlu)": resiliparse,
        # resiliparse's own default keeps alt texts; the baselines table was measured that way.
        "resiliparse alt_texts": lambda html: resiliparse(html, alt_texts=True),
        "danlu blocks": extract_main_text,
        "trafilatura": lambda html: trafilatura.extract(html),
        "trafilatura precision": lambda html: trafilatura.extract(html, favor_precision=True),
    }


def run_timed(extract: Extractor, pages: list[str]) -> tuple[list[str | None], float]:
    """Outputs and pages/s, timing only the extraction calls."""
    outputs, seconds = [], 0.0
    for html in pages:
        start = time.perf_counter()
        outputs.append(extract(html))
        seconds += time.perf_counter() - start
    return outputs, len(pages) / seconds if seconds else float("inf")


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n## {title}")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [f"{c:.3f}" if isinstance(c, float) else str(c) for c in row]
        print("| " + " | ".join(cells) + " |")


def held_out(pages: list[GoldPage]) -> list[GoldPage]:
    return [p for p in pages if p.held_out]


def bench_trafilatura_eval(root: Path, limit: int | None,
                           extract_fns: dict[str, Extractor]) -> dict[str, tuple[float, float]]:
    """Each extractor's (snippet F1, pages/s)."""
    golds = held_out(load_trafilatura_eval(root, limit))
    pages = [g.html for g in golds]
    n_with = sum(len(g.with_) for g in golds)
    n_without = sum(len(g.without) for g in golds)
    rows, f1s = [], {}
    for name, fn in extract_fns.items():
        outputs, speed = run_timed(fn, pages)
        norm, exact = Counts(), Counts()
        for text, gold in zip(outputs, golds):
            norm.add(snippet_counts(text, gold.with_, gold.without))
            exact.add(snippet_counts(text, gold.with_, gold.without, normalise=False))
        p, r, f1 = norm.prf()
        empty = sum(not t for t in outputs)
        rows.append([name, p, r, f1, exact.prf()[2], empty, f"{speed:.1f}"])
        f1s[name] = (f1, speed)
    title = f"trafilatura-eval: {len(pages)} held-out pages, {n_with} with / {n_without} without snippets"
    header = ["extractor", "precision", "recall", "F1", "F1 exact-ws", "empty", "pages/s"]
    print_table(title, header, rows)
    return f1s


def bench_aeb(root: Path, limit: int | None, extract_fns: dict[str, Extractor]) -> dict[str, tuple[float, float]]:
    """Each extractor's (mean token F1, pages/s)."""
    golds = held_out(load_aeb(root, limit))
    pages, bodies = [g.html for g in golds], [g.body for g in golds]
    rows, f1s = [], {}
    for name, fn in extract_fns.items():
        outputs, speed = run_timed(fn, pages)
        (p, r, f1), (mp, mr, mf1) = macro_micro([token_overlap(t, b) for t, b in zip(outputs, bodies)])
        rows.append([name, p, r, f1, mp, mr, mf1, f"{speed:.1f}"])
        f1s[name] = (f1, speed)
    title = f"article-extraction-benchmark: {len(pages)} held-out pages, token P/R/F1 (macro over pages; micro pooled)"
    header = ["extractor", "P", "R", "F1", "micro P", "micro R", "micro F1", "pages/s"]
    print_table(title, header, rows)
    return f1s


def main(argv: list[str] | None = None) -> None:
    default_data = os.environ.get("DANLU_SHARED_DATA", str(REPO.parent / "shared" / "data"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(default_data), help="the shared datasets folder")
    parser.add_argument("--limit", type=int, default=None, help="first N pages of each dataset")
    args = parser.parse_args(argv)
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)  # per-page "discarding" chatter

    cfg = load_config(REPO / "params.yaml").curate.extract
    extract_fns = extractors(cfg.main_content)
    best = {
        "trafilatura-eval": bench_trafilatura_eval(args.data / "trafilatura-eval", args.limit, extract_fns),
        "aeb": bench_aeb(args.data / "article-extraction-benchmark", args.limit, extract_fns),
    }
    summary = []
    print("\ndanlu blocks ran " + ("in C (the _blockscan extension)" if c_scanner() else
                                  "in Python: the _blockscan extension is not built"))
    for dataset, scores in best.items():
        danlu, trafilatura = scores["danlu blocks"], scores["trafilatura"]
        print(f"{dataset}: danlu blocks F1 {danlu[0]:.3f} vs trafilatura {trafilatura[0]:.3f}, "
              f"{danlu[1] / trafilatura[1]:.1f}x its pages/s")
        name = max(scores, key=lambda n: scores[n][0])
        summary.append(f"{dataset}/{name.replace(' ', '_')}:{scores[name][0]:.3f}")
    print("\nextract_best_f1=" + ",".join(summary))


if __name__ == "__main__":
    main()
