"""Each fine-tuning method end to end on the tiny model: what it trains, what it leaves, and
that what it leaves loads where users load it (transformers, peft) and generates alike with
and without the KV cache."""

import json
from pathlib import Path

import pytest
import torch

from danlu.finetune.sft import sft
from danlu.model.saved import load_model
from danlu.model.stream import greedy_ids

PROMPT = [{"role": "user", "content": "What does str.split do?"}]


def run_sft(section, lively_model_dir, conversations_file, out: Path, method: str, *extra):
    cfg = section("finetune", f"method={method}", "max_steps=4", "batch_size=4",
                  "eval_every=2", "max_length=48", "prompt.num_virtual_tokens=4",
                  "prompt.lr=0.3", "lora.lr=0.05", *extra)
    return sft(cfg, lively_model_dir, [conversations_file], out, seed=0,
               base_ref="outputs/pretrain/model", root=conversations_file.parent)


@pytest.mark.parametrize("method", ["full", "lora", "prompt_tuning", "p_tuning", "prefix_tuning"])
def test_every_method_trains_saves_loads_and_generates_alike_with_and_without_cache(
        section, lively_model_dir, conversations_file, tmp_path, method):
    result = run_sft(section, lively_model_dir, conversations_file, tmp_path / "sft", method)
    assert result.metrics["quarantined"] == 1  # the broken line, kept in the quarantine file
    [row] = [json.loads(line) for line in (tmp_path / "sft" / "quarantine.jsonl").open()]
    assert row["line"] == 25 and row["reason"].startswith("not valid JSON")
    assert row["file"] == "conversations.jsonl"  # named in the project, not by machine path
    trained = result.metrics["trainable_params"]
    base, _ = load_model(lively_model_dir)
    n_base = sum(p.numel() for p in base.parameters())
    assert (trained == n_base) if method == "full" else (0 < trained < n_base / 10)
    model, tok = load_model(result.model_dir)
    cached = greedy_ids(model, tok, PROMPT, 12, use_cache=True)
    assert cached == greedy_ids(model, tok, PROMPT, 12, use_cache=False)
    assert cached != greedy_ids(base, tok, PROMPT, 12) or method == "prompt_tuning"


def test_lora_adapter_loads_in_peft_and_matches_the_merged_model(
        section, lively_model_dir, conversations_file, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    result = run_sft(section, lively_model_dir, conversations_file, tmp_path / "sft", "lora",
                     "lora.target_modules=[q_proj,v_proj]")
    adapter = tmp_path / "sft" / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "outputs/pretrain/model"  # no machine path
    assert sorted(config["target_modules"]) == ["q_proj", "v_proj"]
    peft_model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(str(lively_model_dir)), str(adapter)).eval()
    merged = AutoModelForCausalLM.from_pretrained(str(result.model_dir)).eval()
    base = AutoModelForCausalLM.from_pretrained(str(lively_model_dir)).eval()
    ids = torch.tensor([[1, 5, 9, 33, 70, 12]])
    with torch.no_grad():
        via_peft, via_merged = peft_model(input_ids=ids).logits, merged(input_ids=ids).logits
        before = base(input_ids=ids).logits
    assert torch.allclose(via_peft, via_merged, atol=1e-4)
    assert not torch.allclose(via_merged, before, atol=1e-3)  # the update is really there


def test_prompt_folder_loads_in_peft_from_its_base(section, lively_model_dir, conversations_file,
                                                    tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    result = run_sft(section, lively_model_dir, conversations_file, tmp_path / "sft", "p_tuning")
    ours, _ = load_model(result.model_dir)
    theirs = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(str(result.model_dir / "base")),
        str(result.model_dir)).eval()
    ids = torch.tensor([[1, 5, 9, 33]])
    with torch.no_grad():
        assert torch.equal(ours(input_ids=ids).logits, theirs(input_ids=ids).logits)


def test_packing_trains_on_the_same_examples(section, lively_model_dir, conversations_file,
                                             tmp_path):
    plain = run_sft(section, lively_model_dir, conversations_file, tmp_path / "a", "full")
    packed = run_sft(section, lively_model_dir, conversations_file, tmp_path / "b", "full",
                     "packing=true")
    assert packed.metrics["train_examples"] == plain.metrics["train_examples"]
    # the same validation set, unpacked, so the losses compare; packed rows held more tokens
    assert packed.metrics["first_val_loss"] == pytest.approx(plain.metrics["first_val_loss"],
                                                             rel=0.2)
    assert packed.metrics["val_loss"] < packed.metrics["first_val_loss"]


def test_qlora_without_cuda_or_bitsandbytes_says_what_is_missing(
        section, lively_model_dir, conversations_file, tmp_path):
    from danlu.errors import ConfigError
    from danlu.finetune import qlora

    reason = qlora.missing()
    if reason is None:
        pytest.skip("CUDA and bitsandbytes are here: QLoRA can run")
    with pytest.raises(ConfigError, match=f"finetune.method=qlora needs CUDA and bitsandbytes: "
                                          f"{reason}; use finetune.method=lora"):
        run_sft(section, lively_model_dir, conversations_file, tmp_path / "sft", "qlora")
    assert not (tmp_path / "sft").exists()


def test_lora_trains_the_chat_tokens_embeddings_and_nothing_else_of_them(
        section, lively_model_dir, conversations_file, tmp_path):
    from danlu.tokens.chat import SPECIAL_TOKENS

    result = run_sft(section, lively_model_dir, conversations_file, tmp_path / "sft", "lora")
    base, tok = load_model(lively_model_dir)
    merged, _ = load_model(result.model_dir)
    before, after = base.get_input_embeddings().weight, merged.get_input_embeddings().weight
    changed = {int(i) for i in torch.nonzero((before != after).any(dim=1)).flatten()}
    assert changed and changed <= set(tok.convert_tokens_to_ids(SPECIAL_TOKENS))
