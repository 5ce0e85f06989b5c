"""QLoRA (Dettmers et al. 2023): LoRA over a base loaded in 4-bit NF4 through bitsandbytes,
computing in bf16; CUDA only. The merged export does not merge into 4-bit weights: it reloads
the base in fp32 and merges the adapter there (a quantised merge drifts: peft #1388)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from danlu.config.finetune import FinetuneConfig
from danlu.errors import ConfigError
from danlu.finetune import lora
from danlu.model.saved import load_model, load_tokenizer, save_model

ADAPTER_DIR = lora.ADAPTER_DIR


def missing() -> str | None:
    """Why QLoRA cannot run here, or None when it can."""
    import torch

    if not torch.cuda.is_available():
        return "no CUDA device here"
    if importlib.util.find_spec("bitsandbytes") is None:
        return "bitsandbytes is not installed (pip install bitsandbytes)"
    return None


def load(base_dir: Path):
    """The base in 4-bit NF4 on the first GPU, ready for k-bit training, and its tokenizer."""
    reason = missing()
    if reason:
        raise ConfigError(f"finetune.method=qlora needs CUDA and bitsandbytes: {reason}; use "
                          "finetune.method=lora (the same adapter over a bf16 or fp32 base)")
    import torch
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                      bnb_4bit_use_double_quant=True,
                                      bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(
        str(base_dir), quantization_config=quantization, device_map={"": 0},
        trust_remote_code=False, use_safetensors=True)
    return prepare_model_for_kbit_training(model), load_tokenizer(base_dir)


def prepare(model, cfg: FinetuneConfig, base_ref: str, tokenizer=None):
    return lora.prepare(model, cfg, base_ref, tokenizer)


def export(peft_model, tokenizer, folder: Path, base_ref: str, base_dir: Path) -> None:
    """folder/adapter as LoRA's; folder/model: the fp32 base with the adapter merged in."""
    from peft import PeftModel

    lora.save_adapter(peft_model, tokenizer, folder, base_ref)
    base, _ = load_model(base_dir)
    merged = PeftModel.from_pretrained(base, str(folder / ADAPTER_DIR)).merge_and_unload()
    save_model(merged, tokenizer, folder / "model")
