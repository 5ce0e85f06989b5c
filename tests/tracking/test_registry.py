from pathlib import Path

import pytest

from danlu.config import load_config
from danlu.tracking.mlflow_runs import client, tracked_run
from danlu.tracking.registry import (EXPERIMENT_TAG, WEIGHTS_TAG, experiment_name, register_model,
                                      register_stage_model, weights_digest)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory, repo_root: Path):
    root = tmp_path_factory.mktemp("project")
    (root / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    return load_config(root / "params.yaml")


def test_register_tags_lineage_and_moves_the_alias(cfg, tiny_model_dir: Path):
    import mlflow.transformers

    tags = {"git_commit": "abc123", "data_dvc_md5": "d41d8.dir", "params_hash": "0f0f"}
    versions = []
    for _ in range(2):
        with tracked_run(cfg, "pretrain") as run:
            versions.append(register_model(cfg, run, tiny_model_dir, "danlu-base", tags))
        assert client(cfg).get_run(run.run_id).info.status == "FINISHED"
    assert versions == ["1", "2"]
    c = client(cfg)
    mv = c.get_model_version_by_alias("danlu-base", "candidate")
    assert str(mv.version) == "2"
    assert {k: mv.tags[k] for k in tags} == tags
    assert c.get_run(run.run_id).data.tags["registered.danlu-base"] == "2"
    parts = mlflow.transformers.load_model("models:/danlu-base@candidate",
                                           return_type="components")
    assert parts["model"].config.vocab_size == len(parts["tokenizer"])


@pytest.fixture(autouse=True)
def not_an_experiment(monkeypatch):
    """These tests may themselves run under `dvc exp run`."""
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)


def test_the_same_weights_are_registered_once(cfg, tiny_model_dir: Path):
    asked = []

    def tags() -> dict[str, str]:
        asked.append(1)
        return {"danlu.stage": "sft"}

    runs = []
    for _ in range(2):  # `danlu run`, then `dvc repro` of the same stage: the same bytes
        with tracked_run(cfg, "sft") as run:
            assert register_stage_model(cfg, run, tiny_model_dir, "dedup-chat", tags) == \
                {"dedup-chat": "1"}
        runs.append(run.run_id)
    c = client(cfg)
    assert [str(v.version) for v in c.search_model_versions("name = 'dedup-chat'")] == ["1"]
    assert len(asked) == 1  # tags (which may ask the registry) only for a new version
    assert str(c.get_model_version_by_alias("dedup-chat", "candidate").version) == "1"
    assert c.get_model_version("dedup-chat", "1").tags[WEIGHTS_TAG] == \
        weights_digest(tiny_model_dir)
    assert [c.get_run(r).data.tags["registered.dedup-chat"] for r in runs] == ["1", "1"]


def test_an_experiment_registers_without_an_alias(cfg, tiny_model_dir: Path, monkeypatch):
    c = client(cfg)
    c.create_registered_model("experiment-chat")
    with tracked_run(cfg, "sft") as earlier:  # a version that serving reads today
        pass
    served = c.create_model_version("experiment-chat", source="file:///nowhere",
                                    run_id=earlier.run_id).version
    c.set_registered_model_alias("experiment-chat", "candidate", served)

    monkeypatch.setenv("DVC_EXP_NAME", "exp-5f2a1")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "a6610d1")
    with tracked_run(cfg, "sft") as run:
        assert register_stage_model(cfg, run, tiny_model_dir, "experiment-chat", {}) == \
            {"experiment-chat": "2"}
    model = c.get_registered_model("experiment-chat")
    assert {k: str(v) for k, v in model.aliases.items()} == {"candidate": str(served)}
    new = c.get_model_version("experiment-chat", "2")
    assert new.aliases == []
    assert new.tags[EXPERIMENT_TAG] == "exp-5f2a1"
    assert new.tags["danlu.experiment_baseline"] == "a6610d1"
    assert c.get_run(run.run_id).data.tags[EXPERIMENT_TAG] == "exp-5f2a1"
    with tracked_run(cfg, "sft") as again:  # identical weights under an experiment: no alias
        assert register_stage_model(cfg, again, tiny_model_dir, "experiment-chat", {}) == \
            {"experiment-chat": "2"}
    assert str(c.get_model_version_by_alias("experiment-chat", "candidate").version) == \
        str(served)


@pytest.mark.parametrize("setting, env, expected", [
    ("auto", None, None),
    ("auto", "exp-5f2a1", "exp-5f2a1"),
    ("false", "exp-5f2a1", None),         # forced off: experiments take aliases
    ("true", None, "registry.experiment=true"),
    ("true", "exp-5f2a1", "exp-5f2a1"),
])
def test_experiment_name(cfg, monkeypatch, setting, env, expected):
    if env is not None:
        monkeypatch.setenv("DVC_EXP_NAME", env)
    forced = load_config(cfg.root / "params.yaml", [f"registry.experiment={setting}"])
    assert experiment_name(forced) == expected
