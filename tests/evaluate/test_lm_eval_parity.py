"""danlu's multiple-choice scorer against the real lm-evaluation-harness CLI on the same model
folder: the same requests, per-item log-likelihoods to 1e-4, identical predictions.

It also shows that a folder saved by danlu (`save_model`) loads under `lm_eval --model hf`
unchanged, offline."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from danlu.evaluate.choice import ChoiceRequest, choice_metrics, loglikelihoods, scored_pairs

BATCH_SIZE = 4
WORDS = ("the fox dog cat jumps over lazy quick brown sleeps sun add return print split "
         "string list words whitespace line common leading python what does it").split()
# Choices whose characters and bytes differ, and one-letter ones (a single token).
ODD_CHOICES = ["café au lait", "naïve", "Zürich", "A", "B", "über"]

TASK_YAML = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{text}"
doc_to_choice: choices
doc_to_target: gold
metric_list:
  - metric: acc
  - metric: acc_norm
"""


def made_items(count: int, seed: int) -> list[dict]:
    """Questions of 3-14 words (two far past the model's 64 tokens, to be truncated) with 2-4
    choices of 1-7 words; the gold choice is random."""
    rng = random.Random(seed)
    items = []
    for i in range(count):
        words = rng.randint(3, 14) if i % 20 else 60
        question = " ".join(rng.choice(WORDS) for _ in range(words)) + "?"
        choices = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 7)))
                   for _ in range(rng.randint(2, 4))]
        if i % 5 == 0:
            choices[rng.randrange(len(choices))] = rng.choice(ODD_CHOICES)
        items.append({"query": f"Question: {question}", "choices": choices,
                      "gold": rng.randrange(len(choices))})
    return items


def run_harness(model_dir: Path, items: list[dict], tmp_path: Path) -> tuple[dict, list[dict]]:
    """lm_eval's CLI on the items, zero-shot: its metrics and its logged samples by doc_id."""
    name = "danlu_parity"
    task_dir = tmp_path / "tasks"
    task_dir.mkdir()
    data = task_dir / "items.jsonl"
    data.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    (task_dir / f"{name}.yaml").write_text(
        TASK_YAML.format(name=name, data=data, text="{{query}}\\nAnswer:"), encoding="utf-8")
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets"),
           "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args",
               f"pretrained={model_dir},add_bos_token=True,dtype=float32", "--tasks", name,
               "--include_path", str(task_dir), "--device", "cpu",
               "--batch_size", str(BATCH_SIZE), "--output_path", str(out), "--log_samples"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"lm_eval failed:\n{done.stderr[-4000:]}"
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"][name]
    samples = [json.loads(line) for line in
               next(out.rglob(f"samples_{name}_*.jsonl")).read_text().splitlines()]
    return results, sorted(samples, key=lambda s: s["doc_id"])


def check_parity(model_dir: Path, items: list[dict], tmp_path: Path) -> None:
    from danlu.model.saved import load_model

    results, samples = run_harness(model_dir, items, tmp_path)
    assert len(samples) == len(items)
    model, tokenizer = load_model(model_dir)
    requests = [ChoiceRequest(f"{item['query']}\nAnswer:", tuple(" " + c for c in item["choices"]))
                for item in items]
    # The harness sent exactly these (context, continuation) pairs.
    for request, sample in zip(requests, samples):
        sent = [(a["arg_0"], a["arg_1"]) for a in sample["arguments"].values()]
        assert sent == [(request.context, c) for c in request.continuations]

    ours = loglikelihoods(model, tokenizer, requests, batch_size=BATCH_SIZE,
                          max_length=model.config.max_position_embeddings)
    theirs = [[float(ll) for ll, _greedy in sample["filtered_resps"]] for sample in samples]
    for item, (mine, harness) in enumerate(zip(ours, theirs)):
        # float32 sums of a few hundred nats: the two batchings round differently at ~1e-7
        assert mine == pytest.approx(harness, rel=1e-6, abs=1e-4), f"item {item}"

    metrics = choice_metrics(ours, [item["gold"] for item in items],
                             [item["choices"] for item in items])
    # item by item, the same right and wrong answers
    for key, metric in (("pred", "acc"), ("pred_norm", "acc_norm")):
        hits = [float(pred == item["gold"]) for pred, item in zip(metrics[key], items)]
        assert hits == [sample[metric] for sample in samples], metric
    assert metrics["acc"] == pytest.approx(results["acc,none"], abs=1e-9)
    assert metrics["acc_norm"] == pytest.approx(results["acc_norm,none"], abs=1e-9)


def test_made_items_match_the_harness(lively_model_dir, tmp_path):
    from danlu.model.saved import load_tokenizer

    items = made_items(40, seed=0)
    assert {len(item["choices"]) for item in items} == {2, 3, 4}
    tokenizer = load_tokenizer(lively_model_dir)
    requests = [ChoiceRequest(f"{item['query']}\nAnswer:", (" " + item["choices"][0],))
                for item in items]
    # the long items lose their <|bos|> to left truncation: that path is compared too
    assert any(pair[0][0] != tokenizer.bos_token_id
               for [pair] in scored_pairs(tokenizer, requests, max_length=64))
    check_parity(lively_model_dir, items, tmp_path)


def test_arc_easy_matches_the_harness(shared_data, lively_model_dir, tmp_path):
    lines = (shared_data / "eval-gauntlet-mc" / "arc_easy.jsonl").read_text().splitlines()[:30]
    check_parity(lively_model_dir, [json.loads(line) for line in lines], tmp_path)


def test_edge_pairs_match_hflm_in_process(loaded):
    """Pairs a task file rarely makes, against HFLM's own loglikelihood on the same model."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    model, tokenizer = loaded
    requests = [
        ChoiceRequest("the cat sat  ", ("on the mat", " a")),  # trailing spaces move right
        ChoiceRequest("", ("the dog ran", "<|bos|>the dog ran")),  # <|bos|> as the context
        ChoiceRequest("<|bos|>a red car", (" sat", " naïve café")),  # no second <|bos|>
        # the boundary merges into one word: the continuation is the whole encoding's tail
        ChoiceRequest("the ca", ("t sat on the mat", "r ran under the tree")),
        ChoiceRequest("the small bird " * 12, (" sang", " sings near the river")),  # truncated
    ]
    harness = HFLM(pretrained=model, tokenizer=tokenizer, add_bos_token=True, batch_size=3,
                   max_length=32, device="cpu")
    instances = [Instance("loglikelihood", {}, (r.context, c), i)
                 for i, r in enumerate(requests) for c in r.continuations]
    theirs = [ll for ll, _greedy in harness.loglikelihood(instances, disable_tqdm=True)]
    ours = loglikelihoods(model, tokenizer, requests, batch_size=3, max_length=32)
    assert [ll for row in ours for ll in row] == pytest.approx(theirs, abs=1e-4)
