"""Direct preference optimisation (Rafailov et al. 2023) of the SFT model, the SFT model frozen
as the reference, with TRL's loss and metric names (rewards/chosen, rewards/rejected,
rewards/accuracies, rewards/margins, logps/...); then the DPO model's win rate against the
SFT model under the reward model, on held-out prompts."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from danlu.config.finetune import DpoConfig
from danlu.finetune import prompt
from danlu.finetune.data import split_examples
from danlu.finetune.pairs import (PairBatches, encode_pairs, ordered_pair_batches,
                                 pair_batches)
from danlu.finetune.preferences import read_preference_data
from danlu.finetune.publish import publish, shared_metrics
from danlu.finetune.sft import loop_settings, trainable_parameters
from danlu.finetune.win_rate import duel, identical, read_prompts, win_rate
from danlu.model.saved import is_prompt_folder, load_model, load_reward_model, save_model
from danlu.progress import progress_bar
from danlu.tracking.tracker import NullTracker, Tracker
from danlu.train.device import pick_device, set_threads
from danlu.train.loop import train
from danlu.train.losses import dpo_loss, reply_logps
from danlu.train.publish import jsonl_text

log = logging.getLogger("danlu.dpo")
DUELS_FILE = "win_rate.jsonl"


class DpoObjective(PairBatches):
    """DPO's sigmoid loss of the policy against a frozen reference, over pair batches."""

    def __init__(self, reference, beta: float, device: str):
        self.reference = reference.to(device).eval()
        self.beta = beta

    def loss(self, model, batch):
        import torch

        x, y, n = batch["x"], batch["y"], batch["pairs"]
        logps = reply_logps(model(input_ids=x, use_cache=False).logits[:, -x.size(1):], y)
        with torch.no_grad():
            ref = self.reference(input_ids=x, use_cache=False).logits[:, -x.size(1):]
            ref = reply_logps(ref, y)
        loss, chosen, rejected = dpo_loss(logps[:n], logps[n:], ref[:n], ref[n:], self.beta)
        return loss, {"rewards/chosen": chosen.mean(), "rewards/rejected": rejected.mean(),
                      "rewards/accuracies": (chosen > rejected).float().mean(),
                      "rewards/margins": (chosen - rejected).mean(),
                      "logps/chosen": logps[:n].detach().mean(),
                      "logps/rejected": logps[n:].detach().mean()}


@dataclass(frozen=True)
class DpoResult:
    out_dir: Path
    model_dir: Path
    metrics: dict[str, float]
    params: dict


def export(model, tokenizer, folder: Path) -> None:
    """folder/model in the layout of the SFT model it came from (a plain folder, or a
    prompt-learning folder with its base)."""
    if hasattr(model, "peft_config"):
        prompt.export(model, tokenizer, folder, base_ref=None)
    else:
        save_model(model, tokenizer, folder / "model")


def train_dpo(cfg: DpoConfig, sft_dir: Path, reward_dir: Path, data_paths: list[Path],
              prompts_path: Path, out_dir: Path, *, seed: int, threads: int = 0,
              tracker: Tracker | None = None, root: Path | None = None) -> DpoResult:
    """DPO of the model in `sft_dir` on the pairs in `data_paths`; out_dir/model, loss.csv,
    metrics.json, the quarantine and win_rate.jsonl (each held-out prompt's two replies and
    their scores under the reward model in `reward_dir`)."""
    import torch

    tracker = tracker or NullTracker()
    set_threads(threads)
    device = pick_device()
    torch.manual_seed(seed)
    policy, tokenizer = load_model(sft_dir, trainable=True)
    reference, _ = load_model(sft_dir)
    reference.requires_grad_(False)
    if not is_prompt_folder(sft_dir):  # a prompt-learning policy trains its virtual tokens
        policy.requires_grad_(True)
    max_length = min(cfg.max_length, _context(policy))
    data = read_preference_data(data_paths, root)
    encoded = encode_pairs(tokenizer, data.pairs, max_length)
    quarantined = data.quarantined + encoded.quarantined
    train_ex, val_ex = split_examples(encoded.examples, cfg.val_fraction, seed)
    prompts = read_prompts(prompts_path)
    pad_id = tokenizer.pad_token_id
    log.info("dpo: %d pairs (%d train, %d val; %d quarantined), beta %g, %d steps",
             len(data.pairs), len(train_ex), len(val_ex), len(quarantined), cfg.beta,
             cfg.max_steps)
    with progress_bar(cfg.max_steps, "dpo") as advance:
        history = train(policy, pair_batches(train_ex, cfg.batch_size, pad_id, seed),
                        loop_settings(cfg), device=device,
                        objective=DpoObjective(reference, cfg.beta, device),
                        val_batches=lambda: ordered_pair_batches(val_ex, cfg.batch_size, pad_id),
                        tracker=tracker, prefix="dpo",
                        progress=lambda step, row: advance(1, loss=row["loss"]))
    policy.to("cpu").eval()
    reference.to("cpu")
    reward_model, _ = load_reward_model(reward_dir)
    duels = duel(policy, reference, reward_model, tokenizer, prompts, cfg.max_new_tokens)
    last = history.evals[-1]
    metrics = {**shared_metrics(history, quarantined, encoded.truncated),
               **{f"val_{k}": last[f"val_{k}"] for k in (
                   "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins")},
               "win_rate": win_rate(duels), "win_rate_prompts": float(len(duels)),
               "win_rate_identical_replies": float(identical(duels)),
               "train_pairs": float(len(train_ex))}
    out_dir = publish(out_dir, lambda tmp: export(policy, tokenizer, tmp), history, metrics,
                      quarantined, {DUELS_FILE: jsonl_text([asdict(d) for d in duels])})
    log.info("dpo: held-out reward accuracy %.3f; win rate against SFT %.3f on %d prompts",
             metrics["val_rewards/accuracies"], metrics["win_rate"], len(duels))
    params = {"train_pairs": len(train_ex), "val_pairs": len(val_ex), "device": device,
              "trainable_params": trainable_parameters(policy)[0]}
    return DpoResult(out_dir, out_dir / "model", metrics, params)


def _context(model) -> int:
    """Room for tokens: the context, less a prompt-learning model's virtual tokens."""
    if not hasattr(model, "peft_config"):
        return model.config.max_position_embeddings
    virtual = getattr(model.active_peft_config, "num_virtual_tokens", 0) or 0
    return model.get_base_model().config.max_position_embeddings - virtual
