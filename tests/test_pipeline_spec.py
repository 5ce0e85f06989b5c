"""dvc.yaml and the stage table that `danlu run` uses must declare the same stages exactly."""

from pathlib import Path

import pytest
import yaml

from danlu.config import load_config
from danlu.pipeline import COMMON_CODE, ORDER, STAGES, fingerprint


def _entries(items) -> list[str]:
    return [next(iter(i)) if isinstance(i, dict) else i for i in items or []]


@pytest.fixture(scope="module")
def dvc_stages(repo_root: Path) -> dict:
    return yaml.safe_load((repo_root / "dvc.yaml").read_text())["stages"]


@pytest.fixture(scope="module")
def cfg(repo_root: Path):
    return load_config(repo_root / "params.yaml")


def test_same_stages_in_the_same_order(dvc_stages):
    assert list(dvc_stages) == ORDER


@pytest.mark.parametrize("name", ORDER)
def test_stage_declarations_match(name, dvc_stages, cfg):
    spec, stage = STAGES[name], dvc_stages[name]
    rel = lambda paths: sorted(str(p.relative_to(cfg.root)) for p in paths)  # noqa: E731
    code = [f"src/danlu/{c}" for c in (*spec.code, *COMMON_CODE)]
    assert sorted(stage["deps"]) == sorted(rel(spec.deps(cfg)) + code)
    assert sorted(stage["params"]) == sorted(spec.params)
    assert sorted(_entries(stage.get("outs"))) == rel(spec.outs(cfg))
    assert sorted(_entries(stage.get("metrics"))) == rel(spec.metrics(cfg))
    assert sorted(_entries(stage.get("plots"))) == rel(spec.plots(cfg))
    assert stage["cmd"] == f"danlu {name} --force"
    for dep in stage["deps"]:
        if dep.startswith("src/"):
            assert (cfg.root / dep).exists(), dep


def test_no_output_overlaps_another_or_the_data(dvc_stages):
    outs = [o for s in dvc_stages.values() for key in ("outs", "metrics", "plots")
            for o in _entries(s.get(key))]
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
    assert fingerprint(spec, load_config(params, ["sft.lr=0.5"])) != first
    assert fingerprint(STAGES["sft"], load_config(params, ["curate.exact_dedup=false"])) == first
    conv.write_text("b\n")
    assert fingerprint(spec, cfg) != first


def test_a_relative_url_blocklist_is_resolved_and_fingerprinted(tmp_path: Path, repo_root: Path):
    from danlu.pipeline import curate_settings

    (tmp_path / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    (tmp_path / "block.txt").write_text("spam.example\n")
    cfg = load_config(tmp_path / "params.yaml", ["curate.url_blocklist=block.txt"])
    assert curate_settings(cfg).url_blocklist == str(tmp_path / "block.txt")
    assert tmp_path / "block.txt" in STAGES["curate"].deps(cfg)
    before = fingerprint(STAGES["curate"], cfg)
    (tmp_path / "block.txt").write_text("spam.example\nads.example\n")
    assert fingerprint(STAGES["curate"], cfg) != before
