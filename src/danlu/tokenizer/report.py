"""The tokenizer report: bytes per token on held-out text per source, vocabulary statistics and
training time, as a dict (report.json) and as Markdown (report.md).

Vocabulary entries are byte-level BPE symbols; each is turned back into the bytes it stands for
(GPT-2's byte-to-character table) and counted in one class, the first that fits:
  special      the added special tokens (<|bos|>, ...)
  word         a space, then letters only: a whole word as the split pattern cuts text (" the")
  word_piece   letters only, no leading space: a word's inner piece or a line's first word
               ("ing", "The", "日本")
  digits       digits only (the split pattern keeps numbers in groups of 1-3)
  whitespace   spaces, tabs and newlines only
  partial_utf8 not valid UTF-8 alone: a piece of a multi-byte character
  other        punctuation, mixed pieces (" (", ".\n", "'s")
and, across classes, `multibyte` counts the valid entries with a non-ASCII character.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

from tokenizers import Tokenizer

from danlu.atomic import atomic_write_json, atomic_write_text
from danlu.tokenizer.train import replace_lone_surrogates

# Byte-length buckets of the vocabulary histogram: (label, lowest, highest).
LENGTH_BUCKETS = (("1", 1, 1), ("2", 2, 2), ("3", 3, 3), ("4", 4, 4), ("5-8", 5, 8),
                  ("9-16", 9, 16), ("17+", 17, 1 << 30))
LONGEST = 20  # longest entries listed
_BATCH = 1000  # texts per encode_batch call
_LETTERS = re.compile(r"^[^\W\d_]+$")
_CLASSES = ("special", "word", "word_piece", "digits", "whitespace", "partial_utf8", "other")


@cache
def _byte_of_symbol() -> dict[str, int]:
    """GPT-2's table, inverted: printable symbol -> the byte it stands for."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    symbols, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            symbols[chr(byte)] = byte
        else:
            symbols[chr(256 + extra)] = byte
            extra += 1
    return symbols


def token_bytes(symbol: str) -> bytes:
    """The bytes a byte-level vocabulary entry stands for."""
    table = _byte_of_symbol()
    return bytes(table[c] for c in symbol)


def _classify(raw: bytes) -> tuple[str, bool]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "partial_utf8", True
    multibyte = not text.isascii()
    if _LETTERS.match(text.removeprefix(" ")):
        return ("word" if text.startswith(" ") else "word_piece"), multibyte
    if text.isdigit():
        return "digits", multibyte
    if text.isspace():
        return "whitespace", multibyte
    return "other", multibyte


def vocabulary_stats(tokenizer: Tokenizer) -> dict:
    """Size, merges, special tokens, and the shares of entries by byte length and by class."""
    model = json.loads(tokenizer.to_str())["model"]
    special = {t.content for t in tokenizer.get_added_tokens_decoder().values() if t.special}
    entries: list[tuple[str, int, bytes]] = []  # (symbol, id, bytes) of the learned entries
    for symbol, token_id in tokenizer.get_vocab(with_added_tokens=False).items():
        if symbol not in special:
            entries.append((symbol, token_id, token_bytes(symbol)))
    classes: Counter[str] = Counter({"special": len(special)})
    multibyte = 0
    for _, _, raw in entries:
        kind, wide = _classify(raw)
        classes[kind] += 1
        multibyte += wide
    size = tokenizer.get_vocab_size()
    lengths = Counter(len(raw) for _, _, raw in entries)
    by_length = {label: sum(n for k, n in lengths.items() if low <= k <= high) / size
                 for label, low, high in LENGTH_BUCKETS}
    longest = sorted(entries, key=lambda e: (-len(e[2]), e[1]))[:LONGEST]
    return {
        "size": size,
        "merges": len(model.get("merges", [])),
        "special_tokens": sorted(special, key=tokenizer.token_to_id),
        "mean_entry_bytes": sum(len(e[2]) for e in entries) / max(len(entries), 1),
        "share_by_length": by_length,
        "share_by_class": {k: classes[k] / size for k in _CLASSES},
        "share_multibyte": multibyte / size,
        "longest": [{"id": i, "bytes": len(raw), "text": raw.decode("utf-8", "replace")}
                    for _, i, raw in longest],
    }


def bytes_per_token(tokenizer: Tokenizer, texts: Sequence[str]) -> dict:
    """Documents, UTF-8 bytes, tokens (no BOS) and bytes per token of `texts`."""
    size = tokens = 0
    for start in range(0, len(texts), _BATCH):
        batch = [replace_lone_surrogates(t) for t in texts[start : start + _BATCH]]
        size += sum(len(t.encode("utf-8")) for t in batch)
        tokens += sum(len(e.ids) for e in tokenizer.encode_batch(batch, add_special_tokens=False))
    return {"documents": len(texts), "bytes": size, "tokens": tokens,
            "bytes_per_token": size / tokens if tokens else 0.0}


def tokenizer_report(
    tokenizer: Tokenizer, held_out: Mapping[str, Sequence[str]], train_seconds: float
) -> dict:
    """The report of a trained tokenizer: `held_out` maps each source to its held-out texts."""
    sources = {name: bytes_per_token(tokenizer, texts) for name, texts in sorted(held_out.items())}
    total = {k: sum(s[k] for s in sources.values()) for k in ("documents", "bytes", "tokens")}
    total["bytes_per_token"] = total["bytes"] / total["tokens"] if total["tokens"] else 0.0
    return {
        "train_seconds": round(train_seconds, 3),
        "held_out": {"all": total, "sources": sources},
        "vocabulary": vocabulary_stats(tokenizer),
    }


def _cell(text: str) -> str:
    """A token as code in a table cell: newlines and tabs as escapes, pipes escaped for GFM."""
    shown = json.dumps(text, ensure_ascii=False)[1:-1].replace("|", "\\|")
    return f"`` {shown} ``" if "`" in shown else f"`{shown}`"


def report_markdown(report: dict) -> str:
    vocab, held = report["vocabulary"], report["held_out"]
    lines = [
        "# Tokenizer report", "",
        f"Vocabulary {vocab['size']:,} ({vocab['merges']:,} merges, "
        f"{len(vocab['special_tokens'])} special tokens), trained in "
        f"{report['train_seconds']:.1f} s. Held-out: **{held['all']['bytes_per_token']:.3f} bytes "
        f"per token** over {held['all']['documents']:,} documents.", "",
        "| held-out source | documents | bytes | tokens | bytes/token |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in [*held["sources"].items(), ("all", held["all"])]:
        lines.append(f"| {_cell(name) if name != 'all' else '**all**'} | {row['documents']:,} | "
                     f"{row['bytes']:,} | {row['tokens']:,} | {row['bytes_per_token']:.3f} |")
    lines += ["", "| entry length (bytes) | share of vocabulary |", "|---|---:|"]
    lines += [f"| {k} | {v:.1%} |" for k, v in vocab["share_by_length"].items()]
    lines += ["", "| entry class | share of vocabulary |", "|---|---:|"]
    lines += [f"| {k} | {v:.1%} |" for k, v in vocab["share_by_class"].items()]
    lines += [f"| (multi-byte UTF-8, any class) | {vocab['share_multibyte']:.1%} |", "",
              f"Mean entry length {vocab['mean_entry_bytes']:.2f} bytes. Special tokens: "
              + ", ".join(_cell(t) for t in vocab["special_tokens"]) + ".", "",
              "| longest entries | id | bytes |", "|---|---:|---:|"]
    lines += [f"| {_cell(e['text'])} | {e['id']} | {e['bytes']} |" for e in vocab["longest"]]
    return "\n".join(lines) + "\n"


def write_report(report: dict, folder: Path) -> tuple[Path, Path]:
    """Write folder/report.json and folder/report.md."""
    folder = Path(folder)
    atomic_write_json(folder / "report.json", report)
    atomic_write_text(folder / "report.md", report_markdown(report))
    return folder / "report.json", folder / "report.md"
