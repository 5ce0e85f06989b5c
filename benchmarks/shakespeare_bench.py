"""Quality per wall-clock second on the CPU: danlu's tiny preset against nanoGPT's CPU recipe
on tinyshakespeare, as validation bits per byte (tokenizer-independent).

Data: ../shared/data/tinyshakespeare/input.txt, nanoGPT's split (the first 90% of the
characters train, the rest validate; all ASCII, so a character is a byte).

  peer    gpt2_peer.py: nanoGPT's architecture and its README CPU recipe as baselines.md ran it
          (4 layers, 4 heads, width 128, context 64, batch 12, 65 characters, 2,000 steps,
          lr 1e-3 with 100 warmup steps and cosine to 1e-4, betas (0.9, 0.99), no dropout),
          in this process, so its wall clock is this machine's. Its validation loss is
          measured on the whole validation text (nanoGPT estimates it on 20 random batches).
  danlu   the whole danlu route inside the peer's wall clock: a byte-level BPE trained on the
          training text, the text encoded into token shards, the pretrain stage (`pretrain()`,
          tiny preset, the params given below) for as many steps as fit, and its final
          validation on the whole validation text. The steps are set from a 10-step timing
          on the same model before the run.

Also printed: baselines.md's figure for nanoGPT itself (2.7205 bits per byte after 146.9 s on
a 2-core machine like this one). The last line is `shakespeare_bits_per_byte_vs_nanogpt=D`,
danlu's bits per byte minus the same-run peer's (negative: danlu is better).

  .venv/bin/python benchmarks/shakespeare_bench.py [--vocab 1024] [--context 128] [--batch 16]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[1]
NANOGPT_BITS_PER_BYTE = 2.7205  # baselines.md: val loss 1.8857 nats/char
NANOGPT_SECONDS = 146.9


def data_root() -> Path:
    return Path(os.environ.get("DANLU_SHARED_DATA", REPO.parent / "shared" / "data"))


def run_peer(train: str, val: str, steps: int) -> dict:
    """nanoGPT's character-level recipe on the GPT-2-block peer; val loss on all of `val`."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from gpt2_peer import GPT2

    began = time.perf_counter()
    chars = sorted(set(train + val))
    index = {c: i for i, c in enumerate(chars)}
    tr = torch.tensor([index[c] for c in train], dtype=torch.long)
    va = torch.tensor([index[c] for c in val], dtype=torch.long)
    torch.manual_seed(1337)
    model = GPT2(len(chars), 64, 4, 128, 4)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.99))
    rng = np.random.default_rng(1337)
    for step in range(steps):
        lr = 1e-3 * (step + 1) / 100 if step < 100 else 1e-4 + 0.5 * (1e-3 - 1e-4) * (
            1 + math.cos(math.pi * (step - 100) / (steps - 100)))
        for group in opt.param_groups:
            group["lr"] = lr
        starts = rng.integers(0, len(tr) - 65, 12)
        x = torch.stack([tr[s:s + 64] for s in starts])
        y = torch.stack([tr[s + 1:s + 65] for s in starts])
        loss = F.cross_entropy(model(x).view(-1, len(chars)), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    train_seconds = time.perf_counter() - began
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(va) - 1, 64):
            x, y = va[s:s + 64][None], va[s + 1:s + 65][None]
            x = x[:, : y.size(1)]
            total += float(F.cross_entropy(model(x)[0], y[0], reduction="sum"))
            count += y.numel()
    nats = total / count
    return {"seconds": time.perf_counter() - began, "train_seconds": train_seconds,
            "val_loss": nats, "bits_per_byte": nats / math.log(2),
            "params": sum(p.numel() for p in model.parameters())}


def paragraphs(text: str) -> list[str]:
    """Speeches: the text cut after each blank line, so the pieces join back to the text."""
    parts, start = [], 0
    while (end := text.find("\n\n", start)) != -1:
        parts.append(text[start:end + 2])
        start = end + 2
    if start < len(text):
        parts.append(text[start:])
    return parts


def prepare(train: str, val: str, folder: Path, vocab: int) -> Path:
    """A tokenizer-stage folder: tokenizer/, shards/ (train: one document per speech; val: the
    whole validation text as one document) and stats.json."""
    from danlu.tokens.chat import BOS
    from danlu.tokenizer.encode import encode_texts
    from danlu.tokens.shards import write_shards
    from danlu.tokenizer.train import save_tokenizer, train_bpe

    stage = folder / "tokenizer-stage"
    docs = paragraphs(train)
    tokenizer = train_bpe(docs, vocab, 2)
    save_tokenizer(tokenizer, stage / "tokenizer")
    bos = tokenizer.token_to_id(BOS)
    write_shards(stage / "shards", "train", encode_texts(tokenizer, docs), tokenizer.get_vocab_size(),
                 bos_id=bos, max_tokens=10**9)
    val_ids = next(encode_texts(tokenizer, [val]))
    write_shards(stage / "shards", "val", [val_ids], tokenizer.get_vocab_size(), bos_id=bos,
                 max_tokens=10**9)
    (stage / "stats.json").write_text(json.dumps(
        {"val_bytes": len(val.encode()), "val_tokens": int(len(val_ids))}))
    return stage


def danlu_config(steps: int, args, val_tokens: int):
    from danlu.config import load_config

    overrides = [
        "model.preset=tiny", f"model.context_length={args.context}",
        f"train.batch_size={args.batch}", f"train.batch_tokens={args.batch * args.context}",
        f"train.max_steps={steps}", f"train.warmup_steps={min(30, steps // 10)}",
        f"train.lr={args.lr}", f"train.schedule={args.schedule}", "train.eval_every=1000000",
        f"train.eval_batches={val_tokens // (args.batch * args.context) + 1}",
        "train.checkpoint_every=0", "train.sample_tokens=0", "train.compile=false",
        "train.threads=0",
    ]
    return load_config(REPO / "params.yaml", overrides)


def step_seconds(stage: Path, args) -> float:
    """Seconds per optimizer step of the configured model, timed over 10 steps (after 3)."""
    from danlu.model.llama import build_model, llama_config
    from danlu.train.loop import LoopSettings, train
    from danlu.tokens.loader import TokenLoader

    from transformers import AutoTokenizer

    vocab = len(AutoTokenizer.from_pretrained(str(stage / "tokenizer")))
    config = llama_config("tiny", vocab_size=vocab, context_length=args.context, bos_id=0,
                          eos_id=1, pad_id=2)
    loader = TokenLoader(sorted((stage / "shards").glob("train-*.bin")), args.batch, args.context,
                         seed=0)
    history = train(build_model(config, seed=0), iter(loader), LoopSettings(
        max_steps=13, lr=1e-3, min_lr_ratio=1.0, warmup_steps=0, weight_decay=0.1, grad_clip=1.0,
        eval_every=10**9), device="cpu")
    return sum(r["step_ms"] for r in history.steps[3:]) / 10 / 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=1024)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--schedule", default="wsd")
    parser.add_argument("--peer-steps", type=int, default=2000)
    parser.add_argument("--budget", type=float, default=None,
                        help="danlu's seconds (default: the same-run peer's)")
    parser.add_argument("--no-peer", action="store_true", help="skip the peer (needs --budget)")
    args = parser.parse_args(argv)
    path = data_root() / "tinyshakespeare" / "input.txt"
    if not path.is_file():
        raise SystemExit(f"{path}: not found (set DANLU_SHARED_DATA)")
    text = path.read_text(encoding="utf-8")
    split = int(len(text) * 0.9)
    train, val = text[:split], text[split:]

    import torch

    from danlu.train.device import set_threads

    set_threads(0)
    print(f"tinyshakespeare: {len(train):,} train / {len(val):,} validation characters; "
          f"{torch.get_num_threads()} threads")
    if args.no_peer and not args.budget:
        raise SystemExit("--no-peer needs --budget SECONDS")
    peer = None if args.no_peer else run_peer(train, val, args.peer_steps)
    budget = args.budget or peer["seconds"]
    if peer:
        print(f"peer (nanoGPT's recipe, GPT-2 blocks, {peer['params'] / 1e6:.2f}M): "
              f"{peer['seconds']:.1f} s, val {peer['bits_per_byte']:.4f} bits/byte")

    from danlu.pretrain.run import pretrain

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="danlu-shakespeare-") as tmp:
        stage = prepare(train, val, Path(tmp), args.vocab)
        prepared = time.perf_counter() - began
        per_step = step_seconds(stage, args)
        val_tokens = json.loads((stage / "stats.json").read_text())["val_tokens"]
        # what is left, less the final validation (~ a forward per val batch) and start-up
        reserve = 4.0 + per_step / 3 * (val_tokens / (args.batch * args.context) + 1)
        steps = max(10, int((budget - (time.perf_counter() - began) - reserve) / per_step))
        cfg = danlu_config(steps, args, val_tokens)
        result = pretrain(cfg.model, cfg.train, stage, Path(tmp) / "pretrain", seed=cfg.seed)
        seconds = time.perf_counter() - began
        shutil.rmtree(Path(tmp) / "pretrain", ignore_errors=True)
    bpb = result.metrics["val_bits_per_byte"]
    print(f"danlu: tokenizer + shards {prepared:.1f} s, {steps} steps of {args.batch} x "
          f"{args.context} (vocab {args.vocab}, lr {args.lr}, {args.schedule}), "
          f"{result.metrics['n_params'] / 1e6:.2f}M parameters")
    print()
    print("| run | wall s | val bits/byte |")
    print("|---|---|---|")
    print(f"| nanoGPT itself (baselines.md, 2 cores) | {NANOGPT_SECONDS} | {NANOGPT_BITS_PER_BYTE} |")
    if peer:
        print(f"| nanoGPT's recipe, same run (GPT-2 blocks) | {peer['seconds']:.1f} | "
              f"{peer['bits_per_byte']:.4f} |")
    print(f"| danlu tiny, whole route | {seconds:.1f} | {bpb:.4f} |")
    print(f"shakespeare_bits_per_byte={bpb:.4f}")
    if peer:
        print(f"shakespeare_bits_per_byte_vs_nanogpt={bpb - peer['bits_per_byte']:+.4f}")


if __name__ == "__main__":
    main()
