"""How close a reply is to its reference, for any script: exact match, token F1 (SQuAD style)
and ROUGE-L F1, over words that keep Chinese, Greek or Czech text (rouge-score's own tokenizer
keeps only [a-z0-9], so such text scores 0)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import cache

# Han ideographs (with extensions and compatibility forms), kana and Hangul syllables. Chinese
# and Japanese put no spaces between words, so one character per token is the usual stand-in
# (as in sacrebleu's "zh" and "char" tokenizers). Hangul is written with spaces, but a word
# carries its particles ("고양이가" vs "고양이를"), so syllables match where whole words miss.
CJK = ("\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
       "\uff66-\uff9f\U00020000-\U0002fa1f")
ASCII_WORD = re.compile("[a-z0-9]+")


def words(text: str) -> list[str]:
    """Case-folded words without punctuation, so "Paris." matches "paris" and "Ελλάδα" "ΕΛΛΆΔΑ"."""
    if text.isascii():  # the same words at a third of the cost: NFKC and casefold change nothing
        return ASCII_WORD.findall(text.lower())
    # NFKC first: a letter and its combining accent (decomposed "č") become one character, and
    # full-width Latin becomes plain Latin.
    return _word_pattern().findall(unicodedata.normalize("NFKC", text).casefold())


@cache
def _word_pattern() -> re.Pattern:
    """A CJK character alone, or a run of letters, digits and combining marks. `re` has no
    \\p{M}, and without the marks Hindi or Thai words would break at every vowel sign. The
    underscore is punctuation, as in rouge-score, so English gets exactly rouge-score's tokens."""
    # The Basic Multilingual Plane only: 20 ms once; the marks above it are of historic and
    # minority scripts, whose words would split at a mark but still match one another.
    marks = [c for c in range(0x10000) if unicodedata.category(chr(c)).startswith("M")]
    return re.compile(f"[{CJK}]|(?:[^\\W_{CJK}]|[{_ranges(marks)}])+")


def _ranges(points: list[int]) -> str:
    """Sorted code points as a regex class body: "\\u0300-\\u036f..."."""
    out, start = [], points[0]
    for previous, point in zip(points, points[1:] + [-1]):
        if point != previous + 1:
            out.append(f"\\u{start:04x}-\\u{previous:04x}")
            start = point
    return "".join(out)


def exact_match(prediction: str, reference: str, ignore_case: bool = False) -> float:
    """1.0 when the texts are equal once surrounding whitespace is stripped, else 0.0."""
    predicted, expected = prediction.strip(), reference.strip()
    if ignore_case:
        predicted, expected = predicted.casefold(), expected.casefold()
    return float(predicted == expected)


def token_f1(prediction: str, reference: str) -> float:
    """F1 of the bag of words shared by prediction and reference; two empty texts agree fully."""
    predicted, expected = words(prediction), words(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    shared = sum((Counter(predicted) & Counter(expected)).values())
    return _f1(shared, len(predicted), len(expected))


def rouge_l_f1(prediction: str, reference: str) -> float:
    """ROUGE-L F1: the longest common word subsequence, as precision and recall; no stemming,
    since a small model's replies are scored on the words they actually wrote."""
    predicted, expected = words(prediction), words(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    return _f1(lcs_length(predicted, expected), len(predicted), len(expected))


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence, one row of the table at a time."""
    if len(b) > len(a):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def _f1(shared: int, predicted: int, expected: int) -> float:
    if shared == 0:
        return 0.0
    precision, recall = shared / predicted, shared / expected
    return 2 * precision * recall / (precision + recall)
