"""How close a reply is to its reference: ROUGE-L F1 and token-level F1 (SQuAD style)."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Any

WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lower-cased words without punctuation, so "Paris." matches "paris"."""
    return WORD.findall(text.lower())


def token_f1(prediction: str, reference: str) -> float:
    """F1 of the bag of words shared by prediction and reference; two empty texts agree fully."""
    predicted, expected = words(prediction), words(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    shared = sum((Counter(predicted) & Counter(expected)).values())
    if shared == 0:
        return 0.0
    precision = shared / len(predicted)
    recall = shared / len(expected)
    return 2 * precision * recall / (precision + recall)


@lru_cache(maxsize=1)
def _rouge_l_scorer() -> Any:
    from rouge_score import rouge_scorer

    # No stemmer: replies from a small model are scored on the words they actually wrote.
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l_f1(prediction: str, reference: str) -> float:
    """ROUGE-L F1: the longest common word subsequence, as precision and recall."""
    return float(_rouge_l_scorer().score(reference, prediction)["rougeL"].fmeasure)
