"""The ablation as DVC experiments: the queued commands carry the plan's own overrides, and
`dvc exp show --json` reads back into the same report (a real queue: tests/test_dvc_pipeline.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from danlu.ablation.dvc_experiments import experiment_name, queue_command, report_from_dvc
from danlu.ablation.plan import plan_ablation
from danlu.ablation.spec import AblationSpec

TOKENS = 20480


def spec(seeds=(1, 2)) -> AblationSpec:
    return AblationSpec(name="abl", variants={"raw": ["curate.exact_dedup=false"], "+full": []},
                        seeds=list(seeds), tokens=TOKENS)


def test_each_run_is_queued_with_the_plans_overrides(project: Path):
    plan = plan_ablation(spec(), str(project / "params.yaml"), ["tokenizer.vocab_size=1024"])
    run = plan.runs[0]
    command = queue_command(plan, run)
    assert command[:6] == ["dvc", "exp", "run", "--queue", "-n", "abl-raw-s1"]
    assert command[-1] == "pretrain"
    sets = [command[i + 1] for i, arg in enumerate(command) if arg == "-S"]
    assert sets == list(run.overrides)
    assert {"tokenizer.vocab_size=1024", "curate.exact_dedup=false", "train.seed=1",
            f"train.max_steps={plan.steps}", "tracking.register_models=false"} <= set(sets)
    assert not any(s.startswith("paths.outputs") for s in sets)  # DVC's workspace is its own
    assert experiment_name("abl", plan.runs[-1]) == "abl--full-s2"  # a git ref: no "+"


def _exp(name: str, state: str = "success", heldout: float = 2.5, tokens: int = TOKENS,
         kept: int = 300) -> dict:
    metrics = {
        "outputs/curate/headline.json": {"data": {"documents_in": 700, "kept": kept}},
        "outputs/tokenizer/headline.json": {"data": {"train_tokens": 190000,
                                                     "val_bytes_per_token": 3.5}},
        "outputs/pretrain/headline.json": {"data": {"heldout_bits_per_byte": heldout,
                                                    "train_tokens": tokens}}}
    return {"name": name, "revs": [{"rev": "abc", "name": name, "data": {
        "params": {"params.yaml": {"data": {}}}, "metrics": metrics}, "error": None}],
        "executor": {"state": state, "name": None, "local": None}}


def test_the_report_from_dvc_exp_show(project: Path):
    show = [{"rev": "workspace", "name": None, "data": {}, "experiments": None},
            {"rev": "c0ffee", "name": "main", "data": {}, "experiments": [
                _exp("abl-raw-s1", heldout=2.60), _exp("abl-raw-s2", heldout=2.62),
                _exp("abl--full-s1", heldout=2.40, kept=200),
                _exp("abl--full-s2", state="failed")]}]
    params = str(project / "params.yaml")
    report = report_from_dvc(spec(), params, [], show=show)
    results = json.loads((project / "outputs/ablations/abl/results.json").read_text())
    runs = {(r["variant"], r["seed"]): r for r in results["runs"]}
    assert runs["raw", 2]["metrics"] == {
        "heldout.bits_per_byte": 2.62, "tokens_seen": TOKENS, "bytes_seen": 71680,
        "documents_in": 700, "documents_kept": 300, "train_tokens_available": 190000}
    assert runs["+full", 2]["status"] == "failed"
    assert "abl--full-s2 is failed" in runs["+full", 2]["error"]
    assert [(r["variant"], r["seed"]) for r in report["failed"]] == [("+full", 2)]
    assert "`+full` against `raw`" in report["markdown"]


def test_an_experiment_missing_or_off_budget_is_a_failed_run(project: Path):
    show = [{"rev": "c0ffee", "name": "main", "data": {}, "experiments": [
        _exp("abl-raw-s1", tokens=TOKENS // 2)]}]
    report_from_dvc(spec(seeds=(1,)), str(project / "params.yaml"), [], show=show)
    runs = json.loads((project / "outputs/ablations/abl/results.json").read_text())["runs"]
    errors = {r["variant"]: r["error"] for r in runs}
    assert "trained on 10,240 tokens, not the ablation's 20,480" in errors["raw"]
    assert "abl--full-s1 not in `dvc exp show`" in errors["+full"]
