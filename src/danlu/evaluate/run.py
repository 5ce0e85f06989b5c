"""Evaluation: held-out metrics against a unigram baseline, chat samples, a report card."""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from danlu.atomic import atomic_dir
from danlu.config.evaluate import EvaluateConfig
from danlu.errors import ConfigError
from danlu.evaluate.samples import base_samples, chat_samples, chat_summary
from danlu.evaluate.inputs import read_heldout, read_prompts
from danlu.evaluate.lm import language_model_metrics, unigram_metrics
from danlu.evaluate.report import render_report
from danlu.model.saved import load_model
from danlu.model.stream import context_length as room_for_tokens
from danlu.tracking.tracker import Tracker

log = logging.getLogger("danlu.evaluate")

# Windows scored per forward pass; memory only, the metrics do not depend on it.
DEFAULT_BATCH_SIZE = 8
# Where the tracker files the report and samples among a run's artifacts.
ARTIFACT_FOLDER = "evaluate"


@dataclass(frozen=True)
class EvaluateResult:
    out_dir: Path
    metrics_path: Path
    report_path: Path
    samples_path: Path
    values: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """The flat numeric metrics, as MLflow takes them."""
        return dict(self.values)


def _check_context(model: Any, model_dir: Path, context_length: int) -> None:
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit is not None and context_length > limit:
        raise ConfigError(
            f"context_length {context_length} is longer than {model_dir} was built for ({limit})"
        )


def _flat_metrics(
    lm: dict[str, dict], summary: dict[str, float], num_prompts: int
) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, m in lm.items():
        values[f"{name}_loss"] = m["loss"]
        values[f"{name}_perplexity"] = m["perplexity"]
        values[f"{name}_bpb"] = m["bits_per_byte"]
        values[f"{name}_tokens"] = m["tokens"]
    values["heldout_bytes"] = lm["base"]["bytes"]
    values["chat_format_rate"] = summary["format_rate"]
    values["chat_rouge_l"] = summary["rouge_l"]
    values["chat_token_f1"] = summary["token_f1"]
    values["chat_prompts"] = num_prompts
    # Bits per byte, not loss: the unigram baseline and each model may tokenize differently.
    values["base_beats_unigram"] = int(lm["base"]["bits_per_byte"] < lm["unigram"]["bits_per_byte"])
    values["chat_beats_unigram"] = int(lm["chat"]["bits_per_byte"] < lm["unigram"]["bits_per_byte"])
    return values


def _write(out_dir: Path, values: dict, render, chats: list[dict], bases: list[dict]
           ) -> EvaluateResult:
    """metrics.json, report.md (rendered inside the atomic folder: a failure leaves the old
    outputs) and samples.jsonl, as one folder."""
    with atomic_dir(out_dir) as tmp:
        (tmp / "metrics.json").write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
        (tmp / "report.md").write_text(render(), encoding="utf-8")
        lines = [{"kind": "chat", **s} for s in chats] + [{"kind": "base", **s} for s in bases]
        (tmp / "samples.jsonl").write_text(
            "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8"
        )
    return EvaluateResult(out_dir=out_dir, metrics_path=out_dir / "metrics.json",
                          report_path=out_dir / "report.md",
                          samples_path=out_dir / "samples.jsonl", values=values)


def evaluate(
    cfg: EvaluateConfig,
    base_model_dir: Path,
    chat_model_dir: Path,
    unigram_counts: np.ndarray,
    out_dir: Path,
    *,
    context_length: int,
    tracker: Tracker | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    root: Path | None = None,
) -> EvaluateResult:
    """Score both models on held-out text and the chat model on prompts; write out_dir whole.

    Relative paths in `cfg` are taken from `root` (the project root; default: the working folder).
    """
    import torch

    torch.manual_seed(0)
    root = Path(root) if root is not None else Path.cwd()
    heldout = read_heldout(root / cfg.heldout)
    prompts = read_prompts(root / cfg.prompts)
    base_model, base_tokenizer = load_model(base_model_dir)
    chat_model, chat_tokenizer = load_model(chat_model_dir)
    _check_context(base_model, base_model_dir, context_length)
    _check_context(chat_model, chat_model_dir, context_length)

    texts = [p["text"] for p in heldout]
    log.info("scoring %d held-out passages", len(texts))
    lm = {
        "unigram": unigram_metrics(unigram_counts, base_tokenizer, texts),
        "base": language_model_metrics(
            base_model, base_tokenizer, texts, context_length=context_length, batch_size=batch_size
        ),
        # a prompt-learning chat model's virtual tokens take places in its context
        "chat": language_model_metrics(
            chat_model, chat_tokenizer, texts, batch_size=batch_size,
            context_length=min(context_length, room_for_tokens(chat_model)),
        ),
    }
    log.info("generating replies to %d prompts", len(prompts))
    chats = chat_samples(chat_model, chat_tokenizer, prompts, max_new_tokens=cfg.max_new_tokens)
    summary = chat_summary(chats)
    shown = heldout[: cfg.num_samples]
    continuations = base_samples(
        base_model, base_tokenizer, [p["text"] for p in shown], max_new_tokens=cfg.max_new_tokens
    )
    bases = [{"id": p["id"], **c} for p, c in zip(shown, continuations, strict=True)]
    values = _flat_metrics(lm, summary, len(prompts))

    render = functools.partial(render_report, lm, summary, chats, bases,
                               num_samples=cfg.num_samples)
    result = _write(Path(out_dir), values, render, chats, bases)
    if tracker is not None:  # the runner logs the metrics
        for path in (result.metrics_path, result.report_path, result.samples_path):
            tracker.log_artifact(path, ARTIFACT_FOLDER)
    log.info(
        "bits per byte: unigram %.4f, base %.4f, chat %.4f; chat format %.0f%%, ROUGE-L %.3f",
        values["unigram_bpb"], values["base_bpb"], values["chat_bpb"],
        100 * values["chat_format_rate"], values["chat_rouge_l"],
    )
    return result
