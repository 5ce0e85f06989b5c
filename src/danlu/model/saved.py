"""A model folder: safetensors weights, config, generation config and the tokenizer, as
`save_pretrained` writes them. Every stage, the registry and `danlu chat` load models here, and
never with remote code: the folder loads anywhere with AutoModelForCausalLM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from danlu.errors import DataError
from danlu.tokens.chat import BOS, END, EOS, PAD

PROMPT_BASE_DIR = "base"  # a prompt-learning folder: peft's adapter files, the base model here
ADAPTER_CONFIG = "adapter_config.json"


def generation_ids(tokenizer) -> dict[str, int | list[int]]:
    """Ids for generation_config: a reply stops at <|end|> (chat) or <|eos|>."""
    bos, eos, pad, end = tokenizer.convert_tokens_to_ids([BOS, EOS, PAD, END])
    return {"bos_token_id": bos, "eos_token_id": [end, eos], "pad_token_id": pad}


def save_model(model, tokenizer, model_dir: Path) -> None:
    """safetensors weights, config, generation config and the tokenizer in one folder."""
    for key, value in generation_ids(tokenizer).items():
        setattr(model.generation_config, key, value)
    model.save_pretrained(str(model_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(model_dir))


def load_tokenizer(folder: Path, context_length: int | None = None):
    """The tokenizer saved in `folder` (a model folder or the tokenizer stage's)."""
    from transformers import AutoTokenizer

    folder = Path(folder)
    if not (folder / "tokenizer.json").is_file():
        raise DataError(f"{folder}: no tokenizer.json; run the stage that writes it")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if context_length is not None:
        tokenizer.model_max_length = context_length
    return tokenizer


def is_prompt_folder(model_dir: Path) -> bool:
    """A peft prompt-learning folder (prompt, P- or prefix tuning): adapter files and base/."""
    model_dir = Path(model_dir)
    return (model_dir / ADAPTER_CONFIG).is_file() and (model_dir / PROMPT_BASE_DIR).is_dir()


def load_model(model_dir: Path, *, dtype: str = "float32", trainable: bool = False
               ) -> tuple[Any, Any]:
    """A saved causal LM and the tokenizer beside it, in eval mode (weights only: a folder
    without safetensors, or one that asks for remote code, is refused by transformers).
    A prompt-learning folder loads as peft's model around its base/ (adapter weights
    trainable when `trainable`)."""
    model_dir = Path(model_dir)
    if is_prompt_folder(model_dir):
        from peft import PeftConfig, PeftModel

        base, tokenizer = load_model(model_dir / PROMPT_BASE_DIR, dtype=dtype)
        try:
            config = PeftConfig.from_pretrained(str(model_dir))
            if str(getattr(config, "prompt_tuning_init", "")).endswith("TEXT"):
                # trainable, peft would initialise from the text again, loading a tokenizer
                # by the name in the config; the saved embeddings replace it anyway
                config.prompt_tuning_init = "RANDOM"
            model = PeftModel.from_pretrained(base, str(model_dir), config=config,
                                              is_trainable=trainable)
        except (OSError, ValueError) as exc:
            raise DataError(f"{model_dir}: cannot load the prompt adapter ({exc})") from exc
        model.eval()
        return model, tokenizer
    return load_weights(model_dir, "AutoModelForCausalLM", dtype=dtype,
                        missing="no model here (expected config.json and weights); run the "
                        "stage that writes it")


def load_reward_model(model_dir: Path, *, dtype: str = "float32") -> tuple[Any, Any]:
    """A saved reward model (a causal LM's body with a one-output score head, as
    AutoModelForSequenceClassification loads it) and its tokenizer, in eval mode."""
    return load_weights(model_dir, "AutoModelForSequenceClassification", dtype=dtype,
                        missing="no reward model here; run the reward stage")


def load_weights(model_dir: Path, auto_class: str, *, dtype: str = "float32",
                 missing: str = "no model here", **kwargs) -> tuple[Any, Any]:
    """A folder's model through transformers' `auto_class` (safetensors only, no remote code;
    `kwargs` go to from_pretrained) and its tokenizer, in eval mode; a folder without
    config.json, or one transformers refuses, is a DataError naming it."""
    import torch
    import transformers

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise DataError(f"{model_dir}: {missing}")
    tokenizer = load_tokenizer(model_dir)
    try:
        model = getattr(transformers, auto_class).from_pretrained(
            str(model_dir), dtype=getattr(torch, dtype), trust_remote_code=False,
            use_safetensors=True, **kwargs)
    except (OSError, ValueError) as exc:
        raise DataError(f"{model_dir}: cannot load the model ({exc})") from exc
    model.eval()
    return model, tokenizer
