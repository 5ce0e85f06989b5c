"""`dvc repro` on a copy of the project does what `danlu run` does; a second repro is a no-op;
`dvc exp run -S` works; `dvc push`/`dvc pull` round-trip through the default local remote."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from danlu.pipeline import ORDER

pytestmark = pytest.mark.slow

TINY = {
    ("tokenizer", "vocab_size"): 1024,
    ("model", "context_length"): 128,
    ("train", "max_steps"): 20, ("train", "batch_size"): 8, ("train", "eval_every"): 10,
    ("train", "eval_batches"): 2,
    ("sft", "max_steps"): 10, ("sft", "batch_size"): 8, ("sft", "max_length"): 128,
    ("evaluate", "max_new_tokens"): 8, ("evaluate", "num_samples"): 2,
}


def sh(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def project(tmp_path_factory, repo_root: Path) -> Path:
    """The project's files as a fresh clone would have them, with the sample and a tiny config."""
    root = tmp_path_factory.mktemp("clone")
    listed = sh(repo_root, "git", "ls-files", "--cached", "--others", "--exclude-standard").stdout
    for rel in listed.splitlines():
        src = repo_root / rel
        if src.is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / rel)
    params = yaml.safe_load((root / "params.yaml").read_text())
    for (section, key), value in TINY.items():
        params[section][key] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(root, "git", "init", "-q")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "clone")
    sh(root, "danlu", "sample")
    return root


def test_the_unpacked_sample_hashes_to_the_md5_in_data_dvc(project: Path):
    """The shipped bytes are what data.dvc records: committing them to the cache changes nothing."""
    sh(project, "dvc", "commit", "-f", "-q", "data.dvc")
    assert sh(project, "git", "diff", "--exit-code", "data.dvc", check=False).returncode == 0
    out = sh(project, "dvc", "status", "data.dvc").stdout
    assert "up to date" in out, out


def test_repro_runs_every_stage_then_is_a_noop(project: Path):
    first = sh(project, "dvc", "repro")
    for name in ORDER:
        assert f"Running stage '{name}'" in first.stdout
    assert (project / "outputs" / "sft" / "model" / "model.safetensors").is_file()
    assert (project / "dvc.lock").is_file()
    second = sh(project, "dvc", "repro")
    assert "Running stage" not in second.stdout
    assert "Data and pipelines are up to date" in second.stdout
    metrics = sh(project, "dvc", "metrics", "show", "--json").stdout
    assert "val_bits_per_byte" in metrics and "documents_in" in metrics


def test_exp_run_with_a_changed_param_reruns_from_the_stage_that_reads_it(project: Path):
    run = sh(project, "dvc", "exp", "run", "-S", "train.max_steps=12")
    for name in ("pretrain", "sft", "evaluate"):
        assert f"Running stage '{name}'" in run.stdout
    for name in ("curate", "tokenizer"):
        assert f"Running stage '{name}'" not in run.stdout
    assert yaml.safe_load((project / "params.yaml").read_text())["train"]["max_steps"] == 12


def test_push_then_pull_restores_data_and_outputs(project: Path):
    sh(project, "dvc", "push")
    assert any((project / ".dvcstore").rglob("*"))
    shutil.rmtree(project / "data")
    shutil.rmtree(project / "outputs" / "tokenizer" / "shards")
    shutil.rmtree(project / ".dvc" / "cache")
    sh(project, "dvc", "pull")
    assert (project / "data" / "crawl").is_dir()
    assert any((project / "outputs" / "tokenizer" / "shards").glob("train-*.bin"))
    assert "up to date" in sh(project, "dvc", "status").stdout
