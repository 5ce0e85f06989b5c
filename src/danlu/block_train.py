"""Train danlu's block classifier (`danlu.curate.blocks`) on gold pages, with a held-out split.

Two gold sets (in ../shared/data; see its README for licences):
  trafilatura-eval              990 pages, each with snippets that must / must not be extracted
  article-extraction-benchmark  181 pages, each with its article body
A page belongs to the training half or the held-out half by a hash of its URL (or id), so the
split is the same on every machine; `benchmarks/extract_bench.py` scores the held-out half only.

  python -m danlu.block_train --data ../shared/data [--out src/danlu/curate/block_model.json]

Labels: a block is main text (1) when it holds a "with" snippet or lies inside the article body,
boilerplate (0) when it holds a "without" snippet or shares few words with the body; blocks of
trafilatura-eval pages that hold no snippet are not used.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from resiliparse.parse.html import HTMLTree

from danlu.curate.blocks import FEATURES, MODEL_FILE, Block, BlockModel, blocks, features, joined, render
from danlu.curate.extract import decode
from danlu.extraction_metrics import Counts, macro_micro, snippet_counts, token_overlap

THRESHOLDS = np.round(np.arange(0.30, 0.71, 0.05), 2)  # tried by cross-validation
FOLDS = 10

_WS = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


@dataclass
class GoldPage:
    dataset: str  # "trafilatura-eval" or "aeb"
    key: str  # URL or page id
    html: str
    with_: list[str]  # trafilatura-eval snippets (empty for aeb)
    without: list[str]
    body: str  # aeb article body ("" for trafilatura-eval)

    @property
    def held_out(self) -> bool:
        return is_held_out(self.key)


def is_held_out(key: str) -> bool:
    """Half of the pages, by a stable hash of the key."""
    return hashlib.sha256(key.encode("utf-8")).digest()[0] % 2 == 1


def norm(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _read_page(path: Path) -> str:
    text, _, _ = decode(gzip.decompress(path.read_bytes()), None, sniff_meta=True)
    return text


def load_trafilatura_eval(root: Path, limit: int | None = None) -> list[GoldPage]:
    evaldata = json.loads((root / "evaldata.json").read_text(encoding="utf-8"))
    pages = []
    for url, item in list(evaldata.items())[:limit]:
        path = root / "eval" / f"{item['file']}.gz"
        if not path.exists():
            path = root / "cache" / f"{item['file']}.gz"
        if not path.exists():
            raise FileNotFoundError(f"{root}: page for {url} ({item['file']}) in neither eval/ nor cache/")
        pages.append(GoldPage("trafilatura-eval", url, _read_page(path), item["with"],
                              item["without"], ""))
    return pages


def load_aeb(root: Path, limit: int | None = None) -> list[GoldPage]:
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    return [GoldPage("aeb", page_id, _read_page(root / "html" / f"{page_id}.html.gz"), [], [],
                     item["articleBody"])
            for page_id, item in sorted(truth.items())[:limit]]


def load_gold(data: Path, limit: int | None = None) -> list[GoldPage]:
    return (load_trafilatura_eval(data / "trafilatura-eval", limit)
            + load_aeb(data / "article-extraction-benchmark", limit))


def labels(page: GoldPage, bs: list[Block]) -> np.ndarray:
    """1 main text, 0 boilerplate, -1 unknown (not trained on)."""
    y = np.full(len(bs), -1, dtype=np.int8)
    if page.dataset == "aeb":
        body = norm(page.body)
        gold = Counter(_WORD.findall(body.lower()))
        for i, b in enumerate(bs):
            if b.text in body:
                y[i] = 1
                continue
            words = Counter(_WORD.findall(b.text.lower()))
            n = sum(words.values())
            if n:
                y[i] = int(sum((words & gold).values()) / n >= 0.8)
        return y
    with_ = [norm(s) for s in page.with_]
    without = [norm(s) for s in page.without]
    for i, b in enumerate(bs):
        if any(s in b.text or b.text in s for s in with_):
            y[i] = 1
        elif any(s in b.text for s in without):
            y[i] = 0
    return y


@dataclass
class PageBlocks:
    """A gold page with the blocks the extractor classifies, their features and labels, and the
    whole page's blocks and features it reads instead when it keeps none of them."""

    page: GoldPage
    blocks: list[Block]
    x: np.ndarray
    y: np.ndarray
    fallback: tuple[list[Block], np.ndarray] | None = None


def page_blocks(pages: list[GoldPage]) -> list[PageBlocks]:
    """Each page's blocks: its main content's, or where resiliparse finds none, the whole page's
    (as `extract_main_text` does; it also reads the whole page when it keeps no main block)."""
    out = []
    for page in pages:
        tree = HTMLTree.parse(page.html)
        main, whole = blocks(render(tree, main_content=True)), blocks(render(tree, main_content=False))
        if main:
            out.append(PageBlocks(page, main, features(main), labels(page, main), (whole, features(whole))))
        else:
            out.append(PageBlocks(page, whole, features(whole), labels(page, whole)))
    return out


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1.0, iters: int = 30,
        threshold: float = 0.5) -> BlockModel:
    """L2-regularised logistic regression by Newton's method on standardised features."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    bias = FEATURES.index("bias")
    mean[bias], scale[bias] = 0.0, 1.0
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    beta = np.zeros(x.shape[1])
    reg = np.full(x.shape[1], l2)
    reg[bias] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(z @ beta)))
        grad = z.T @ (w * (p - y)) + reg * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return BlockModel(beta, mean, scale, threshold)


def fit_pages(items: list[PageBlocks], threshold: float = 0.5) -> BlockModel:
    """The model fitted on the pages' labelled blocks, every page weighing the same."""
    xs, ys, ws = [], [], []
    for item in items:
        known = item.y >= 0
        if known.any():
            xs.append(item.x[known])
            ys.append(item.y[known].astype(np.float64))
            ws.append(np.full(int(known.sum()), 1.0 / known.sum()))
    w = np.concatenate(ws)
    return fit(np.concatenate(xs), np.concatenate(ys), w * len(w) / w.sum(), threshold=threshold)


def quality(items: list[PageBlocks], model: BlockModel, threshold: float) -> tuple[float, float]:
    """(snippet F1 over the trafilatura-eval pages, mean token F1 over the AEB pages)."""
    snippets, overlaps = Counts(), []
    for item in items:
        text = joined(item.blocks, model.scores(item.x) >= threshold) if item.blocks else ""
        if not text and item.fallback and item.fallback[0]:
            whole, x = item.fallback
            text = joined(whole, model.scores(x) >= threshold)
        if item.page.dataset == "aeb":
            overlaps.append(token_overlap(text, item.page.body))
        else:
            snippets.add(snippet_counts(text, item.page.with_, item.page.without))
    return snippets.prf()[2], macro_micro(overlaps)[0][2] if overlaps else 0.0


def choose_threshold(items: list[PageBlocks], folds: int = FOLDS) -> float:
    """The threshold with the best snippet F1 + AEB F1 in k-fold cross-validation over the
    training pages (folds by another byte of the key's hash than the held-out split)."""
    fold = [_fold(item.page.key, folds) for item in items]
    totals = np.zeros(len(THRESHOLDS))
    for k in range(folds):
        model = fit_pages([item for item, f in zip(items, fold) if f != k])
        scored = [item for item, f in zip(items, fold) if f == k]
        totals += [sum(quality(scored, model, t)) for t in THRESHOLDS]
    return float(THRESHOLDS[int(np.argmax(totals))])


def _fold(key: str, folds: int) -> int:
    return hashlib.sha256(key.encode("utf-8")).digest()[1] % folds


def train(pages: list[GoldPage]) -> BlockModel:
    items = page_blocks([p for p in pages if not p.held_out])
    return fit_pages(items, threshold=choose_threshold(items))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared datasets folder")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "curate" / MODEL_FILE)
    args = parser.parse_args(argv)
    pages = load_gold(args.data)
    model = train(pages)
    n_train = sum(not p.held_out for p in pages)
    record = {**model.to_json(), "trained_on": f"{n_train} of {len(pages)} gold pages "
              "(trafilatura-eval, article-extraction-benchmark), block_train.is_held_out false"}
    args.out.write_text(json.dumps(record) + "\n", encoding="utf-8")
    print(f"{args.out}: trained on {n_train} of {len(pages)} pages", file=sys.stderr)


if __name__ == "__main__":
    main()
