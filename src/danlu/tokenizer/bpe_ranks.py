"""danlu's byte-level BPE as the rank tables that rank-based encoders (tiktoken) load.

Rank-based BPE merges the adjacent pair whose concatenation has the lowest token id; HF merges
by merge rank. They agree when each token's merge is the one the ranks recover from its bytes
(minbpe's recovery), which `rank_mismatch` checks for every merge, together with the
pipeline's shape (no normalizer, GPT-4 split pattern, byte-level), before either is used.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache

from tokenizers import Tokenizer

from danlu.errors import DataError
from danlu.tokens.chat import BOS
from danlu.tokenizer.train import GPT4_SPLIT_PATTERN


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@cache
def _unicode_to_byte() -> dict[str, int]:
    """The inverse of GPT-2's byte -> printable character table used by ByteLevel."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def token_bytes(token: str) -> bytes:
    table = _unicode_to_byte()
    return bytes(table[c] for c in token)


def _is_danlu_shape(spec: dict) -> bool:
    """Byte-level BPE split by GPT4_SPLIT_PATTERN, nothing else in the pipeline."""
    model, pre = spec.get("model") or {}, spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else None
    return (
        model.get("type") == "BPE"
        and not model.get("dropout")
        and not model.get("byte_fallback")
        and not model.get("continuing_subword_prefix")
        and not model.get("end_of_word_suffix")
        and spec.get("normalizer") is None
        and steps is not None
        and len(steps) == 2
        and steps[0] == {"type": "Split", "pattern": {"Regex": GPT4_SPLIT_PATTERN},
                         "behavior": "Isolated", "invert": False}
        and steps[1].get("type") == "ByteLevel"
        and not steps[1].get("add_prefix_space")
        and not steps[1].get("use_regex")
    )


def _recovered_pair(piece: bytes, rank: int, ranks: dict[bytes, int]) -> list[bytes]:
    """tiktoken's BPE of `piece` using only tokens ranked below `rank` (minbpe's recovery)."""
    parts = [piece[i : i + 1] for i in range(len(piece))]
    while True:
        best, at = None, -1
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < rank and (best is None or r < best):
                best, at = r, i
        if best is None:
            return parts
        parts[at : at + 2] = [parts[at] + parts[at + 1]]


def rank_mismatch(tokenizer: Tokenizer) -> str | None:
    """Why a rank-based BPE of `tokenizer`'s vocabulary could encode differently, or None."""
    spec = json.loads(tokenizer.to_str())
    if not _is_danlu_shape(spec):
        return "not a byte-level BPE with the GPT-4 split pattern and nothing else"
    vocab: dict[str, int] = spec["model"]["vocab"]
    ranks = {token_bytes(t): i for t, i in vocab.items()}
    if len(ranks) != len(vocab):
        return "two vocabulary entries map to the same bytes"
    previous = -1
    for n, merge in enumerate(spec["model"]["merges"]):
        left, right = merge if isinstance(merge, list) else merge.split(" ", 1)
        token = ranks.get(token_bytes(left + right))
        if token is None or token <= previous:
            return f"merge {n} ({left!r}, {right!r}) does not make the next-ranked token"
        previous = token
        pair = [token_bytes(left), token_bytes(right)]
        if _recovered_pair(pair[0] + pair[1], token, ranks) != pair:
            return f"merge {n} ({left!r}, {right!r}) is not the one tiktoken's ranks recover"
    return None


def tiktoken_encoding(tokenizer: Tokenizer) -> tuple[object, str, int]:
    """tiktoken's Encoding of `tokenizer`'s vocabulary, and a special token to join texts by."""
    import tiktoken

    special = {t.content: i for i, t in tokenizer.get_added_tokens_decoder().items()}
    if not special:
        raise DataError("the tiktoken engine needs a tokenizer with a special token")
    ranks = {
        token_bytes(t): i
        for t, i in tokenizer.get_vocab(with_added_tokens=False).items()
        if t not in special
    }
    # Documents never write special tokens, but tiktoken needs some: with none, its scan for
    # them tries every position (1.5x slower).
    encoding = tiktoken.Encoding(
        "danlu", pat_str=GPT4_SPLIT_PATTERN, mergeable_ranks=ranks, special_tokens=special
    )
    separator = BOS if BOS in special else min(special, key=special.get)
    return encoding, separator, special[separator]
