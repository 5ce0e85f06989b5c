"""An ablation's definition and plan: variants from a file or the command line, what a variant
may not change, equal token budgets, and which stage runs the runs share."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from danlu.ablation.plan import plan_ablation
from danlu.ablation.spec import load_spec, training_steps
from danlu.config.load import load_config
from danlu.errors import ConfigError

RAW = ["curate.filters.enabled=false", "curate.exact_dedup=false",
       "curate.near_dedup.enabled=false", "curate.quality.enabled=false"]


def write_spec(project: Path, text: str) -> Path:
    path = project / "ablation.yaml"
    path.write_text(text)
    return path


SPEC = """
seeds: [1, 2, 3]
tokens: 20480
common: [train.eval_every=5]
variants:
  raw: [{raw}]
  full:
  lr: [train.lr=0.001]
""".format(raw=", ".join(RAW))


def test_a_spec_file_gives_variants_in_order_seeds_and_the_first_as_baseline(project: Path):
    spec = load_spec(write_spec(project, SPEC))
    assert spec.name == "ablation"  # the file's stem
    assert list(spec.variants) == ["raw", "full", "lr"]
    assert spec.variants["full"] == []  # nothing after `full:`: params.yaml as is
    assert spec.seeds == [1, 2, 3] and spec.baseline_variant == "raw"


def test_command_line_variants_and_seeds(project: Path):
    spec = load_spec(None, variants=["raw=curate.exact_dedup=false,curate.language.keep=[en,de]",
                                     "full"], seeds=[7, 8], name="cli")
    assert spec.variants == {"raw": ["curate.exact_dedup=false", "curate.language.keep=[en,de]"],
                             "full": []}
    assert spec.seeds == [7, 8] and spec.name == "cli"
    # added to a file's variants, replacing one of the same name
    spec = load_spec(write_spec(project, SPEC), variants=["lr=train.lr=0.002"], seeds=[4])
    assert spec.variants["lr"] == ["train.lr=0.002"] and list(spec.variants)[-1] == "lr"
    assert spec.seeds == [4]


@pytest.mark.parametrize("override", ["model.preset=d6", "train.max_steps=10",
                                      "train.batch_size=4", "train.batch_tokens=4096",
                                      "train.seed=5", "paths.outputs=elsewhere",
                                      "tracking.register_models=true"])
def test_a_variant_may_not_change_the_model_the_batch_or_the_budget(project: Path, override):
    text = SPEC.replace("lr: [train.lr=0.001]", f"odd: [{override}]")
    with pytest.raises(ConfigError, match=rf"variant odd: -S {override}"):
        load_spec(write_spec(project, text))


def test_common_may_set_the_model_but_not_what_the_ablation_sets(project: Path):
    load_spec(write_spec(project, SPEC.replace("[train.eval_every=5]",
                                               "[model.context_length=64]")))
    with pytest.raises(ConfigError, match="common: -S train.seed=3: danlu ablate sets"):
        load_spec(write_spec(project, SPEC.replace("[train.eval_every=5]", "[train.seed=3]")))


@pytest.mark.parametrize("text, message", [
    ("seeds: [1, 1]\nvariants: {a: []}", "seeds repeat"),
    ("baseline: b\nvariants: {a: []}", "baseline 'b' is not a variant"),
    ("variants: {}", "variants"),
    ("variants: {a: []}\nfoo: 1", "foo"),
    ("variants: {'a b': []}", "variant 'a b'"),
])
def test_a_bad_spec_names_what_is_wrong(project: Path, text: str, message: str):
    with pytest.raises(ConfigError, match=message):
        load_spec(write_spec(project, text))


def test_the_token_budget_is_whole_steps(project: Path):
    cfg = load_config(project / "params.yaml")  # tiny: steps of 2,048 tokens
    assert training_steps(load_spec(write_spec(project, SPEC)), cfg) == (10, 20480)
    spec = load_spec(write_spec(project, SPEC.replace("20480", "20000")))
    with pytest.raises(ConfigError, match=r"tokens: 20,000 is not a whole number of steps of "
                                          r"2,048 tokens .*; 9 steps give 18,432, 10 give 20,480"):
        training_steps(spec, cfg)
    untold = load_spec(write_spec(project, SPEC.replace("tokens: 20480\n", "")))
    assert training_steps(untold, cfg) == (cfg.train.max_steps, cfg.train.max_steps * 2048)


def test_every_run_trains_the_same_model_on_the_same_tokens(project: Path):
    spec = load_spec(write_spec(project, SPEC))
    plan = plan_ablation(spec, str(project / "params.yaml"), [])
    assert len(plan.runs) == 9 and (plan.steps, plan.tokens) == (10, 20480)
    configs = [load_config(project / "params.yaml", list(r.pretrain.overrides))
               for r in plan.runs]
    assert {(c.train.max_steps, c.train.batch_size, c.train.batch_tokens,
             c.model.model_dump_json()) for c in configs} == {(10, 16, None,
                                                               configs[0].model.model_dump_json())}
    assert {training_steps(spec, c) for c in configs} == {(10, 20480)}
    assert [c.train.seed for c in configs] == [1, 2, 3] * 3
    assert {c.train.heldout for c in configs} == {"data/eval/tasks/heldout.jsonl"}
    assert not any(c.tracking.register_models for c in configs)
    assert {c.train.eval_every for c in configs} == {5}  # common


def test_runs_share_the_stages_whose_settings_they_share(project: Path):
    plan = plan_ablation(load_spec(write_spec(project, SPEC)), str(project / "params.yaml"), [])
    keys = {(r.variant, r.seed): {j.stage: j.key for j in r.jobs} for r in plan.runs}
    # the seeds of a variant share its curate and tokenizer, not its pretraining
    assert len({keys["raw", s]["curate"] for s in (1, 2, 3)}) == 1
    assert len({keys["raw", s]["tokenizer"] for s in (1, 2, 3)}) == 1
    assert len({keys["raw", s]["pretrain"] for s in (1, 2, 3)}) == 3
    # a variant that changes only training shares the data stages with params.yaml's
    assert keys["lr", 1]["curate"] == keys["full", 1]["curate"]
    assert keys["lr", 1]["tokenizer"] == keys["full", 1]["tokenizer"]
    assert keys["lr", 1]["pretrain"] != keys["full", 1]["pretrain"]
    assert keys["raw", 1]["curate"] != keys["full", 1]["curate"]
    # a different curate makes a different tokenizer workspace even with the same settings
    assert keys["raw", 1]["tokenizer"] != keys["full", 1]["tokenizer"]
    jobs = plan.unique_jobs()
    assert sorted(j.stage for j in jobs.values()).count("curate") == 2
    assert sorted(j.stage for j in jobs.values()).count("pretrain") == 9
    # a second plan of the same ablation finds the same workspaces
    again = plan_ablation(load_spec(write_spec(project, SPEC)), str(project / "params.yaml"), [])
    assert again.unique_jobs().keys() == jobs.keys()


def test_a_workspace_links_the_folders_of_its_earlier_stages(project: Path):
    plan = plan_ablation(load_spec(write_spec(project, SPEC)), str(project / "params.yaml"), [])
    pretrain = plan.runs[0].pretrain
    pretrain.link_upstream()
    pretrain.link_upstream()  # again: nothing to do
    for job in pretrain.upstream:
        link = pretrain.workspace / job.stage
        assert link.is_symlink() and not os.path.isabs(os.readlink(link))
        assert link.resolve() == job.folder.resolve()
    cfg = load_config(project / "params.yaml", list(pretrain.overrides))
    assert cfg.out_dir("tokenizer") == pretrain.workspace / "tokenizer"
    assert cfg.out_dir("pretrain") == pretrain.folder
    assert pretrain.workspace.parent == project / "outputs" / "ablations" / "stages"


def test_a_bad_override_fails_the_plan_and_names_its_variant(project: Path):
    spec = load_spec(write_spec(project, SPEC.replace("train.lr=0.001", "train.lr=-1")))
    with pytest.raises(ConfigError, match=r"(?s)variant lr: .*train.lr: Input should be greater"):
        plan_ablation(spec, str(project / "params.yaml"), [])


def test_the_held_out_text_must_exist(project: Path):
    spec = load_spec(write_spec(project, SPEC + "heldout: data/none.jsonl\n"))
    with pytest.raises(ConfigError, match="held-out text data/none.jsonl not found"):
        plan_ablation(spec, str(project / "params.yaml"), [])


def test_the_command_names_a_bad_ablation_before_anything_runs(project: Path):
    import subprocess
    import sys

    def danlu(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "danlu", "ablate", *args], cwd=project,
                              capture_output=True, text=True, timeout=300)

    none = danlu()
    assert none.returncode == 2 and "name an ablation file (--config" in none.stderr
    odd = danlu("--variant", "big=model.preset=d12", "--variant", "full")
    assert odd.returncode == 2
    assert "variant big: -S model.preset=d12: every variant trains the same model" in odd.stderr
    seeds = danlu("--variant", "full", "--seeds", "1,two")
    assert seeds.returncode == 2 and "--seeds 1,two: expected whole numbers" in seeds.stderr
    missing = danlu("--config", "nothing.yaml")
    assert missing.returncode == 2 and "nothing.yaml: ablation file not found" in missing.stderr
    assert not (project / "outputs").exists()  # nothing ran


def test_the_shipped_ablation_files_are_valid(repo_root: Path, project: Path):
    sample = load_spec(repo_root / "ablations" / "sample.yaml")
    assert sample.seeds == [1, 2, 3] and list(sample.variants) == ["raw", "full"]
    plan = plan_ablation(sample, str(project / "params.yaml"), [])
    assert plan.tokens == 409600 and len(plan.runs) == 6
    crawl = load_spec(repo_root / "ablations" / "crawl.yaml")
    assert list(crawl.variants) == ["raw", "+filters", "+dedup", "+quality", "+mixture"]
    assert training_steps(crawl, load_config(project / "params.yaml",
                                             list(crawl.common))) == (400, 52428800)
