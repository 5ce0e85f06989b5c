"""The reward model (InstructGPT's RM): the SFT (or pretrained) model's body under a scalar
head, trained with the pairwise Bradley-Terry loss to score the chosen reply above the
rejected one; held-out pairwise accuracy and margin; saved as a folder that
AutoModelForSequenceClassification loads."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from danlu.config.finetune import RewardConfig
from danlu.finetune.data import split_examples
from danlu.finetune.pairs import (PairBatches, encode_pairs, ordered_pair_batches,
                                 pair_batches)
from danlu.finetune.preferences import read_preference_data
from danlu.finetune.publish import publish, shared_metrics
from danlu.finetune.sft import loop_settings
from danlu.model.saved import PROMPT_BASE_DIR, is_prompt_folder, load_weights
from danlu.progress import progress_bar
from danlu.tracking.tracker import NullTracker, Tracker
from danlu.train.device import pick_device, set_threads
from danlu.train.loop import train
from danlu.train.losses import pairwise_loss

log = logging.getLogger("danlu.reward")


class PairwiseObjective(PairBatches):
    """Bradley-Terry over batches of pairs (chosen rows first); accuracy and margin beside."""

    def loss(self, model, batch):
        scores = model(input_ids=batch["ids"]).logits.squeeze(-1)
        n = batch["pairs"]
        chosen, rejected = scores[:n], scores[n:]
        return pairwise_loss(chosen, rejected), {
            "accuracy": (chosen > rejected).float().mean(),
            "margin": (chosen - rejected).float().mean()}


@dataclass(frozen=True)
class RewardResult:
    out_dir: Path
    model_dir: Path
    metrics: dict[str, float]
    params: dict


def reward_body(model_dir: Path) -> Path:
    """The folder whose weights the reward model starts from: a prompt-learning SFT folder's
    virtual tokens mean nothing to a scoring head, so its base."""
    return Path(model_dir) / PROMPT_BASE_DIR if is_prompt_folder(model_dir) else Path(model_dir)


def load_for_scoring(model_dir: Path):
    """A causal LM folder as AutoModelForSequenceClassification with one output (a new
    head), and its tokenizer."""
    # transformers reports the new head as a missing weight, in a table, and as a layer its
    # tensor-parallel plan does not shard: it is meant to be new
    loggers = [logging.getLogger(f"transformers.{name}")
               for name in ("modeling_utils", "distributed.tensor_parallel")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        model, tokenizer = load_weights(model_dir, "AutoModelForSequenceClassification",
                                        num_labels=1)
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
    model.config.pad_token_id = tokenizer.pad_token_id  # the score is read at the last real token
    return model, tokenizer


def train_reward(cfg: RewardConfig, base_model_dir: Path, data_paths: list[Path], out_dir: Path,
                 *, seed: int, threads: int = 0, tracker: Tracker | None = None,
                 root: Path | None = None) -> RewardResult:
    import torch

    tracker = tracker or NullTracker()
    set_threads(threads)
    device = pick_device()
    torch.manual_seed(seed)
    body = reward_body(base_model_dir)
    model, tokenizer = load_for_scoring(body)
    max_length = min(cfg.max_length, model.config.max_position_embeddings)
    data = read_preference_data(data_paths, root)
    encoded = encode_pairs(tokenizer, data.pairs, max_length)
    quarantined = data.quarantined + encoded.quarantined
    train_ex, val_ex = split_examples(encoded.examples, cfg.val_fraction, seed)
    pad_id = tokenizer.pad_token_id
    log.info("reward: %d pairs (%d train, %d val; %d quarantined, %d truncated) on %s, %d steps",
             len(data.pairs), len(train_ex), len(val_ex), len(quarantined), encoded.truncated,
             body, cfg.max_steps)
    objective = PairwiseObjective()
    with progress_bar(cfg.max_steps, "reward") as advance:
        history = train(model, pair_batches(train_ex, cfg.batch_size, pad_id, seed),
                        loop_settings(cfg), device=device, objective=objective,
                        val_batches=lambda: ordered_pair_batches(val_ex, cfg.batch_size, pad_id),
                        tracker=tracker, prefix="reward",
                        progress=lambda step, row: advance(1, loss=row["loss"]))
    last = history.evals[-1]
    metrics = {**shared_metrics(history, quarantined, encoded.truncated),
               "val_accuracy": last["val_accuracy"], "val_margin": last["val_margin"],
               "first_val_accuracy": history.evals[0]["val_accuracy"],
               "train_pairs": float(len(train_ex)), "val_pairs": float(len(val_ex))}
    model.to("cpu")

    def save(tmp: Path) -> None:
        model.save_pretrained(str(tmp / "model"), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp / "model"))

    out_dir = publish(out_dir, save, history, metrics, quarantined)
    log.info("reward: held-out accuracy %.3f, margin %.3f", metrics["val_accuracy"],
             metrics["val_margin"])
    params = {"train_pairs": len(train_ex), "val_pairs": len(val_ex), "device": device}
    return RewardResult(out_dir, out_dir / "model", metrics, params)
