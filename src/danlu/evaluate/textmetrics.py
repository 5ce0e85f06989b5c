"""Generation metrics over replies that each have one or more references: corpus BLEU and chrF
from sacrebleu, each with its signature (a BLEU printed without one cannot be compared with any
other), and the mean over items of exact match, token F1 and ROUGE-L, each item scored against
its closest reference."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

from sacrebleu.metrics import BLEU, CHRF

from danlu.errors import ConfigError, DataError
from danlu.evaluate.similarity import exact_match, rouge_l_f1, token_f1

METRICS = ("bleu", "chrf", "rouge_l", "exact_match", "token_f1")
BLEU_TOKENIZERS = tuple(BLEU.TOKENIZERS)


def generation_metrics(predictions: Sequence[str], references: Sequence[Sequence[str]],
                       names: Sequence[str], *, bleu_tokenize: str = "13a",
                       ignore_case: bool = False) -> tuple[dict[str, float], dict[str, str]]:
    """(scores, signatures): BLEU and chrF on sacrebleu's 0-100 scale with their signatures,
    the others on 0-1 as the mean of each item's best reference. `ignore_case` is for exact
    match only; the other metrics have their own conventions (BLEU's "case:mixed")."""
    names = check_names(names, bleu_tokenize)
    check_items(predictions, references)
    scores, signatures = {}, {}
    for name in names:
        if name in ("bleu", "chrf"):
            metric = _sacrebleu_metric(name, bleu_tokenize, sentence=False)
            scores[name] = float(metric.corpus_score(list(predictions),
                                                     _reference_streams(references)).score)
            signatures[name] = str(metric.get_signature())
        else:
            best = _best_reference(_pair_metric(name, ignore_case))
            scores[name] = sum(best(p, refs) for p, refs in zip(predictions, references)) \
                / len(predictions)
    return scores, signatures


def per_item_scores(prediction: str, references: Sequence[str], names: Sequence[str], *,
                    bleu_tokenize: str = "13a", ignore_case: bool = False) -> dict[str, float]:
    """One item's scores for a report row, on the scales of generation_metrics; BLEU is
    sacrebleu's sentence BLEU with effective order (no zero for a reply shorter than 4 words)."""
    names = check_names(names, bleu_tokenize)
    check_items([prediction], [references])
    row = {}
    for name in names:
        if name in ("bleu", "chrf"):
            metric = _sacrebleu_metric(name, bleu_tokenize, sentence=True)
            row[name] = float(metric.sentence_score(prediction, list(references)).score)
        else:
            row[name] = _best_reference(_pair_metric(name, ignore_case))(prediction, references)
    return row


def check_names(names: Sequence[str], bleu_tokenize: str) -> list[str]:
    """The metric names, each once and in order, once they and the BLEU tokenizer are known to
    sacrebleu and to us; ConfigError names what is allowed."""
    if isinstance(names, str):  # "bleu" would otherwise be read as the metrics b, l, e, u
        raise ConfigError(f"metric names must be a list, got the string {names!r}")
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ConfigError(f"unknown generation metric(s) {', '.join(map(repr, unknown))}; "
                          f"expected some of {', '.join(METRICS)}")
    if bleu_tokenize not in BLEU_TOKENIZERS:
        raise ConfigError(f"unknown BLEU tokenizer {bleu_tokenize!r}; sacrebleu's are "
                          f"{', '.join(BLEU_TOKENIZERS)}")
    return list(dict.fromkeys(names))


def check_items(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    """DataError unless every item is a string with a non-empty list of string references."""
    if len(predictions) != len(references):
        raise DataError(f"{len(predictions)} predictions but {len(references)} reference lists: "
                        "expected one list of references per prediction")
    if not predictions:
        raise DataError("no predictions to score")
    for i, (prediction, refs) in enumerate(zip(predictions, references)):
        if not isinstance(prediction, str):
            raise DataError(f"item {i}: prediction must be a string, "
                            f"got {type(prediction).__name__}")
        if isinstance(refs, str) or not refs or not all(isinstance(r, str) for r in refs):
            raise DataError(f"item {i}: references must be a non-empty list of strings, "
                            f"got {refs!r:.80}")


def _reference_streams(references: Sequence[Sequence[str]]) -> list[list[str | None]]:
    """sacrebleu's layout, one stream per reference position; None where an item has fewer
    references than the most (sacrebleu skips it and signs "nrefs:var")."""
    most = max(len(refs) for refs in references)
    return [[refs[k] if k < len(refs) else None for refs in references] for k in range(most)]


def _sacrebleu_metric(name: str, bleu_tokenize: str, sentence: bool) -> BLEU | CHRF:
    if name == "chrf":
        return CHRF()
    # Corpus BLEU keeps sacrebleu's standard (eff:no); sentence BLEU needs effective order.
    return _sentence_bleu(bleu_tokenize) if sentence else BLEU(tokenize=bleu_tokenize)


@cache
def _sentence_bleu(bleu_tokenize: str) -> BLEU:
    """Built once: each row would otherwise rebuild the tokenizer."""
    return BLEU(tokenize=bleu_tokenize, effective_order=True)


def _pair_metric(name: str, ignore_case: bool) -> Callable[[str, str], float]:
    if name == "exact_match":
        return lambda prediction, reference: exact_match(prediction, reference, ignore_case)
    return {"rouge_l": rouge_l_f1, "token_f1": token_f1}[name]


def _best_reference(pair: Callable[[str, str], float]) -> Callable[[str, Sequence[str]], float]:
    return lambda prediction, references: max(pair(prediction, r) for r in references)
