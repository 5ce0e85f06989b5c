"""Build the bundled sample (crawl, reference text, SFT chats, held-out evaluation) from offline stdlib text.

    python -m danlu.sample.build OUT_DIR [--pack ARCHIVE]

The result depends only on the Python version it runs under (docstrings change between
versions), so it is built once and shipped as sample.tar.gz; see bundle.py. Run it as a script
in a fresh interpreter: a host that patches the stdlib changes what is mined (pytest, for one,
replaces threading.excepthook).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import sys
import time
import zlib
from collections import Counter
from dataclasses import replace
from pathlib import Path

from danlu.atomic import atomic_dir
from danlu.errors import DataError
from danlu.sample.bundle import MANIFEST, pack
from danlu.sample.cjk import cjk_texts
from danlu.sample.conversations import eval_prompts, sft_conversations
from danlu.sample.preferences import preference_pairs
from danlu.sample.crawl_files import write_corrupt_crawl, write_crawl
from danlu.sample.crawl_plan import plan_pages
from danlu.sample.doc_blocks import Doc, split_pages
from danlu.sample.eval_tasks import write_eval_tasks
from danlu.sample.heldout import TrainingText, heldout_passages
from danlu.sample.roles import assign_roles
from danlu.sample.sources import MODULES

SEED = 20240304
ARTICLE_PAGE_CHARS = {"target_chars": 3200, "min_chars": 700}
REFERENCE_DOC_CHARS = {"target_chars": 2500, "min_chars": 300}
HELDOUT_PASSAGES = {"min_chars": 500, "max_chars": 3000, "per_doc": 6, "limit": 80}
EVAL_PROMPTS = 60


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def reference_rows(docs: list[Doc]) -> list[dict]:
    parts = [part for doc in docs for part in split_pages(doc, **REFERENCE_DOC_CHARS)]
    parts = [part for part in parts if len(part.body_text()) >= REFERENCE_DOC_CHARS["min_chars"]]
    return [
        {"id": f"ref-{number:04d}", "title": part.title, "text": part.body_text(), "source": "python-docs"}
        for number, part in enumerate(parts, start=1)
    ]


def _check_out_dir(out_dir: Path) -> None:
    """Never replace a folder that holds something other than a previous sample."""
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
        raise DataError(
            f"{out_dir}: exists, is not empty and holds no {MANIFEST}; refusing to replace it with the sample"
        )


def build_sample(out_dir: Path) -> dict:
    """Write the sample into out_dir (replaced whole, atomically) and return its manifest."""
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    rng = random.Random(SEED)
    roles = assign_roles(rng)
    article_docs = [page for doc in roles.crawl for page in split_pages(doc, **ARTICLE_PAGE_CHARS)]
    pages = plan_pages(article_docs, cjk_texts(), rng)
    reference = reference_rows(roles.reference)
    sft = sft_conversations(roles.train_entries, rng)
    training = TrainingText(
        [page.text for page in pages]
        + [row["text"] for row in reference]
        + [message["content"] for row in sft for message in row["messages"]]
    )
    heldout = heldout_passages(roles.heldout, training, **HELDOUT_PASSAGES)
    prompts = eval_prompts(roles.heldout_entries, training.leaks, rng, EVAL_PROMPTS)

    with atomic_dir(out_dir) as tmp:
        truth, file_counts = write_crawl(pages, tmp / "crawl")
        first_article = next(page for page in pages if page.kind == "article")
        lost = replace(first_article, url=first_article.url.rsplit("/", 1)[0] + "/unfinished-download.html")
        corrupt = write_corrupt_crawl(lost, tmp / "crawl")
        write_jsonl(tmp / "reference" / "reference.jsonl", reference)
        write_jsonl(tmp / "sft" / "conversations.jsonl", sft)
        # a generator of its own: the files above stay as they were before pairs existed
        pairs = preference_pairs(sft, random.Random(SEED + 1))
        write_jsonl(tmp / "sft" / "preferences.jsonl", pairs)
        passages = [{"id": f"heldout-{number:03d}", "text": text} for number, text in enumerate(heldout, start=1)]
        write_jsonl(tmp / "eval" / "prompts.jsonl", prompts)
        task_items = write_eval_tasks(tmp / "eval" / "tasks", passages, prompts)
        files = {
            path.relative_to(tmp).as_posix(): {"sha256": sha256_file(path), "size": path.stat().st_size}
            for path in sorted(tmp.rglob("*"))
            if path.is_file()
        }
        manifest = {
            "name": "danlu-sample",
            "format": 1,
            "generator": {"python": platform.python_version(), "zlib": zlib.ZLIB_RUNTIME_VERSION, "seed": SEED},
            "sources": {
                "modules": list(MODULES),
                "heldout_modules": roles.heldout_modules,
                "heldout_topics": roles.heldout_topics,
            },
            "counts": {
                "kinds": dict(sorted(Counter(row["kind"] for row in truth).items())),
                "languages": dict(sorted(Counter(str(row["language"]) for row in truth).items())),
                "crawl_files": file_counts,
                "responses": len(truth),
                "reference": len(reference),
                "sft": len(sft),
                "preferences": len(pairs),
                "heldout": len(heldout),
                "prompts": len(prompts),
                "eval_task_items": task_items,
            },
            "corrupt_files": [corrupt],
            "files": files,
            "crawl_truth": truth,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m danlu.sample.build", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder to write the sample into (replaced whole)")
    parser.add_argument("--pack", type=Path, metavar="ARCHIVE", help="also pack it into this .tar.gz")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    manifest = build_sample(args.out_dir)
    total = sum(entry["size"] for entry in manifest["files"].values())
    seconds = time.perf_counter() - started
    print(f"built {args.out_dir} in {seconds:.1f}s: {total / 1e6:.2f} MB in {len(manifest['files'])} files")
    print(json.dumps({key: value for key, value in manifest["counts"].items() if key != "crawl_files"}))
    if args.pack:
        pack(args.out_dir, args.pack)
        print(f"packed {args.pack}: {args.pack.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
