"""Prompt learning through peft, the base frozen: prompt tuning (Lester et al. 2021: learned
virtual token embeddings), P-tuning (Liu et al. 2021: the virtual tokens from a prompt
encoder) and prefix tuning (Li & Liang 2021; P-tuning v2: learned keys and values in every
layer). Nothing merges into the weights, so the model folder is peft's adapter folder with
the base model inside it (`base/`); danlu.model.saved.load_model loads the pair."""

from __future__ import annotations

from pathlib import Path

from danlu.config.finetune import FinetuneConfig
from danlu.model.saved import PROMPT_BASE_DIR, save_model


def peft_config(cfg: FinetuneConfig, base_ref: str):
    import peft

    p = cfg.prompt
    if cfg.method == "prompt_tuning":
        init = {"prompt_tuning_init": "TEXT", "prompt_tuning_init_text": p.init_text,
                "tokenizer_name_or_path": base_ref} if p.init_text else {}
        return peft.PromptTuningConfig(task_type="CAUSAL_LM",
                                       num_virtual_tokens=p.num_virtual_tokens, **init)
    if cfg.method == "p_tuning":
        return peft.PromptEncoderConfig(task_type="CAUSAL_LM",
                                        num_virtual_tokens=p.num_virtual_tokens,
                                        encoder_hidden_size=p.encoder_hidden_size)
    return peft.PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=p.num_virtual_tokens)


def prepare(model, cfg: FinetuneConfig, base_ref: str, tokenizer=None):
    from peft import get_peft_model

    config = peft_config(cfg, base_ref)
    if cfg.method == "prompt_tuning" and cfg.prompt.init_text:
        # peft would load the tokenizer by name; give it the one in hand
        config.tokenizer_name_or_path = getattr(tokenizer, "name_or_path", base_ref)
    return get_peft_model(model, config)


def export(peft_model, tokenizer, folder: Path, base_ref: str | None,
           base_dir: Path | None = None) -> None:
    """folder/model: adapter_config.json, the adapter weights, the tokenizer, and base/ (a
    copy of the base, so that the folder is whole). The adapter config names the base as the
    project does (`base_ref`; None keeps what it says), not by this machine's path."""
    model_dir = folder / "model"
    for config in peft_model.peft_config.values():
        if base_ref is not None:
            config.base_model_name_or_path = base_ref
        if getattr(config, "tokenizer_name_or_path", None):
            config.tokenizer_name_or_path = config.base_model_name_or_path
    peft_model.save_pretrained(str(model_dir), safe_serialization=True,
                               save_embedding_layers=False)  # never resized here
    tokenizer.save_pretrained(str(model_dir))
    save_model(peft_model.get_base_model(), tokenizer, model_dir / PROMPT_BASE_DIR)
