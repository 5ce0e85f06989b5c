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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from resiliparse.parse.html import HTMLTree

from danlu.curate.blocks import FEATURES, MODEL_FILE, Block, BlockModel, blocks, features, render
from danlu.curate.extract import decode

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


def page_blocks(pages: list[GoldPage]) -> Iterator[tuple[GoldPage, list[Block]]]:
    """Each page with the blocks the extractor classifies: its main content's, or where
    resiliparse finds none, the whole page's (as `extract_main_text` does)."""
    for page in pages:
        tree = HTMLTree.parse(page.html)
        yield page, blocks(render(tree, main_content=True)) or blocks(render(tree, main_content=False))


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1.0, iters: int = 30) -> BlockModel:
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
    return BlockModel(beta, mean, scale, 0.5)


def training_matrix(pages: list[GoldPage]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, ws = [], [], []
    for page, bs in page_blocks(pages):
        y = labels(page, bs)
        known = y >= 0
        if not known.any():
            continue
        xs.append(features(bs)[known])
        ys.append(y[known].astype(np.float64))
        # every page weighs the same, whatever its number of blocks
        ws.append(np.full(int(known.sum()), 1.0 / known.sum()))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


def train(pages: list[GoldPage]) -> BlockModel:
    x, y, w = training_matrix([p for p in pages if not p.held_out])
    return fit(x, y, w * len(w) / w.sum())


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
