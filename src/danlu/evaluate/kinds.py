"""Score one task's items with one model, by the task's kind: the metrics and a row per item.

perplexity: loss, perplexity and bits per byte (and per group); choice: acc, acc_norm,
acc_bytes as lm-eval computes them, with the context's forward pass shared by its choices;
classify: the same scorer over the label words, accuracy and macro-F1; generate: greedy (or
sampled) text scored by BLEU, chrF, ROUGE-L, exact match or token F1.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from danlu.evaluate.task import Item, Task, baseline_accuracy

log = logging.getLogger("danlu.evaluate")

Rows = list[dict]
METRIC_UNSAFE = re.compile(r"[^\w.-]")  # what MLflow refuses in a metric name


def macro_f1(predictions: Sequence[int], golds: Sequence[int], num_classes: int) -> float:
    """The unweighted mean of each class's F1 (a class never predicted nor present is left out)."""
    scores = []
    for c in range(num_classes):
        tp = sum(p == c and g == c for p, g in zip(predictions, golds, strict=True))
        fp = sum(p == c and g != c for p, g in zip(predictions, golds, strict=True))
        fn = sum(p != c and g == c for p, g in zip(predictions, golds, strict=True))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


def score_perplexity(model: Any, tokenizer: Any, task: Task, items: Sequence[Item], *,
                     context_length: int, batch_size: int) -> tuple[dict[str, float], Rows]:
    from danlu.model.scoring import language_model_metrics

    texts = [i.context for i in items]
    overall = language_model_metrics(model, tokenizer, texts, context_length=context_length,
                                     batch_size=batch_size)
    metrics = {k: overall[k] for k in ("loss", "perplexity", "bits_per_byte", "tokens", "bytes")}
    groups: dict[str, list[str]] = defaultdict(list)
    for item in items:
        if item.group is not None:
            groups[item.group].append(item.context)
    for group, group_texts in sorted(groups.items()):
        m = language_model_metrics(model, tokenizer, group_texts, context_length=context_length,
                                   batch_size=batch_size)
        # a group is a data value: only the characters MLflow takes in a metric name
        metrics[f"bits_per_byte.{METRIC_UNSAFE.sub('_', group)}"] = m["bits_per_byte"]
    return metrics, []


def _choice_lls(model, tokenizer, task: Task, items: Sequence[Item], *, context_length: int,
                batch_size: int) -> tuple[list[Item], list[list[float]]]:
    """(the items that fit, their choices' log-likelihoods). An item with a choice longer than
    the model's context cannot be scored (lm-eval stops there): it is left out and logged."""
    from danlu.evaluate.choice import ChoiceRequest, encode_pair, loglikelihoods

    delimiter = task.spec.delimiter
    requests = [ChoiceRequest(i.context, tuple(delimiter + c for c in i.choices)) for i in items]
    fits = [all(len(encode_pair(tokenizer, r.context, c)[1]) <= context_length
                for c in r.continuations) for r in requests]
    if not all(fits):
        log.warning("%s: %d of %d items have a choice longer than the context (%d tokens): "
                    "not scored", task.name, fits.count(False), len(items), context_length)
    kept = [i for i, ok in zip(items, fits, strict=True) if ok]
    if not kept:
        return [], []
    lls = loglikelihoods(model, tokenizer, [r for r, ok in zip(requests, fits, strict=True) if ok],
                         batch_size=batch_size, max_length=context_length)
    return kept, lls


def _score_fitting(results: Callable[[Task, list[Item], list[list[float]]], tuple[dict, Rows]],
                   model: Any, tokenizer: Any, task: Task, items: Sequence[Item], *,
                   context_length: int, batch_size: int) -> tuple[dict[str, float], Rows]:
    """Score the items whose choices fit the context; `results` turns their log-likelihoods
    into metrics and rows; the count left out is the metric too_long."""
    scored, lls = _choice_lls(model, tokenizer, task, items, context_length=context_length,
                              batch_size=batch_size)
    if not scored:
        return {"too_long": len(items)}, []
    metrics, rows = results(task, scored, lls)
    return {**metrics, "too_long": len(items) - len(scored)}, rows


def _choice_results(task: Task, items: list[Item], lls: list[list[float]]
                    ) -> tuple[dict[str, float], Rows]:
    from danlu.evaluate.choice import centered_accuracy, choice_metrics

    golds = [i.gold for i in items]
    result = choice_metrics(lls, golds, [list(i.choices) for i in items])
    metrics = {k: float(result[k]) for k in ("acc", "acc_norm", "acc_bytes")}
    metrics["centered"] = centered_accuracy(metrics["acc_norm"], [len(i.choices) for i in items])
    rows = [{"id": i.id, "gold": i.gold, "lls": ll, "pred": pred, "pred_norm": pred_norm}
            for i, ll, pred, pred_norm in zip(items, lls, result["pred"], result["pred_norm"],
                                              strict=True)]
    return metrics, rows


def _classify_results(task: Task, items: list[Item], lls: list[list[float]]
                      ) -> tuple[dict[str, float], Rows]:
    # Label words are short and fixed per task: their summed likelihood is the decision, as
    # a classifier's logit would be; no length normalisation.
    predictions = [max(range(len(ll)), key=ll.__getitem__) for ll in lls]
    golds = [i.gold for i in items]
    accuracy = sum(p == g for p, g in zip(predictions, golds, strict=True)) / len(items)
    labels = list(task.spec.labels)
    # centered on the most common label, not on a coin: on imbalanced data a model that
    # always says the majority label must score 0, not look skilled
    chance = baseline_accuracy("classify", items)
    centered = (accuracy - chance) / (1 - chance) if chance < 1 else 0.0
    metrics = {"acc": accuracy, "macro_f1": macro_f1(predictions, golds, len(labels)),
               "centered": centered}
    rows = [{"id": i.id, "gold": labels[i.gold], "pred": labels[p], "lls": ll}
            for i, p, ll in zip(items, predictions, lls, strict=True)]
    return metrics, rows


score_choice = functools.partial(_score_fitting, _choice_results)
score_classify = functools.partial(_score_fitting, _classify_results)


def _cut_at_stop(text: str, stops: Sequence[str]) -> str:
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    return (text[:cut] if cut >= 0 else text).strip()


def generate_text(model: Any, tokenizer: Any, task: Task, item: Item, index: int,
                  seed: int) -> str:
    from danlu.model.generate import special_token_id
    from danlu.model.stream import new_token_ids, prompt_ids, stop_ids, token_picker
    from danlu.tokens.chat import BOS, EOS

    spec = task.spec
    if spec.chat:
        prompt = prompt_ids(tokenizer, [{"role": "user", "content": item.context}])
        stops = stop_ids(model, tokenizer)
    else:
        bos = special_token_id(tokenizer, BOS)
        prompt = [bos, *tokenizer.encode(item.context, add_special_tokens=False)]
        # a base model ends a document by starting the next one
        stops = {special_token_id(tokenizer, EOS), bos}
    pick = token_picker(spec.temperature, 1.0, seed + index if spec.temperature else None)
    model.eval()
    ids = list(new_token_ids(model, tokenizer, prompt, max_new_tokens=spec.max_new_tokens,
                             pick=pick, stops=stops))
    return _cut_at_stop(tokenizer.decode(ids, skip_special_tokens=True), spec.stop)


def score_generate(model: Any, tokenizer: Any, task: Task, items: Sequence[Item], *,
                   seed: int = 0, **_: Any) -> tuple[dict[str, float], Rows, dict[str, str]]:
    from danlu.evaluate.textmetrics import generation_metrics, per_item_scores

    spec = task.spec
    predictions = [generate_text(model, tokenizer, task, item, n, seed)
                   for n, item in enumerate(items)]
    references = [list(i.references) for i in items]
    scores, signatures = generation_metrics(predictions, references, spec.metrics,
                                            bleu_tokenize=spec.bleu_tokenize)
    rows = [{"id": i.id, "prompt": i.context, "prediction": p, "references": list(i.references),
             **per_item_scores(p, list(i.references), spec.metrics,
                               bleu_tokenize=spec.bleu_tokenize)}
            for i, p in zip(items, predictions, strict=True)]
    return scores, rows, signatures


PRIMARY = {"perplexity": "bits_per_byte", "choice": "acc_norm", "classify": "acc"}


def primary_metric(task: Task) -> str:
    """The metric a task's bar shows; for generation the first metric the task lists."""
    return PRIMARY.get(task.kind) or task.spec.metrics[0]
