from pathlib import Path

import pytest

from danlu.config import load_config
from danlu.tracking.mlflow_runs import client, tracked_run
from danlu.tracking.registry import register_model


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
