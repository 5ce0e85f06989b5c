"""LoRA through peft: low-rank updates of the chosen linear layers, the base frozen. Exported
twice: the adapter folder that `PeftModel.from_pretrained(base, folder)` loads, and the model
with the update merged in fp32 (merging in bf16 drifts: peft #1388), which loads anywhere with
AutoModelForCausalLM."""

from __future__ import annotations

from pathlib import Path

from danlu.config.finetune import FinetuneConfig
from danlu.model.saved import save_model
from danlu.tokens.chat import SPECIAL_TOKENS

ADAPTER_DIR = "adapter"


def prepare(model, cfg: FinetuneConfig, base_ref: str, tokenizer=None):
    from peft import LoraConfig, get_peft_model

    lora = cfg.lora
    targets = lora.target_modules
    special = None
    if lora.train_special_tokens and tokenizer is not None:
        special = sorted(set(tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS)))
    config = LoraConfig(task_type="CAUSAL_LM", r=lora.r, lora_alpha=lora.alpha,
                        lora_dropout=lora.dropout, bias="none",
                        target_modules=targets if isinstance(targets, str) else list(targets),
                        trainable_token_indices=special)
    return get_peft_model(model, config)


def save_adapter(peft_model, tokenizer, folder: Path, base_ref: str) -> None:
    """folder/adapter: peft's adapter files and the tokenizer; the base named as the project
    names it, not by this machine's absolute path."""
    for config in peft_model.peft_config.values():
        config.base_model_name_or_path = base_ref
    peft_model.save_pretrained(str(folder / ADAPTER_DIR), safe_serialization=True,
                               save_embedding_layers=False)  # never resized here
    tokenizer.save_pretrained(str(folder / ADAPTER_DIR))


def export(peft_model, tokenizer, folder: Path, base_ref: str, base_dir: Path) -> None:
    """folder/adapter (peft) and folder/model (merged, fp32)."""
    save_adapter(peft_model, tokenizer, folder, base_ref)
    merged = peft_model.float().merge_and_unload()
    save_model(merged, tokenizer, folder / "model")
