"""Pretraining throughput: tokens/s and MFU of danlu's training step (the stage's own `train`
loop: AdamW, clipping, bf16 autocast on CUDA, torch.compile) for a preset, sequence length and
device, on random tokens (the loader is measured in tokenizer_bench.py: far faster).

  .venv/bin/python benchmarks/pretrain_bench.py --shape nanogpt            # CPU: against nanoGPT
  .venv/bin/python benchmarks/pretrain_bench.py --preset d12 --seq-len 1024 --batch-size 16 \\
      --vocab 50304 --device cuda --compile                                  # GPU: MFU

`--shape nanogpt` is baselines.md's nanoGPT CPU recipe (4 layers, 4 heads, width 128, context
64, batch 12, 65 characters): our tiny preset has that shape (SwiGLU 384 wide where nanoGPT's
GELU MLP is 512, RMSNorm, RoPE). In the same run, gpt2_peer.py trains nanoGPT's architecture
(GPT-2 blocks) of that shape with nanoGPT's loop, for a same-machine ratio; baselines.md's
12,245 tokens/s for nanoGPT itself on a 2-core machine like this one is printed beside it.

tokens/s and MFU are medians over the steps after --warmup (compilation, allocator warm-up).
MFU uses danlu's FLOPs per token (train/throughput.py: 6 x matmul weights + attention) and
the detected GPU's dense bf16 peak, or --peak-tflops. The last lines are
`pretrain_tokens_per_s=N` and, with a peak, `pretrain_mfu=F`.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nanogpt_peer import nanogpt_dir, prepare  # noqa: E402
from nanogpt_peer import run as run_nanogpt  # noqa: E402


def random_batches(vocab: int, batch: int, seq: int, device: str):
    import torch

    g = torch.Generator().manual_seed(0)
    while True:
        x = torch.randint(0, vocab, (batch, seq + 1), generator=g)
        yield x[:, :-1].to(device, non_blocking=True), x[:, 1:].to(device, non_blocking=True)


PROFILED = 5


@contextlib.contextmanager
def profiler(path: Path | None, device: str, skip: int):
    """A per-step callback for train(): with a path, torch.profiler records PROFILED steps
    after `skip` (and 2 of warm-up), then writes its operator table there, by self time on
    the device (the CPU's without a GPU), and prints its first rows."""
    if path is None:
        yield lambda step, row: None
        return
    import torch
    from torch.profiler import ProfilerActivity, profile, schedule

    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities,
                 schedule=schedule(wait=skip, warmup=2, active=PROFILED, repeat=1)) as prof:
        yield lambda step, row: prof.step()
    sort = "self_device_time_total" if cuda else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=sort, row_limit=40, max_name_column_width=70)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{PROFILED} steps, torch {torch.__version__}, sorted by {sort}\n{table}\n",
                    encoding="utf-8")
    print("\n".join(table.splitlines()[:16]))


def danlu_run(args, device: str, compile_model: bool, profile: Path | None = None):
    """Steps of danlu's training loop on a fresh model; -> (ms per step after --warmup, config,
    parameter count, FLOPs per token, peak FLOP/s)."""
    from danlu.model.llama import build_model, count_parameters, llama_config
    from danlu.train.loop import LoopSettings, train
    from danlu.train.throughput import Throughput, flops_per_token, peak_flops

    config = llama_config(args.preset, vocab_size=args.vocab, context_length=args.seq_len,
                          bos_id=0, eos_id=1, pad_id=2)
    model = build_model(config, seed=0)
    per_token = flops_per_token(config, args.seq_len)
    peak = peak_flops(device, args.peak_tflops)
    timed_steps = args.warmup + args.steps
    settings = LoopSettings(max_steps=timed_steps + (PROFILED + 2 if profile else 0),
                            lr=1e-3, min_lr_ratio=1.0, warmup_steps=0, weight_decay=0.1,
                            grad_clip=1.0, eval_every=10**9)
    with profiler(profile, device, timed_steps) as on_step:
        history = train(model, random_batches(args.vocab, args.batch_size, args.seq_len, device),
                        settings, device=device, compile_model=compile_model,
                        throughput=Throughput(per_token, peak), progress=on_step)
    ms = [r["step_ms"] for r in history.steps[args.warmup:timed_steps]]  # profiled steps: slower
    return ms, config, count_parameters(model), per_token, peak


def resolve_compile(choice: str, device: str, run_steps: int) -> bool:
    """--compile auto decides as the pretrain stage's train.compile: auto would (with
    params.yaml's compile_cpu_min_steps) for a run of `run_steps` steps. Decided here without
    danlu's config for true, false and CUDA: the GPU image has no pydantic."""
    if choice != "auto":
        return choice == "true"
    if device.startswith("cuda"):
        return True
    from danlu.config.load import load_config
    from danlu.pretrain.plan import compile_decision

    train = load_config(Path(__file__).resolve().parents[1] / "params.yaml").train
    return compile_decision(choice, device, run_steps, train.compile_cpu_min_steps)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=["nanogpt"], help="a named peer's model shape")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=50304)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda if present)")
    parser.add_argument("--compile", default="auto", choices=["auto", "true", "false"],
                        help="as train.compile; auto decides as the stage would for a run of "
                             "--run-steps steps")
    parser.add_argument("--run-steps", type=int, default=None,
                        help="the run length that --compile auto decides for (default: "
                             "nanoGPT's recipe, 2,000, with --shape nanogpt; else --steps)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--nanogpt", default=None,
                        help="a karpathy/nanoGPT checkout (or NANOGPT_DIR): run it side by side")
    parser.add_argument("--rounds", type=int, default=None,
                        help="alternate danlu and the peer this many times (default: 3 with a "
                             "peer, else 1)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="after the timed steps, profile 5 more (torch.profiler) and write "
                             "the operators by self time to this file")
    args = parser.parse_args(argv)
    if args.shape == "nanogpt":
        args.preset, args.seq_len, args.batch_size, args.vocab = "tiny", 64, 12, 65
    run_steps = args.run_steps or (NANOGPT_RECIPE_STEPS if args.shape == "nanogpt" else args.steps)

    import torch

    from danlu.train.device import set_threads

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    set_threads(args.threads)
    compiled = resolve_compile(args.compile, device, run_steps)
    checkout = nanogpt_dir(args.nanogpt) if args.shape == "nanogpt" else None
    rounds = args.rounds or (3 if args.shape == "nanogpt" else 1)
    ours, peer_ms, peer_name = [], [], None
    work = Path(tempfile.mkdtemp(prefix="danlu-nanogpt-"))
    try:
        if checkout is not None:
            prepare(checkout, work, shared_text())
        for r in range(rounds):
            if args.shape == "nanogpt":
                peer_name, ms = peer_round(args, device, checkout, work)
                peer_ms.append(statistics.median(ms))
            ms, config, n_params, per_token, peak = danlu_run(
                args, device, compiled, args.profile if r == rounds - 1 else None)
            ours.append(statistics.median(ms))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(args, device, compiled, run_steps, ours, peer_ms, peer_name, config, n_params,
           per_token, peak)


NANOGPT_RECIPE_STEPS = 2000  # baselines.md: nanoGPT's CPU recipe runs 2,000 iterations


def shared_text() -> Path:
    import os

    root = Path(os.environ.get("DANLU_SHARED_DATA", Path(__file__).resolve().parents[2] /
                               "shared" / "data"))
    path = root / "tinyshakespeare" / "input.txt"
    if not path.is_file():
        raise SystemExit(f"{path}: not found (set DANLU_SHARED_DATA); nanoGPT trains on it")
    return path


def peer_round(args, device: str, checkout: Path | None, work: Path) -> tuple[str, list[float]]:
    """One round of the peer: the real nanoGPT when a checkout is given, else GPT-2 blocks of
    that shape with nanoGPT's loop in this process (gpt2_peer.py)."""
    if checkout is not None:
        run = run_nanogpt(work, args.warmup + args.steps)
        return "nanoGPT itself (its train.py, same machine, alternating)", run.iter_ms[args.warmup:]
    import torch
    from gpt2_peer import GPT2, step_ms

    torch.manual_seed(0)
    peer = GPT2(args.vocab, args.seq_len, 4, 128, 4)
    ms = step_ms(peer, random_batches(args.vocab, args.batch_size, args.seq_len, device),
                 args.steps, args.warmup, device)
    return "GPT-2 blocks (nanoGPT's architecture, our copy; no --nanogpt given)", ms


def report(args, device, compiled, run_steps, ours, peer_ms, peer_name, config, n_params,
           per_token, peak) -> None:
    import torch

    step_tokens = args.batch_size * args.seq_len
    ms = statistics.median(ours)
    tokens_per_s = step_tokens * 1000 / ms
    name = torch.cuda.get_device_name() if device.startswith("cuda") else \
        f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; compile={compiled} "
          f"(--compile {args.compile}, for a run of {run_steps} steps)")
    print(f"model: {args.preset} ({config.num_hidden_layers} layers, width {config.hidden_size}, "
          f"{config.num_attention_heads} heads), vocab {args.vocab}, {n_params / 1e6:.2f}M "
          f"parameters; batch {args.batch_size} x {args.seq_len}")
    print(f"FLOPs per token: {per_token / 1e6:.1f} M; peak: " +
          (f"{peak / 1e12:.0f} TFLOP/s" if peak else "unknown"))
    print(f"| model ({args.steps} steps after {args.warmup}; median of {len(ours)} rounds) | "
          "ms/step (each round) | tokens/s | MFU |")
    print("|---|---|---|---|")
    mfu = tokens_per_s * per_token / peak if peak else None
    print(f"| danlu {args.preset} (Llama) | {ms:.1f} ({', '.join(f'{m:.1f}' for m in ours)}) | "
          f"{tokens_per_s:,.0f} | {f'{mfu:.1%}' if mfu is not None else 'n/a'} |")
    if peer_ms:
        peer = statistics.median(peer_ms)
        print(f"| {peer_name} | {peer:.1f} ({', '.join(f'{m:.1f}' for m in peer_ms)}) | "
              f"{step_tokens * 1000 / peer:,.0f} | n/a |")
        print(f"pretrain_vs_nanogpt={peer / ms:.2f}")
    print(f"pretrain_tokens_per_s={tokens_per_s:.0f}")
    if mfu is not None:
        print(f"pretrain_mfu={mfu:.4f}")


if __name__ == "__main__":
    main()
