"""Model sizes by one dial: a preset names the depth; width, heads, learning rate and batch follow."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    n_layer: int
    n_embd: int
    n_head: int
    n_kv_head: int
    ffn_mult: float  # SwiGLU hidden = ffn_mult * n_embd, rounded up to a multiple of 64
    tie_embeddings: bool
    lr: float  # peak AdamW learning rate the preset was tuned for
    batch_tokens: int  # tokens per optimizer step (over all devices)

    @property
    def intermediate_size(self) -> int:
        return -(-int(self.ffn_mult * self.n_embd) // 64) * 64


def _depth(depth: int, *, head_dim: int = 64, lr: float, batch_tokens: int) -> Preset:
    """A depth-named preset: width = 64 * depth (nanochat's aspect ratio), heads of 64 dims."""
    width = 64 * depth
    return Preset(depth, width, width // head_dim, width // head_dim, 8 / 3, False, lr,
                  batch_tokens)


PRESETS: dict[str, Preset] = {
    # CPU sample: learns the sample's text in about a minute on two cores.
    "tiny": Preset(n_layer=4, n_embd=128, n_head=4, n_kv_head=4, ffn_mult=3.0,
                   tie_embeddings=True, lr=3e-3, batch_tokens=2048),
    "d6": _depth(6, lr=1.5e-3, batch_tokens=131_072),
    # 768 wide, 12 heads: the GPT-2 small shape (~124M with GPT-2's vocab); GPT-2's ~0.5M batch
    "d12": _depth(12, lr=6e-4, batch_tokens=524_288),
    "d24": _depth(24, lr=3e-4, batch_tokens=524_288),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model preset {name!r}; known: {', '.join(PRESETS)}") from None
