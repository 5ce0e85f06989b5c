"""The evaluate stage's side of the champion gate, through a real MLflow registry: the champion
is fetched from the registry and scored beside the candidate, and the gate reads both scores."""

from pathlib import Path

import pytest

from danlu.config import load_config
from danlu.evaluate.stage import gate_decisions, with_champions
from danlu.evaluate.suite import ModelEntry
from danlu.tracking.mlflow_runs import client, tracked_run
from danlu.tracking.promote import champion_version
from danlu.tracking.registry import register_stage_model


@pytest.fixture
def cfg(tmp_path: Path, repo_root: Path):
    (tmp_path / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    return load_config(tmp_path / "params.yaml")


def register(cfg, folder: Path, name: str) -> str:
    with tracked_run(cfg, "dpo") as run:
        return register_stage_model(cfg, run, folder, name, {"danlu.stage": "dpo"})[name]


def results_for(entries: list[ModelEntry], cores: dict[str, float]) -> dict:
    return {"models": [{"label": e.label, "role": e.role, "name": e.name, "version": e.version}
                       for e in entries],
            "tasks": [], "aggregate": {label: {"core": v} for label, v in cores.items()}}


def chat_only(cfg, folder: Path) -> list[ModelEntry]:
    entries, champions = with_champions(cfg, [ModelEntry("chat (dpo)", "chat", folder, "x")])
    return entries, champions


def test_first_version_becomes_champion_then_a_worse_one_stays_candidate(
        cfg, tiny_model_dir: Path, lively_model_dir: Path):
    name = cfg.registry.chat_model
    assert register(cfg, tiny_model_dir, name) == "1"
    entries, champions = chat_only(cfg, tiny_model_dir)
    assert [(e.label, e.version) for e in entries] == [("chat (dpo)", "1")]
    assert champions == {"base": None, "chat": None}
    (decision,) = gate_decisions(cfg, results_for(entries, {"chat (dpo)": 0.1}), champions)
    assert decision["promoted"] and str(champion_version(cfg, name).version) == "1"

    # a second, different model: the champion (v1) is downloaded and scored beside it
    assert register(cfg, lively_model_dir, name) == "2"
    entries, champions = chat_only(cfg, lively_model_dir)
    assert [(e.label, e.role, e.version) for e in entries] == [
        ("chat (dpo)", "chat", "2"), (f"champion {name} v1", "champion-chat", "1")]
    assert (entries[1].folder / "config.json").is_file()  # fetched from the registry
    assert champions["chat"] == "1"
    worse = results_for(entries, {"chat (dpo)": 0.05, f"champion {name} v1": 0.1})
    (decision,) = gate_decisions(cfg, worse, champions)
    assert not decision["promoted"] and decision["champion_score"] == 0.1
    version = client(cfg).get_model_version(name, "2")
    assert version.tags["gate.decision"] == "kept" and "does not beat" in version.tags["gate.reason"]
    assert str(champion_version(cfg, name).version) == "1"
    assert str(client(cfg).get_model_version_by_alias(name, cfg.registry.alias).version) == "2"

    better = results_for(entries, {"chat (dpo)": 0.2, f"champion {name} v1": 0.1})
    (decision,) = gate_decisions(cfg, better, champions)
    assert decision["promoted"] and str(champion_version(cfg, name).version) == "2"


def test_the_same_weights_are_not_registered_twice_and_stay_champion(cfg, tiny_model_dir: Path):
    name = cfg.registry.chat_model
    assert register(cfg, tiny_model_dir, name) == "1"
    entries, champions = chat_only(cfg, tiny_model_dir)
    gate_decisions(cfg, results_for(entries, {"chat (dpo)": 0.1}), champions)
    assert register(cfg, tiny_model_dir, name) == "1"  # `dvc repro` after `danlu run`
    entries, champions = chat_only(cfg, tiny_model_dir)
    assert len(entries) == 1  # the champion is this very model: scored once
    (decision,) = gate_decisions(cfg, results_for(entries, {"chat (dpo)": 0.1}), champions)
    assert not decision["promoted"] and decision["reason"] == "already champion"
    assert [str(v.version) for v in client(cfg).search_model_versions(f"name = '{name}'")] == ["1"]


@pytest.mark.parametrize("gate, match", [
    ({"metric": "cor"}, "expected core or <task>.<metric>"),
    ({"metric": "heldout.acc"}, "task heldout gives bits_per_byte, loss, perplexity"),
    ({"metric": "heldout.bits_per_byte"}, "better when lower; set higher_is_better: false"),
    ({"metric": "cloze.acc_norm", "higher_is_better": False}, "set higher_is_better: true"),
])
def test_a_gate_metric_the_tasks_do_not_give_is_a_config_error(tmp_path, repo_root, gate, match):
    from danlu.errors import ConfigError
    from danlu.evaluate.stage import check_gate_metric
    from danlu.sample.eval_tasks import write_eval_tasks

    passages = [{"id": f"h{n}", "text": " ".join(f"word{n}x{k}" for k in range(80))}
                for n in range(4)]
    prompts = [{"id": f"p{n}", "messages": [{"role": "user", "content": f"q{n}?"}],
                "reference": f"answer {n}"} for n in range(3)]
    write_eval_tasks(tmp_path / "data" / "eval" / "tasks", passages, prompts)
    (tmp_path / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    overrides = [f"evaluate.gate.{k}={v}" for k, v in gate.items()]
    cfg = load_config(tmp_path / "params.yaml", overrides)
    from danlu.evaluate.stage import load_tasks

    tasks = load_tasks(cfg)
    with pytest.raises(ConfigError, match=match):
        check_gate_metric(cfg, tasks)
    check_gate_metric(load_config(tmp_path / "params.yaml"), tasks)  # the default is right
