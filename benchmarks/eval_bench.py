"""Multiple-choice scoring speed: danlu's scorer (danlu.evaluate.choice) against lm-eval 0.4's
HFLM on the same model folder, the same HellaSwag items and the same batch size, in one run.

  .venv/bin/python benchmarks/eval_bench.py --items 300            # builds a d6 model
  .venv/bin/python benchmarks/eval_bench.py --items 300 --model DIR

Items: the first --items of hellaswag-val (context = ctx, continuation = " " + ending, four
endings), zero-shot. Model: --model DIR, or a randomly initialised --preset Llama (random
weights cost the same time as trained ones) with a --vocab BPE trained by danlu on
tinyshakespeare, saved by danlu's save_model into a temporary folder.

Peer: lm-eval's own path, `lm_eval.simple_evaluate` with `HFLM(pretrained=DIR,
add_bos_token=True, dtype=float32)` on a local YAML task holding the same items. Its acc and
acc_norm come from the harness; its time is that of `HFLM.loglikelihood` (tokenising and
scoring every (context, continuation) pair), measured by a subclass; the harness's setup
around it (datasets, task building, metrics) is shown apart. Ours: `loglikelihoods` (tokenising
and scoring) on the folder as `load_model` loads it; the metrics follow from choice_metrics.
--batch-size goes to both: lm-eval runs that many rows (one per ending) per forward; danlu
runs that many contexts, then their endings that many rows per forward, so no forward of ours
holds more rows than one of lm-eval's. Pass --threads 1 on a shared machine: torch's threads
spin against other jobs' and blur the figures.

Both must agree: acc and acc_norm equal, per-item log-likelihoods reported. The CPU timing is
only as good as the machine is quiet. The last line is `eval_vs_lm_eval=RATIO`: our items/s
over lm-eval's.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TASK = "danlu_bench_hellaswag"
TASK_YAML = """\
task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{ctx}}}}"
doc_to_choice: endings
doc_to_target: label
metric_list:
  - metric: acc
  - metric: acc_norm
"""


def read_items(data: Path, count: int) -> list[dict]:
    path = data / "hellaswag-val" / "hellaswag_val.jsonl.gz"
    if not path.is_file():
        raise SystemExit(f"{path} not found: pass --data (the shared datasets folder)")
    items = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            items.append(json.loads(line))
            if len(items) == count:
                break
    return items


def build_model_folder(args, folder: Path) -> Path:
    """A random --preset Llama with a danlu BPE trained on tinyshakespeare, as danlu saves one."""
    from transformers import AutoTokenizer

    from danlu.model.llama import build_model, count_parameters, llama_config
    from danlu.model.saved import generation_ids, save_model
    from danlu.tokenizer.train import save_tokenizer, train_bpe

    text = (args.data / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    save_tokenizer(train_bpe(paragraphs, args.vocab, 2), folder / "tokenizer",
                   model_max_length=args.context_length)
    tokenizer = AutoTokenizer.from_pretrained(str(folder / "tokenizer"))
    ids = generation_ids(tokenizer)
    config = llama_config(args.preset, vocab_size=len(tokenizer),
                          context_length=args.context_length, bos_id=ids["bos_token_id"],
                          eos_id=ids["eos_token_id"][1], pad_id=ids["pad_token_id"])
    model = build_model(config, seed=0)
    save_model(model, tokenizer, folder / "model")
    print(f"model: {args.preset}, {count_parameters(model) / 1e6:.1f}M parameters, "
          f"vocab {len(tokenizer)}, context {args.context_length}")
    return folder / "model"


def run_ours(model_dir: Path, items: list[dict], batch_size: int) -> dict:
    from danlu.evaluate.choice import ChoiceRequest, choice_metrics, loglikelihoods
    from danlu.model.saved import load_model

    model, tokenizer = load_model(model_dir)
    max_length = model.config.max_position_embeddings  # as HFLM resolves it
    requests = [ChoiceRequest(item["ctx"], tuple(" " + e for e in item["endings"]))
                for item in items]
    loglikelihoods(model, tokenizer, requests[:2], batch_size=batch_size, max_length=max_length)
    start = time.perf_counter()
    lls = loglikelihoods(model, tokenizer, requests, batch_size=batch_size, max_length=max_length)
    seconds = time.perf_counter() - start
    metrics = choice_metrics(lls, [int(i["label"]) for i in items], [i["endings"] for i in items])
    return {"seconds": seconds, "lls": lls, "acc": metrics["acc"],
            "acc_norm": metrics["acc_norm"]}


def run_lm_eval(model_dir: Path, items: list[dict], batch_size: int, work: Path) -> dict:
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    class TimedHFLM(HFLM):
        """HFLM, with the time spent in loglikelihood (tokenising and scoring) added up."""

        seconds = 0.0

        def loglikelihood(self, requests, disable_tqdm: bool = False):
            start = time.perf_counter()
            out = super().loglikelihood(requests, disable_tqdm=True)
            self.seconds += time.perf_counter() - start
            return out

    data = work / "items.jsonl"
    data.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    (work / f"{TASK}.yaml").write_text(TASK_YAML.format(task=TASK, data=data), encoding="utf-8")
    harness = TimedHFLM(pretrained=str(model_dir), add_bos_token=True, dtype="float32",
                        batch_size=batch_size, device="cpu")
    start = time.perf_counter()
    out = lm_eval.simple_evaluate(
        model=harness, tasks=[TASK], log_samples=True, bootstrap_iters=0,
        task_manager=TaskManager(include_path=str(work), include_defaults=False))
    total = time.perf_counter() - start
    samples = sorted(out["samples"][TASK], key=lambda s: s["doc_id"])
    results = out["results"][TASK]
    return {"seconds": harness.seconds, "total": total, "acc": results["acc,none"],
            "acc_norm": results["acc_norm,none"],
            "lls": [[float(ll) for ll, _ in s["filtered_resps"]] for s in samples]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--model", type=Path, default=None, help="a saved model folder")
    parser.add_argument("--preset", default="d6")
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--context-length", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch's)")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    items = read_items(args.data, args.items)
    with tempfile.TemporaryDirectory(prefix="eval-bench-") as tmp:
        work = Path(tmp)
        # lm-eval reads the task's JSON through `datasets`: offline, with a cache of our own.
        os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
                          HF_DATASETS_CACHE=str(work / "hf-datasets"),
                          TOKENIZERS_PARALLELISM="false")
        model_dir = args.model or build_model_folder(args, work)
        ours = run_ours(model_dir, items, args.batch_size)
        theirs = run_lm_eval(model_dir, items, args.batch_size, work)

    worst = max(abs(a - b) for mine, peer in zip(ours["lls"], theirs["lls"])
                for a, b in zip(mine, peer))
    n = len(items)
    print(f"\n{n} HellaSwag items ({sum(len(i['endings']) for i in items)} endings), "
          f"batch size {args.batch_size}, {torch.get_num_threads()} threads")
    print(f"{'scorer':14} {'seconds':>8} {'items/s':>8} {'acc':>7} {'acc_norm':>9}")
    for name, run in (("danlu", ours), ("lm-eval HFLM", theirs)):
        print(f"{name:14} {run['seconds']:8.1f} {n / run['seconds']:8.2f} "
              f"{run['acc']:7.4f} {run['acc_norm']:9.4f}")
    print(f"lm-eval's whole simple_evaluate: {theirs['total']:.1f} s; "
          f"largest |log-likelihood difference|: {worst:.2e}")
    agree = ours["acc"] == theirs["acc"] and ours["acc_norm"] == theirs["acc_norm"]
    print("acc and acc_norm agree" if agree else "DISAGREE: acc or acc_norm differ")
    print(f"eval_vs_lm_eval={theirs['seconds'] / ours['seconds']:.2f}")
    if not agree:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
