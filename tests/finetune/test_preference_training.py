"""The reward model and DPO on the tiny model: the reward model learns the pairs and loads as
AutoModelForSequenceClassification; DPO's loss and metrics equal TRL's DPOTrainer on the
same tokens; the dpo run leaves its model, metrics and the win-rate duels."""

import json
from pathlib import Path

import pytest
import torch

from danlu.finetune.dpo import train_dpo
from danlu.finetune.pairs import encode_pairs
from danlu.finetune.preferences import PreferencePair
from danlu.finetune.reward import train_reward
from danlu.finetune.win_rate import Duel, win_rate
from danlu.tokens.chat import IGNORE_INDEX
from danlu.train.losses import dpo_loss, reply_logps


@pytest.fixture
def reward_dir(section, lively_model_dir, preferences_file, tmp_path) -> Path:
    cfg = section("reward", "max_steps=30", "batch_size=8", "lr=0.003", "eval_every=10",
                  "max_length=64", "val_fraction=0.25")
    result = train_reward(cfg, lively_model_dir, [preferences_file], tmp_path / "reward", seed=0)
    assert result.metrics["quarantined"] == 1  # the pair whose replies are the same
    assert result.metrics["val_accuracy"] >= 0.9 > result.metrics["first_val_accuracy"] - 0.2
    return result.model_dir


def test_reward_model_learns_the_pairs_and_loads_in_transformers(reward_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(reward_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(reward_dir))
    assert model.config.num_labels == 1 and model.config.pad_token_id == tok.pad_token_id

    def score(reply: str) -> float:
        ids = tok.apply_chat_template([{"role": "user", "content": "What does zip do?"},
                                       {"role": "assistant", "content": reply}],
                                      return_dict=False)
        with torch.no_grad():
            return float(model(input_ids=torch.tensor([ids])).logits[0, 0])

    assert score("zip is a Python function number 5.") > score("Yes.")


def test_dpo_loss_and_metrics_equal_trl_on_the_same_tokens(lively_model_dir, tmp_path):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from danlu.model.saved import load_model

    model, tok = load_model(lively_model_dir)
    ref, _ = load_model(lively_model_dir)
    with torch.no_grad():  # a policy that has moved away from its reference
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    rows = [{"prompt": [{"role": "user", "content": f"What is {i}?"}],
             "chosen": [{"role": "assistant", "content": f"It is the number {i}."}],
             "rejected": [{"role": "assistant", "content": "Yes."}]} for i in range(4)]
    args = DPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], beta=0.1,
                     per_device_train_batch_size=4, max_length=64)
    trainer = DPOTrainer(model=model, ref_model=ref, args=args, processing_class=tok,
                         train_dataset=Dataset.from_list(rows))
    batch = next(iter(trainer.get_train_dataloader()))
    model.train()
    trl_loss = float(trainer.compute_loss(model, batch))
    trl = {k: v[-1] for k, v in trainer._metrics["train"].items()}

    # ours, from our own encoding of the same pairs: the same tokens as TRL's
    pairs = [PreferencePair(str(i), r["prompt"], r["chosen"][0]["content"],
                            r["rejected"][0]["content"]) for i, r in enumerate(rows)]
    encoded = encode_pairs(tok, pairs, 64).examples
    ours_ids = [e.chosen[0] for e in encoded] + [e.rejected[0] for e in encoded]
    theirs = [row[m.bool()].tolist() for row, m in zip(batch["input_ids"], batch["attention_mask"])]
    assert sorted(ours_ids) == sorted(theirs)  # TRL's loader shuffles the pairs
    ids, mask = batch["input_ids"], batch["completion_mask"]
    x, y = ids[:, :-1], ids.masked_fill(mask == 0, IGNORE_INDEX)[:, 1:]
    logps = reply_logps(model(input_ids=x).logits, y)
    with torch.no_grad():
        ref_logps = reply_logps(ref(input_ids=x).logits, y)
    loss, chosen, rejected = dpo_loss(logps[:4], logps[4:], ref_logps[:4], ref_logps[4:], 0.1)
    assert float(loss) == pytest.approx(trl_loss, abs=1e-5)
    assert float(chosen.mean()) == pytest.approx(trl["rewards/chosen"], abs=1e-5)
    assert float(rejected.mean()) == pytest.approx(trl["rewards/rejected"], abs=1e-5)
    assert float((chosen - rejected).mean()) == pytest.approx(trl["rewards/margins"], abs=1e-5)
    assert float(logps[:4].mean()) == pytest.approx(trl["logps/chosen"], abs=1e-3)


def test_dpo_run_moves_toward_the_chosen_replies_and_reports_its_win_rate(
        section, lively_model_dir, reward_dir, preferences_file, prompts_file, tmp_path):
    cfg = section("dpo", "max_steps=12", "batch_size=8", "lr=0.001", "eval_every=6",
                  "max_length=64", "val_fraction=0.25", "max_new_tokens=8")
    result = train_dpo(cfg, lively_model_dir, reward_dir, [preferences_file], prompts_file,
                       tmp_path / "dpo", seed=0)
    m = result.metrics
    assert m["val_rewards/margins"] > 0 and m["val_rewards/accuracies"] > 0.5
    assert m["val_rewards/chosen"] > m["val_rewards/rejected"]
    assert 0 <= m["win_rate"] <= 1 and m["win_rate_prompts"] == 4
    duels = [json.loads(line) for line in (tmp_path / "dpo" / "win_rate.jsonl").open()]
    assert [d["id"] for d in duels] == ["q0", "q1", "q2", "q3"]
    assert win_rate([Duel(**d) for d in duels]) == m["win_rate"]
    assert (tmp_path / "dpo" / "model" / "model.safetensors").is_file()


def test_win_rate_counts_ties_and_identical_replies_as_half():
    duel = lambda a, b, reply="r": Duel("x", [], reply, "b", a, b)  # noqa: E731
    assert win_rate([duel(2, 1), duel(1, 1), duel(0, 1), duel(3, 3)]) == 0.5
    assert win_rate([duel(1.0000001, 1.0, reply="b")]) == 0.5  # the same text: a tie
