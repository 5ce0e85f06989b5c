"""Tokenizer training benchmark: danlu's trainer (HF `tokenizers`, GPT-4 split pattern) against
rustbpe (same pattern) and sentencepiece BPE (byte fallback), on the same text and vocab size.

Training text: the English text files of the shared data (wikitext-2 validation, the two
Gutenberg books, tinyshakespeare, llamafactory's wiki_demo, the BBC articles), one document per
non-empty line, since sentencepiece trains on lines (and skips lines over its maximum length).
Held-out: wikitext-2 test, same line split. Prints training time (median of --repeats runs,
tokenizer threads as the library picks them) and held-out bytes per token.

  .venv/bin/python benchmarks/tokenizer_train_bench.py [--vocab 8192 32768] [--repeats 3]

rustbpe and sentencepiece are not danlu dependencies: `pip install rustbpe==0.1.0
sentencepiece==0.2.3` (the `bench` extra); a missing one is skipped with a note.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from danlu.tokenizer.train import GPT4_SPLIT_PATTERN, train_bpe

REPO = Path(__file__).resolve().parents[1]
TRAIN_FILES = (
    "wikitext-2-subset/valid.txt",
    "gutenberg-books/grimms_fairy_tales_pg52521.txt",
    "gutenberg-books/japanese_fairy_tales_pg4018.txt",
    "tinyshakespeare/input.txt",
    "llamafactory-demo/wiki_demo.txt",
)
BBC = "bbc-news-summary/bbc_news_summary.jsonl.gz"
HELD_OUT = "wikitext-2-subset/test.txt"
# sentencepiece: keep every character seen (no <unk>); bytes cover the rest.
SPM_CHARACTER_COVERAGE = 1.0
SPM_MAX_SENTENCE_BYTES = 1 << 16


def data_root() -> Path:
    return Path(os.environ.get("DANLU_SHARED_DATA", REPO.parent / "shared" / "data"))


def lines_of(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8-sig")
    return [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def training_lines(root: Path) -> list[str]:
    lines: list[str] = []
    for name in TRAIN_FILES:
        lines += lines_of(root / name)
    with gzip.open(root / BBC, "rt", encoding="utf-8") as fh:
        for row in fh:
            lines += [p for p in json.loads(row)["article"].split("\n") if p.strip()]
    return lines


def train_hf(lines: list[str], vocab: int):
    tok = train_bpe(lines, vocab, min_frequency=2, length=len(lines))
    return lambda texts: sum(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False))


def train_rustbpe(lines: list[str], vocab: int):
    import rustbpe

    tok = rustbpe.Tokenizer()
    tok.train_from_iterator(iter(lines), vocab, pattern=GPT4_SPLIT_PATTERN)
    return lambda texts: sum(len(ids) for ids in tok.batch_encode(texts))


def train_sentencepiece(lines: list[str], vocab: int):
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, model_type="bpe", vocab_size=vocab,
        byte_fallback=True, character_coverage=SPM_CHARACTER_COVERAGE, split_digits=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True, max_sentence_length=SPM_MAX_SENTENCE_BYTES,
        num_threads=os.cpu_count() or 1, minloglevel=2,
    )
    tok = spm.SentencePieceProcessor(model_proto=model.getvalue())
    return lambda texts: sum(len(ids) for ids in tok.encode(texts))


TRAINERS: dict[str, tuple[str, Callable]] = {
    "danlu (HF tokenizers, GPT-4 pattern)": ("tokenizers", train_hf),
    "rustbpe (GPT-4 pattern)": ("rustbpe", train_rustbpe),
    "sentencepiece BPE (byte_fallback)": ("sentencepiece", train_sentencepiece),
}


def available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab", type=int, nargs="+", default=[8192])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = data_root()
    lines, held_out = training_lines(root), lines_of(root / HELD_OUT)
    train_mb = sum(len(t.encode()) for t in lines) / 1e6
    held_bytes = sum(len(t.encode()) for t in held_out)
    print(f"training text: {train_mb:.1f} MB in {len(lines):,} lines; held-out: "
          f"{held_bytes / 1e3:,.0f} KB of {HELD_OUT}; {os.cpu_count()} cores; "
          f"median of {args.repeats}\n")
    print("| trainer | vocab | train time | held-out bytes/token |")
    print("|---|---|---|---|")
    for vocab in args.vocab:
        for name, (module, train) in TRAINERS.items():
            if not available(module):
                print(f"| {name} | {vocab:,} | not installed | |")
                continue
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                count = train(lines, vocab)
                times.append(time.perf_counter() - started)
            print(f"| {name} | {vocab:,} | {statistics.median(times):.2f} s | "
                  f"{held_bytes / count(held_out):.3f} |", flush=True)


if __name__ == "__main__":
    main()
