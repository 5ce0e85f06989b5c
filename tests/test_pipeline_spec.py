"""dvc.yaml is written from the stage table, and the change check follows the same list of inputs,
params and code: every danlu module a stage's entry imports."""

import shutil
from pathlib import Path

import pytest
import yaml

from danlu.config.load import load_config
from danlu.errors import ConfigError, DataError
from danlu.imports import PACKAGE_DIR
from danlu.pipeline import ORDER, STAGES, check_inputs, choose_stages, fingerprint, render_dvc_yaml


@pytest.fixture(scope="module")
def cfg(repo_root: Path):
    return load_config(repo_root / "params.yaml")


def test_dvc_yaml_is_what_the_stage_table_writes(cfg, repo_root: Path):
    """`danlu dvc-yaml` is the one way dvc.yaml changes: the committed file is its output."""
    assert (repo_root / "dvc.yaml").read_text() == render_dvc_yaml(cfg)


def test_the_report_card_lists_the_stages_before_evaluate_in_order():
    from danlu.evaluate.stage import EARLIER_STAGES

    assert ORDER[-1] == "evaluate" and list(EARLIER_STAGES) == ORDER[:-1]


def test_dvc_stages_are_the_pipeline_stages_in_order(repo_root: Path):
    stages = yaml.safe_load((repo_root / "dvc.yaml").read_text())["stages"]
    assert list(stages) == ORDER
    for name, stage in stages.items():
        assert stage["cmd"] == f"danlu {name} --force"
        for dep in stage["deps"]:
            if dep.startswith("src/"):
                assert (repo_root / dep).exists(), dep


@pytest.mark.parametrize("name", ORDER)
def test_each_stage_depends_on_its_own_package_and_the_config(name):
    code = {str(p) for p in STAGES[name].code()}
    entry = STAGES[name].entry.removeprefix("danlu.").replace(".", "/") + ".py"
    assert STAGES[name].package in code or entry in code
    assert "config" in code and "pipeline.py" not in code and "cli.py" not in code


def test_code_deps_follow_imports_through_other_packages():
    """evaluate loads models through danlu.model.saved, which reads the chat tokens from
    danlu.tokens.chat: both are evaluate's code; the training loop and curate are not (of
    danlu.train it uses the device choice only)."""
    code = {str(p) for p in STAGES["evaluate"].code()}
    assert {"model/saved.py", "model/generate.py", "tokens/chat.py"} <= code
    assert not any(c.startswith(("curate", "pretrain")) for c in code)
    assert {c for c in code if c.startswith("train")} == {"train/__init__.py", "train/device.py"}


def test_a_change_in_a_module_imported_through_another_package_reruns_the_stage(tmp_path, cfg):
    """Touching danlu/tokens/chat.py (evaluate reaches it only through danlu.model) changes
    evaluate's fingerprint; touching a curate filter does not."""
    package = tmp_path / "danlu"
    shutil.copytree(PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__", "*.tar.gz"))
    spec = STAGES["evaluate"]
    before = fingerprint(spec, cfg, package)
    with open(package / "curate" / "filters" / "c4.py", "a") as fh:
        fh.write("\n# a curate-only change\n")
    assert fingerprint(spec, cfg, package) == before
    with open(package / "tokens" / "chat.py", "a") as fh:
        fh.write("\n# a change evaluate reaches through danlu.model.saved\n")
    assert fingerprint(spec, cfg, package) != before


def test_no_output_overlaps_another_or_the_data(repo_root: Path):
    stages = yaml.safe_load((repo_root / "dvc.yaml").read_text())["stages"]
    entries = lambda items: [next(iter(i)) if isinstance(i, dict) else i for i in items or []]  # noqa: E731
    outs = [o for s in stages.values() for key in ("outs", "metrics", "plots")
            for o in entries(s.get(key))]
    assert len(outs) == len(set(outs))
    for a in outs:
        assert not a.startswith("data/")
        for b in outs:
            assert a == b or not b.startswith(a.rstrip("/") + "/")


def test_fingerprint_follows_params_and_deps(tmp_path: Path, repo_root: Path):
    params = tmp_path / "params.yaml"
    params.write_text((repo_root / "params.yaml").read_text())
    (tmp_path / "data" / "sft").mkdir(parents=True)
    conv = tmp_path / "data" / "sft" / "conversations.jsonl"
    conv.write_text("a\n")
    cfg = load_config(params)
    spec = STAGES["sft"]
    first = fingerprint(spec, cfg)
    assert fingerprint(spec, load_config(params)) == first
    assert fingerprint(spec, load_config(params, ["finetune.lr=0.5"])) != first
    assert fingerprint(STAGES["sft"], load_config(params, ["curate.exact_dedup=false"])) == first
    conv.write_text("b\n")
    assert fingerprint(spec, cfg) != first


def test_a_relative_url_blocklist_is_resolved_and_fingerprinted(tmp_path: Path, repo_root: Path):
    from danlu.curate.stage import settings

    (tmp_path / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    (tmp_path / "block.txt").write_text("spam.example\n")
    cfg = load_config(tmp_path / "params.yaml", ["curate.url_blocklist=block.txt"])
    assert settings(cfg).url_blocklist == str(tmp_path / "block.txt")
    assert tmp_path / "block.txt" in STAGES["curate"].deps(cfg)
    before = fingerprint(STAGES["curate"], cfg)
    (tmp_path / "block.txt").write_text("spam.example\nads.example\n")
    assert fingerprint(STAGES["curate"], cfg) != before


def test_stage_names_are_checked_with_a_suggestion():
    assert choose_stages(["sft", "pretrain"]) == ["pretrain", "sft"]
    assert choose_stages(None) == ORDER
    with pytest.raises(ConfigError, match="unknown stage 'pretrian' \\(did you mean 'pretrain'\\?\\)"):
        choose_stages(["pretrian"])


def test_inputs_are_checked_before_a_run(tmp_path: Path, repo_root: Path):
    (tmp_path / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    cfg = load_config(tmp_path / "params.yaml")
    with pytest.raises(DataError, match=r"^data/crawl: input of the curate stage not found "
                                        r"\(`danlu sample`"):
        check_inputs(cfg, ORDER)
    with pytest.raises(DataError, match="outputs/tokenizer/tokenizer: missing, and the tokenizer "
                                        "stage that makes it is not in this run"):
        check_inputs(cfg, ["pretrain"])
    for name in ("crawl", "reference", "sft", "eval/tasks"):
        (tmp_path / "data" / name).mkdir(parents=True)
    for rel in ("sft/conversations.jsonl", "sft/preferences.jsonl", "eval/prompts.jsonl",
                "eval/tasks/heldout.jsonl"):
        (tmp_path / "data" / rel).write_text("{}\n")
    check_inputs(cfg, ORDER)  # every later input is made by an earlier stage of the run
