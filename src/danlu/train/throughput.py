"""Model FLOPs utilization: the training FLOPs a model needs per token, and the peak the
hardware could deliver, so that MFU = achieved FLOP/s / peak FLOP/s.

FLOPs per token (PaLM, appendix B; what nanoGPT and nanochat report): 6 per weight that
multiplies an activation (forward 2, backward 4), the token embedding lookup excluded and the
output projection included (tied or not), plus 12 * layers * width * seq_len for attention
scores and their use. Rematerialization is not counted (that would be hardware FLOPs).

Peaks are dense bf16 tensor-core figures from the vendors' data sheets (without sparsity);
the detected GPU's name picks one. An unknown GPU, or the CPU, has no peak unless
`train.peak_tflops` gives one: MFU is then not reported rather than guessed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger("danlu.train")


@dataclass(frozen=True)
class Throughput:
    """What MFU needs: training FLOPs per token and one device's peak FLOP/s (None: unknown)."""

    flops_per_token: float
    peak_flops: float | None


# Substring of torch.cuda.get_device_name() -> dense bf16 TFLOP/s. Most specific first.
GPU_PEAK_TFLOPS: list[tuple[str, float]] = [
    ("GH200", 989.0),
    ("H200 NVL", 835.0),  # the PCIe card: 1,671 with sparsity
    ("H200", 989.0),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),  # SXM ("NVIDIA H100 80GB HBM3")
    ("H800", 989.0),
    ("H20", 148.0),
    ("B200", 2250.0),
    ("B100", 1750.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("A6000", 155.0),  # RTX A6000
    ("RTX 6000 Ada", 364.0),
    ("RTX 4090", 165.0),
    ("RTX 3090", 71.0),
    ("MI300X", 1307.0),
    ("MI250X", 383.0),
]


def flops_per_token(config, seq_len: int) -> float:
    """Training FLOPs per token of a LlamaConfig-shaped `config` at sequence length seq_len."""
    d, layers = config.hidden_size, config.num_hidden_layers
    head_dim = getattr(config, "head_dim", None) or d // config.num_attention_heads
    q = config.num_attention_heads * head_dim
    kv = config.num_key_value_heads * head_dim
    per_layer = d * q + 2 * d * kv + q * d + 3 * d * config.intermediate_size
    matmul_weights = layers * per_layer + d * config.vocab_size  # + output projection
    return 6.0 * matmul_weights + 12.0 * layers * q * seq_len


def gpu_peak_tflops(name: str) -> float | None:
    for key, tflops in GPU_PEAK_TFLOPS:
        if key.lower() in name.lower():
            return tflops
    return None


def peak_flops(device: str, override_tflops: float | None = None) -> float | None:
    """Peak FLOP/s of one device: the override, else the detected GPU's, else None."""
    if override_tflops:
        return override_tflops * 1e12
    if not device.startswith("cuda"):
        return None
    import torch

    name = torch.cuda.get_device_name(torch.device(device))
    tflops = gpu_peak_tflops(name)
    if tflops is None:
        log.warning("MFU: no peak known for GPU %r; set train.peak_tflops to report MFU", name)
        return None
    return tflops * 1e12


def mfu(tokens_per_s: float, per_token: float, peak: float | None, devices: int = 1) -> float | None:
    """Share of the devices' peak that `tokens_per_s` (all devices together) achieves."""
    if not peak:
        return None
    return tokens_per_s * per_token / (peak * devices)
