"""Fine-tuning throughput, memory and quality: full fine-tuning, LoRA and prompt tuning in
danlu, and TRL's SFTTrainer (full fine-tuning) on the same model, examples, batches and steps,
in one run.

  .venv/bin/python benchmarks/finetune_bench.py                        # 60 steps, 2 rounds
  .venv/bin/python benchmarks/finetune_bench.py --steps 8 --rounds 1   # a quick look

Model: a danlu model folder (default outputs/pretrain/model, from `make run`). Data: every
record of alpaca-libre that read_sft_data keeps (all statuses), encoded as the sft stage does
(chat template, labels on assistant tokens, cut to --max-length) and split by id hash: the
--val-fraction part is the held-out set. The training batches are drawn once, as
shuffled_batches draws them (seeded shuffle, padded rows), and every engine trains on exactly
those: danlu's loop gets them from danlu.finetune.data.collate; TRL gets the same examples in
the same order (a sequential sampler, its own collator, which also pads to the longest row of
the batch), with labels -100 where ours are ignored, so both learn the same targets. Prompt
tuning's rows are cut to the context less its virtual tokens.

TRL is configured as danlu's loop runs: AdamW (0.9, 0.95; fused on CUDA), danlu's learning
rate at every step (a LambdaLR of danlu.train.schedule.lr_factor), clipping; no activation
checkpointing (SFTConfig's default recomputes activations, which danlu does not); fp32 on the
CPU (SFTConfig's default is bf16), bf16 autocast on CUDA as danlu; no logging, evaluation or
saving. What stays TRL's own: its collator (with an attention mask), its loss (TRL 1.16's
fused, chunked LM head, with entropy and top-1 metrics) and the Trainer around the step.

Each (engine, method) trains in a child process of its own, so that its memory is its own:
peak RSS and its rise over the RSS just before training on the CPU; torch's peak allocation
and its rise on CUDA. tokens/s counts each example's trained positions (its tokens less the
last, which is only a target), the same count for every engine, over the wall time from the
end of the first step (warm-up, left out) to the end of the last: loading the batch, forward,
backward, clipping, the optimizer and whatever the trainer does between steps. Rounds
alternate which engine goes first; medians over rounds are reported.

Quality: the held-out loss on assistant tokens (danlu.train.loop.validation_loss) of the base
model and of each trained model; SFT must beat the base, LoRA land within LORA_MARGIN nats of
full fine-tuning. DPO's win rate under the reward model is read from outputs/dpo/metrics.json
(the dpo stage of `make run`), not measured here. The last line is `finetune_vs_trl=RATIO`:
danlu full fine-tuning's tokens/s over TRL's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("full", "lora", "prompt_tuning")
# nats of held-out loss LoRA (params.yaml's rank and lr) may trail full fine-tuning by: on the
# 1.4M tiny model, tied embeddings are 38% of the weights and LoRA leaves them frozen (all but
# the chat tokens'), so full fine-tuning adapts far more (docs/LOG.md, 2026-12-03)
LORA_MARGIN = 0.50
NEVER = 10**9  # eval_every: no validation inside the timed loop
CHILD_FLAG = "--child"


def default_data() -> Path:
    shared = Path(os.environ.get("DANLU_SHARED_DATA", ROOT.parent / "shared" / "data"))
    return shared / "alpaca-libre"


def finetune_config(params: Path, method: str, steps: int, batch_size: int, max_length: int):
    from danlu.config.load import load_config

    overrides = [f"finetune.method={method}", f"finetune.max_steps={steps}",
                 f"finetune.batch_size={batch_size}", f"finetune.max_length={max_length}"]
    return load_config(params, overrides)


def plan_batches(examples: list, batch_size: int, steps: int, seed: int) -> list[list]:
    """The examples of each step as danlu.finetune.data.shuffled_batches draws them (a seeded
    shuffle each epoch, its ragged tail dropped), kept as examples so that TRL gets them too."""
    rng = random.Random(seed)
    order = list(examples)
    size = min(batch_size, len(order))
    plan: list[list] = []
    while len(plan) < steps:
        rng.shuffle(order)
        for i in range(0, len(order) - size + 1, size):
            plan.append(order[i:i + size])
            if len(plan) == steps:
                break
    return plan


def trained_positions(batch: list) -> int:
    return sum(len(e.input_ids) - 1 for e in batch)


# --- one measurement, in a child process --------------------------------------------------

def rss_mb() -> float:
    """Resident memory now (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class Memory:
    """Peak memory of the training that follows: RSS on the CPU, torch's allocator on CUDA."""

    def __init__(self, device: str):
        import torch

        self.cuda = device.startswith("cuda")
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated() / 2**20
        else:
            self.start = rss_mb()

    def peak(self) -> tuple[float, float]:
        """(peak MB, rise over the start MB)."""
        import torch

        if self.cuda:
            peak = torch.cuda.max_memory_allocated() / 2**20
        else:  # ru_maxrss: KiB on Linux, the whole life of the process
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak, max(0.0, peak - self.start)


def cut_for_prompt(examples: list, limit: int) -> list:
    """Examples cut to `limit` tokens: the virtual tokens take the rest of the context."""
    from danlu.finetune.data import Example

    return [e if len(e.input_ids) <= limit else Example(e.id, e.input_ids[:limit],
                                                          e.labels[:limit]) for e in examples]


def train_danlu(model, tokenizer, cfg, job: dict, batches: list, device: str) -> dict:
    from danlu.finetune.data import collate
    from danlu.finetune.sft import loop_settings, method_module
    from danlu.train.loop import train

    model = method_module(cfg.method).prepare(model, cfg, job["model"], tokenizer)
    stamps: list[float] = []
    settings = replace(loop_settings(cfg, cfg.method_lr), eval_every=NEVER)
    pad_id = tokenizer.pad_token_id
    memory = Memory(device)
    history = train(model, (collate(b, pad_id) for b in batches), settings, device=device,
                    progress=lambda step, row: stamps.append(time.perf_counter()))
    peak, rise = memory.peak()
    return {"model": model, "stamps": stamps, "peak_mb": peak, "rise_mb": rise,
            "first_loss": history.steps[0]["loss"], "last_loss": history.steps[-1]["loss"]}


def train_trl(model, tokenizer, cfg, job: dict, batches: list, device: str) -> dict:
    from datasets import Dataset
    from torch.optim.lr_scheduler import LambdaLR
    from torch.utils.data import SequentialSampler
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from danlu.finetune.sft import loop_settings
    from danlu.train.schedule import lr_factor

    settings = loop_settings(cfg, cfg.lr)

    stamps: list[float] = []
    losses: list = []

    class StepEnds(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

    class Matched(SFTTrainer):
        """Our batches in our order (Trainer's sampler shuffles) and our learning rate at every
        step (Trainer's warmup starts at 0, danlu's at peak / warmup_steps)."""

        def _get_train_sampler(self, train_dataset=None):
            return SequentialSampler(self.train_dataset if train_dataset is None else train_dataset)

        def create_scheduler(self, num_training_steps, optimizer=None):
            if self.lr_scheduler is None:
                self.lr_scheduler = LambdaLR(optimizer or self.optimizer, lambda step: lr_factor(
                    step, warmup_steps=settings.warmup_steps, max_steps=settings.max_steps,
                    min_lr_ratio=settings.min_lr_ratio, schedule=settings.schedule,
                    decay_fraction=settings.decay_fraction))
            return self.lr_scheduler

        def compute_loss(self, model, inputs, *args, **kwargs):
            loss = super().compute_loss(model, inputs, *args, **kwargs)
            losses.append(loss.detach())  # read after training: no sync inside a step
            return loss

    rows = [e for batch in batches for e in batch]
    dataset = Dataset.from_dict({"input_ids": [e.input_ids for e in rows],
                                 "labels": [e.labels for e in rows]})  # -100: not learned
    cuda = device.startswith("cuda")
    args = SFTConfig(
        output_dir=job["scratch"], max_steps=job["steps"],
        per_device_train_batch_size=job["batch_size"], gradient_accumulation_steps=1,
        learning_rate=settings.lr, weight_decay=settings.weight_decay, adam_beta1=0.9,
        adam_beta2=0.95, adam_epsilon=1e-8, max_grad_norm=settings.grad_clip,
        optim="adamw_torch_fused" if cuda else "adamw_torch", activation_checkpointing=False,
        bf16=cuda, use_cpu=not cuda, seed=job["seed"], data_seed=job["seed"],
        dataloader_drop_last=True, max_length=job["max_length"],
        dataset_kwargs={"skip_prepare_dataset": True}, logging_strategy="no",
        save_strategy="no", eval_strategy="no", report_to=[], disable_tqdm=True)
    trainer = Matched(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                      callbacks=[StepEnds()])
    memory = Memory(device)
    trainer.train()
    peak, rise = memory.peak()
    if trainer.args.activation_checkpointing or trainer.model.is_activation_checkpointing:
        raise RuntimeError("TRL ran with activation checkpointing: not what danlu does")
    return {"model": trainer.model, "stamps": stamps, "peak_mb": peak, "rise_mb": rise,
            "first_loss": float(losses[0]), "last_loss": float(losses[-1])}


def child(job_path: Path) -> None:
    """One (engine, method) measurement; its result as JSON beside the job."""
    import torch

    from danlu.finetune.data import ordered_batches
    from danlu.finetune.sft import trainable_parameters
    from danlu.model.saved import load_model
    from danlu.train.device import set_threads
    from danlu.train.loop import validation_loss

    job = json.loads(job_path.read_text())
    set_threads(job["threads"])
    torch.manual_seed(job["seed"])
    from danlu.finetune.data import Example

    inputs = json.loads(Path(job["inputs"]).read_text())  # JSON, never pickle, even between us
    batches = [[Example(**e) for e in batch] for batch in inputs["batches"]]
    val = [Example(**e) for e in inputs["val"]]
    model, tokenizer = load_model(Path(job["model"]))
    cfg = finetune_config(Path(job["params"]), job["method"], job["steps"], job["batch_size"],
                          job["max_length"]).finetune
    if job["method"] == "prompt_tuning":
        limit = model.config.max_position_embeddings - cfg.prompt.num_virtual_tokens
        batches = [cut_for_prompt(b, limit) for b in batches]
        val = cut_for_prompt(val, limit)
    trainer = train_danlu if job["engine"] == "danlu" else train_trl
    out = trainer(model, tokenizer, cfg, job, batches, job["device"])
    model, stamps = out.pop("model"), out.pop("stamps")
    if len(stamps) != job["steps"]:
        raise RuntimeError(f"{job['engine']} {job['method']}: {len(stamps)} steps ended, "
                           f"expected {job['steps']}")
    tokens = sum(trained_positions(b) for b in batches[1:])
    trainable, total = trainable_parameters(model)
    val_loss = validation_loss(
        model, lambda: ordered_batches(val, job["batch_size"], tokenizer.pad_token_id),
        job["device"])
    out.update(tokens_per_s=tokens / (stamps[-1] - stamps[0]), trainable=trainable,
               total=total, val_loss=val_loss, threads=torch.get_num_threads())
    job_path.with_suffix(".result.json").write_text(json.dumps(out))


def run_child(job: dict, work: Path) -> dict:
    name = f"{job['engine']}-{job['method']}-{job['round']}"
    path = work / f"{name}.json"
    path.write_text(json.dumps({**job, "scratch": str(work / name)}))
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), CHILD_FLAG, str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(path.with_suffix(".result.json").read_text())


# --- the run --------------------------------------------------------------------------------

def prepare_data(args, tokenizer, max_length: int):
    from danlu.finetune.data import encode_examples, split_examples
    from danlu.finetune.formats import read_sft_data

    data = read_sft_data(args.data)
    encoded = encode_examples(tokenizer, data.conversations, max_length)
    train_ex, val_ex = split_examples(encoded.examples, args.val_fraction, args.seed)
    print(f"data: {args.data}: {len(data.conversations):,} conversations kept, "
          f"{len(data.quarantined):,} quarantined; {len(encoded.examples):,} encoded "
          f"({encoded.truncated:,} cut to {max_length} tokens, {len(encoded.quarantined):,} "
          f"quarantined: no reply left); {len(train_ex):,} train, {len(val_ex):,} held out "
          f"({args.val_fraction:.0%} by id hash)")
    return train_ex, val_ex


def dpo_line(path: Path) -> str:
    if not path.is_file():
        return f"DPO win rate: absent ({path} not found; `make run` writes it)"
    metrics = json.loads(path.read_text())
    if "win_rate" not in metrics:
        return f"DPO win rate: absent from {path}"
    prompts = metrics.get("win_rate_prompts")
    return (f"DPO win rate under the reward model (DPO's replies vs SFT's): "
            f"{metrics['win_rate']:.1%}" + (f" of {prompts:.0f} prompts" if prompts else "") +
            f" (read from {path}, not measured in this run)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "outputs" / "pretrain" / "model")
    parser.add_argument("--data", type=Path, default=None,
                        help="SFT records (default: alpaca-libre in DANLU_SHARED_DATA or "
                             "../shared/data)")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda if present)")
    parser.add_argument("--val-fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=None, help="default: params.yaml's seed")
    parser.add_argument("--dpo-metrics", type=Path,
                        default=ROOT / "outputs" / "dpo" / "metrics.json")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error("--steps: at least 2 (the first step is warm-up, not timed)")
    args.data = args.data or default_data()
    if not (args.model / "config.json").is_file():
        raise SystemExit(f"{args.model}: no model folder (run `make run`, or pass --model)")

    import torch

    from danlu.finetune.data import ordered_batches
    from danlu.model.saved import load_model
    from danlu.train.device import set_threads
    from danlu.train.loop import validation_loss

    cfg = finetune_config(args.params, "full", args.steps, args.batch_size, args.max_length)
    args.seed = cfg.seed if args.seed is None else args.seed
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    set_threads(args.threads)
    torch.manual_seed(args.seed)
    model, tokenizer = load_model(args.model)
    context = model.config.max_position_embeddings
    max_length = min(args.max_length, context)
    train_ex, val_ex = prepare_data(args, tokenizer, max_length)
    plan = plan_batches(train_ex, args.batch_size, args.steps, args.seed)
    base_loss = validation_loss(
        model.to(device), lambda: ordered_batches(val_ex, args.batch_size, tokenizer.pad_token_id),
        device)
    n_params = sum(p.numel() for p in model.parameters())
    del model

    results: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="danlu-finetune-bench-") as tmp:
        work = Path(tmp)
        inputs = work / "inputs.json"
        inputs.write_text(json.dumps({"batches": [[asdict(e) for e in b] for b in plan],
                                      "val": [asdict(e) for e in val_ex]}))
        base_job = {"model": str(args.model.resolve()), "params": str(args.params.resolve()),
                    "inputs": str(inputs), "steps": args.steps, "batch_size": args.batch_size,
                    "max_length": max_length, "seed": args.seed, "threads": args.threads,
                    "device": device}
        for r in range(args.rounds):
            pair = [("danlu", "full"), ("trl", "full")]
            order = (pair if r % 2 == 0 else pair[::-1]) + [("danlu", m) for m in METHODS[1:]]
            for engine, method in order:
                job = {**base_job, "engine": engine, "method": method, "round": r}
                results.setdefault((engine, method), []).append(run_child(job, work))
    report(args, device, context, max_length, n_params, cfg.finetune, base_loss, results)


def report(args, device, context, max_length, n_params, cfg, base_loss, results) -> None:
    import torch

    def med(rows, key):
        return statistics.median(row[key] for row in rows)

    cuda = device.startswith("cuda")
    threads = {row["threads"] for rows in results.values() for row in rows}
    name = (f"{torch.cuda.get_device_name()} (bf16 autocast)" if cuda else
            f"CPU, {'/'.join(map(str, sorted(threads)))} threads (fp32)")
    print(f"device: {name}; torch {torch.__version__}")
    print(f"model: {args.model} ({n_params / 1e6:.2f}M parameters, context {context}); batch "
          f"{args.batch_size} padded rows of <= {max_length} tokens (prompt tuning: "
          f"{context - cfg.prompt.num_virtual_tokens}, beside its "
          f"{cfg.prompt.num_virtual_tokens} virtual tokens); {args.steps} steps, the first "
          f"untimed; median of {args.rounds} round(s), danlu and TRL alternating")
    memory = "peak alloc MB (+ in training)" if cuda else "peak RSS MB (+ in training)"
    print(f"| engine / method | trainable params | tokens/s (each round) | {memory} | "
          "held-out loss |")
    print("|---|---|---|---|---|")
    print(f"| base model (not trained) | - | - | - | {base_loss:.4f} |")
    rows = [(f"danlu {m}", ("danlu", m)) for m in METHODS] + \
        [("TRL SFTTrainer full", ("trl", "full"))]
    for label, key in rows:
        runs = results[key]
        each = ", ".join(f"{row['tokens_per_s']:,.0f}" for row in runs)
        print(f"| {label} | {runs[0]['trainable']:,} | {med(runs, 'tokens_per_s'):,.0f} "
              f"({each}) | {med(runs, 'peak_mb'):,.0f} (+{med(runs, 'rise_mb'):,.0f}) | "
              f"{med(runs, 'val_loss'):.4f} |")
    ours, trl = results[("danlu", "full")], results[("trl", "full")]
    print(f"same batches: first-step loss danlu {ours[0]['first_loss']:.4f}, TRL "
          f"{trl[0]['first_loss']:.4f}; last-step loss danlu {ours[0]['last_loss']:.4f}, "
          f"TRL {trl[0]['last_loss']:.4f}")
    full, lora = med(ours, "val_loss"), med(results[("danlu", "lora")], "val_loss")
    print(f"quality: SFT (full) held-out loss {full:.4f} vs base {base_loss:.4f}: "
          f"{'beats the base' if full < base_loss else 'does NOT beat the base'}; LoRA "
          f"{lora:.4f}, {lora - full:+.4f} from full: "
          f"{'within' if lora - full <= LORA_MARGIN else 'NOT within'} {LORA_MARGIN:.2f} nats")
    print(dpo_line(args.dpo_metrics))
    print(f"finetune_vs_trl={med(ours, 'tokens_per_s') / med(trl, 'tokens_per_s'):.2f}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == CHILD_FLAG:
        child(Path(sys.argv[2]))
    else:
        main()
