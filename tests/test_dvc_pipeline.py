"""On a fresh clone, `danlu run` and `dvc repro` share one record of what ran: after `danlu run`,
`dvc status` is clean and `dvc repro` a no-op; after DVC ran stages, `danlu run` reuses them.
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
    ("finetune", "max_steps"): 10, ("finetune", "batch_size"): 8, ("finetune", "max_length"): 128,
    ("reward", "max_steps"): 4, ("reward", "batch_size"): 8,
    ("dpo", "max_steps"): 2, ("dpo", "batch_size"): 4, ("dpo", "max_new_tokens"): 4,
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


def test_the_sample_is_what_data_dvc_records_and_is_in_the_cache(project: Path):
    """`danlu sample` unpacked the shipped bytes, which hash to data.dvc's md5, and put them in
    the DVC cache: data.dvc is up to date without a `dvc commit`."""
    assert sh(project, "git", "diff", "--exit-code", "data.dvc", check=False).returncode == 0
    out = sh(project, "dvc", "status", "data.dvc").stdout
    assert "up to date" in out, out


def test_after_danlu_run_dvc_status_is_clean_and_repro_a_noop(project: Path):
    run = sh(project, "danlu", "run")
    assert "| curate | ran |" in run.stdout and "| evaluate | ran |" in run.stdout
    assert (project / "dvc.lock").is_file()
    assert "Data and pipelines are up to date" in sh(project, "dvc", "status").stdout
    repro = sh(project, "dvc", "repro")
    assert "Running stage" not in repro.stdout
    assert "Data and pipelines are up to date" in repro.stdout
    metrics = sh(project, "dvc", "metrics", "show", "--json").stdout
    assert "val_bits_per_byte" in metrics and "documents_in" in metrics
    # the headline numbers only: a table that reads in a terminal (the full ones are outputs)
    table = sh(project, "dvc", "metrics", "show").stdout.splitlines()
    assert len(table) == len(ORDER) + 1 and max(map(len, table)) < 330, table[0]


def test_exp_run_with_a_changed_param_reruns_from_the_stage_that_reads_it(project: Path):
    run = sh(project, "dvc", "exp", "run", "-S", "train.max_steps=12")
    for name in ("pretrain", "sft", "evaluate"):
        assert f"Running stage '{name}'" in run.stdout
    for name in ("curate", "tokenizer"):
        assert f"Running stage '{name}'" not in run.stdout
    assert yaml.safe_load((project / "params.yaml").read_text())["train"]["max_steps"] == 12


def test_exp_run_with_another_finetune_method_reruns_fine_tuning_only(project: Path):
    run = sh(project, "dvc", "exp", "run", "-S", "finetune.method=lora")
    for name in ("sft", "reward", "dpo", "evaluate"):
        assert f"Running stage '{name}'" in run.stdout
    for name in ("curate", "tokenizer", "pretrain"):
        assert f"Running stage '{name}'" not in run.stdout
    assert yaml.safe_load((project / "params.yaml").read_text())["finetune"]["method"] == "lora"
    assert (project / "outputs" / "sft" / "adapter" / "adapter_config.json").is_file()


def test_after_dvc_ran_stages_danlu_run_reuses_every_stage(project: Path):
    run = sh(project, "danlu", "run")
    for name in ORDER:
        assert f"| {name} | reused |" in run.stdout, run.stdout
    assert "Data and pipelines are up to date" in sh(project, "dvc", "status").stdout


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


def test_an_ablation_as_queued_dvc_experiments(project: Path):
    """`danlu ablate --dvc` queues a run per variant and seed with the plan's overrides; DVC
    runs them (its run cache shares the data stages), and `--from-dvc` reports them."""
    import json

    args = ["--name", "abl", "--variant", "base", "--variant", "lr=train.lr=0.01", "--seeds", "1"]
    queued = sh(project, "danlu", "ablate", "--dvc", *args).stdout
    assert "queued abl-base-s1" in queued and "queued abl-lr-s1" in queued, queued
    sh(project, "dvc", "exp", "run", "--run-all", "--jobs", "1")
    shown = sh(project, "dvc", "exp", "show", "--only-changed", "--csv").stdout
    assert "abl-base-s1" in shown and "abl-lr-s1" in shown, shown
    assert "heldout_bits_per_byte" in shown.splitlines()[0], shown
    report = sh(project, "danlu", "ablate", "--from-dvc", *args).stdout
    assert "`lr` against `base`" in report, report
    runs = json.loads((project / "outputs/ablations/abl/results.json").read_text())["runs"]
    assert [r["status"] for r in runs] == ["ok", "ok"], runs
    steps = yaml.safe_load((project / "params.yaml").read_text())["train"]["max_steps"]
    assert {r["metrics"]["tokens_seen"] for r in runs} == {steps * 2048}
    assert runs[0]["metrics"]["heldout.bits_per_byte"] != runs[1]["metrics"]["heldout.bits_per_byte"]
    # the same data for both: the same documents kept
    assert runs[0]["metrics"]["documents_kept"] == runs[1]["metrics"]["documents_kept"]
