"""The fine-tuning benchmark at toy size: the tiny model, a few conversations made here, three
steps of each engine and method in their child processes."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import finetune_bench  # noqa: E402

from danlu.finetune.data import Example, collate, shuffled_batches  # noqa: E402

WORDS = "the quick brown fox jumps over lazy dog while cat sleeps in sun".split()


def write_records(path: Path, n: int) -> Path:
    rows = [{"instruction": f"Say {' '.join(WORDS[i % 7:i % 7 + 3])}.", "input": "",
             "output": " ".join(WORDS[(i * 3) % 11:(i * 3) % 11 + 2 + i % 4])} for i in range(n)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_planned_batches_are_the_ones_the_sft_stage_draws():
    examples = [Example(f"e{i}", list(range(3 + i % 5)), [-100] + list(range(1, 3 + i % 5)))
                for i in range(11)]
    plan = finetune_bench.plan_batches(examples, 4, 7, seed=3)
    drawn = shuffled_batches(examples, 4, 0, 3)
    for batch in plan:
        x, y = next(drawn)
        ours_x, ours_y = collate(batch, 0)
        assert x.equal(ours_x) and y.equal(ours_y)


def test_toy_run_prints_the_table_and_the_ratio_last(tiny_model_dir, tmp_path, capsys):
    data = write_records(tmp_path / "sft.jsonl", 40)
    dpo = tmp_path / "metrics.json"
    dpo.write_text(json.dumps({"win_rate": 0.75, "win_rate_prompts": 8.0}))
    finetune_bench.main(["--model", str(tiny_model_dir), "--data", str(data), "--steps", "3",
                         "--rounds", "1", "--batch-size", "4", "--threads", "1",
                         "--val-fraction", "0.2", "--dpo-metrics", str(dpo), "--device", "cpu"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"finetune_vs_trl=\d+\.\d\d", lines[-1])
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines if line.startswith("| ")}
    for name in ("danlu full", "danlu lora", "danlu prompt_tuning", "TRL SFTTrainer full"):
        cells = rows[name].strip("| ").split(" | ")
        assert float(cells[2].split()[0].replace(",", "")) > 0  # tokens/s
        assert float(cells[4]) > 0  # held-out loss
    same = next(line for line in lines if line.startswith("same batches"))
    first_danlu, first_trl = (float(v) for v in re.findall(r"\d+\.\d{4}", same)[:2])
    assert abs(first_danlu - first_trl) <= 2e-4  # one model, one first batch: one loss
    assert any(line.startswith("DPO win rate") and "75.0% of 8 prompts" in line
               for line in lines)
