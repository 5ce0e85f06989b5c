#!/usr/bin/env bash
# One device call for issue 5's GPU target: tokens/s and MFU of the pretrain step on the GPU.
# Runs with the device image's own python3 (torch, transformers, numpy there; danlu's code
# from src/, no install: the trainer and the model import neither pydantic nor MLflow).
#
#   run: bash benchmarks/gpu_check.sh      (about 4-6 minutes on an H100/H200; rows stop by 580 s)
#
# Rows: the d12 preset (~124M with a 50,304 vocab, GPT-2 small's shape) at sequence length
# 1,024, bf16 autocast, fused AdamW, compiled and not; the target is >= 45% MFU on an H100
# (llm.c ~41%, nanochat 41-46%). Full output under $OUT when the device tool gives one.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python3}"
OUT_DIR="${OUT:-/tmp/danlu-gpu-check}"
mkdir -p "$OUT_DIR"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader | tee "$OUT_DIR/gpu.txt"
"$PY" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
# The card's own bf16 matmul ceiling (random data, 8192^3, median of 20 after 5): MFU is quoted
# against the datasheet peak; this says how much of it the card gives any program.
"$PY" - <<'PYEOF' 2>&1 | tee "$OUT_DIR/ceiling.txt"
import statistics, torch
a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
times = []
for i in range(25):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record(); a @ b; end.record(); torch.cuda.synchronize()
    if i >= 5:
        times.append(start.elapsed_time(end) / 1000)
print(f"bf16 matmul 8192^3: {2 * 8192**3 / statistics.median(times) / 1e12:.0f} TFLOP/s (median of 20)")
PYEOF

run() {  # name, seconds allowed, then pretrain_bench.py arguments (all rows fit 10 minutes)
  local name="$1" limit="$2"; shift 2
  echo "== $name: $*"
  timeout "$limit" "$PY" benchmarks/pretrain_bench.py "$@" > "$OUT_DIR/$name.log" 2>&1
  local rc=$?
  grep -E "^\| danlu|^device|^model|^FLOPs|pretrain_mfu|pretrain_tokens_per_s" "$OUT_DIR/$name.log"
  [ $rc -eq 0 ] || { echo "  failed ($rc):"; tail -15 "$OUT_DIR/$name.log"; }
}

D12=(--preset d12 --seq-len 1024 --vocab 50304 --device cuda)
run d12-compiled-b16 180 "${D12[@]}" --batch-size 16 --compile true --steps 30 --warmup 10
run d12-compiled-b32 180 "${D12[@]}" --batch-size 32 --compile true --steps 30 --warmup 10
# where the time goes, for the next change (inductor's cache makes this compile short)
run d12-profile-b16 120 "${D12[@]}" --batch-size 16 --compile true --steps 5 --warmup 5 \
  --profile "$OUT_DIR/d12-compiled-b16-profile.txt"
head -30 "$OUT_DIR/d12-compiled-b16-profile.txt" 2>/dev/null | cut -c1-150
run d12-eager-b16 100 "${D12[@]}" --batch-size 16 --compile false --steps 20 --warmup 5
