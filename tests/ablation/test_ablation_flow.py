"""`danlu ablate` end to end on the bundled sample, tiny: the Prefect flow with a subflow per
variant, real stages in shared workspaces, the report, MLflow's parent and child runs, and a
variant that fails without taking the others down."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sample_project import sample_project
from danlu.ablation.spec import load_spec

pytestmark = pytest.mark.slow

TINY = ["tokenizer.vocab_size=1024", "model.context_length=128", "train.batch_size=8",
        "train.eval_batches=2", "train.sample_tokens=0"]
STEPS, STEP_TOKENS = 6, 2048  # tiny preset: 2,048 tokens a step (2 micro-batches of 8 x 128)
SPEC = f"""
name: tiny
seeds: [1, 2]
tokens: {STEPS * STEP_TOKENS}
heldout: data/eval/tasks/heldout.jsonl
tasks: [data/eval/tasks/cloze.yaml]
common: [train.eval_every=3, train.warmup_steps=2]
variants:
  raw: [curate.filters.enabled=false, curate.exact_dedup=false,
        curate.near_dedup.enabled=false, curate.quality.enabled=false,
        curate.validation.min_chars=1]
  broken: ["curate.inputs.crawl=[data/no-such-crawl]"]
  full:
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory, repo_root: Path) -> Path:
    root = sample_project(tmp_path_factory.mktemp("ablation"), repo_root)
    (root / "tiny.yaml").write_text(SPEC)
    return root


@pytest.fixture(scope="module")
def ablation(project: Path, prefect) -> dict:
    from flows.ablation import run_ablation

    spec = load_spec(project / "tiny.yaml")
    summary = run_ablation(str(project / "params.yaml"), spec, TINY)
    summary["artifact"] = _artifact("danlu-ablation-report")
    return summary


def _artifact(key: str) -> list:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read():
        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key])))

    return asyncio.run(read())


def results(project: Path) -> dict:
    return json.loads((project / "outputs/ablations/tiny/results.json").read_text())


def test_every_run_trained_on_the_same_tokens(ablation: dict, project: Path):
    runs = [r for r in results(project)["runs"] if r["status"] == "ok"]
    assert sorted((r["variant"], r["seed"]) for r in runs) == [
        ("full", 1), ("full", 2), ("raw", 1), ("raw", 2)]
    assert {r["metrics"]["tokens_seen"] for r in runs} == {STEPS * STEP_TOKENS}
    for run in runs:  # the held-out curve: a point at every validation, the last at the budget
        assert [p["tokens"] for p in run["curve"]] == [3 * STEP_TOKENS, 6 * STEP_TOKENS]
        assert run["curve"][-1]["heldout_bits_per_byte"] == pytest.approx(
            run["metrics"]["heldout.bits_per_byte"], rel=1e-3)
    # the data differed: raw kept more documents than the full recipe
    kept = {r["variant"]: r["metrics"]["documents_kept"] for r in runs}
    assert kept["raw"] > kept["full"]


def test_a_failing_variant_is_reported_and_the_others_are_not_lost(ablation: dict,
                                                                    project: Path):
    failed = [r for r in results(project)["runs"] if r["status"] != "ok"]
    assert [(r["variant"], r["seed"], r["failed_stage"]) for r in failed] == [
        ("broken", 1, "curate"), ("broken", 2, "curate")]
    assert "no-such-crawl" in failed[0]["error"]
    assert [(r["variant"], r["seed"]) for r in ablation["failed"]] == [("broken", 1),
                                                                       ("broken", 2)]
    report = (project / "outputs/ablations/tiny/report.md").read_text()
    assert "## Failed runs" in report and "no-such-crawl" in report
    rows: dict[str, str] = {}
    for line in report.splitlines():  # the results table comes before the failed runs'
        if line.startswith("| `"):
            rows.setdefault(line.split("|")[1].strip(), line)
    assert "failed" in rows["`broken`"] and "±" in rows["`raw`"] and "±" in rows["`full`"]


def test_shared_stages_ran_once(ablation: dict, project: Path):
    stages = project / "outputs/ablations/stages"
    made = sorted(p.name.split("-")[0] for p in stages.iterdir())
    # curate: raw, full and broken; tokenizer: raw and full; pretrain: 2 variants x 2 seeds
    assert made.count("curate") == 3 and made.count("tokenizer") == 2
    assert made.count("pretrain") == 4
    runs = {(r["variant"], r["seed"]): r for r in results(project)["runs"]}
    for variant in ("raw", "full"):
        one, two = runs[variant, 1]["stages"], runs[variant, 2]["stages"]
        assert one["curate"] == two["curate"] and one["tokenizer"] == two["tokenizer"]
        assert one["pretrain"]["key"] != two["pretrain"]["key"]


def test_mlflow_has_a_parent_run_with_a_child_per_variant(ablation: dict, project: Path):
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    exp = client.get_experiment_by_name("danlu")
    parent = client.get_run(ablation["mlflow_run_id"])
    assert parent.data.tags["danlu.ablation"] == "tiny"
    assert parent.info.status == "FAILED"  # a run failed: the parent says so
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.md", "results.json", "table.csv", "heldout_bpb.png"} <= artifacts
    children = client.search_runs([exp.experiment_id], filter_string=(
        f"tags.mlflow.parentRunId = '{parent.info.run_id}'"))
    by_variant = {c.data.tags["danlu.variant"]: c for c in children}
    assert sorted(by_variant) == ["broken", "full", "raw"]
    full = by_variant["full"]
    assert full.info.status == "FINISHED" and by_variant["broken"].info.status == "FAILED"
    m = full.data.metrics
    assert {"seed1.heldout.bits_per_byte", "seed2.heldout.bits_per_byte",
            "heldout.bits_per_byte.mean", "heldout.bits_per_byte.std"} <= set(m)
    assert m["heldout.bits_per_byte.mean"] == pytest.approx(
        (m["seed1.heldout.bits_per_byte"] + m["seed2.heldout.bits_per_byte"]) / 2)
    # the stage runs nest under their variant's run; a reused stage made none
    stage_runs = client.search_runs([exp.experiment_id], filter_string=(
        f"tags.mlflow.parentRunId = '{full.info.run_id}'"))
    assert sorted(r.data.tags["danlu.stage"] for r in stage_runs) == [
        "curate", "pretrain", "pretrain", "tokenizer"]
    # ablation models are not registered
    assert not client.search_model_versions()


def test_the_report_and_its_artifact(ablation: dict, project: Path):
    folder = project / "outputs/ablations/tiny"
    with open(folder / "table.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    primary = {r["variant"]: r for r in rows if r["metric"] == "heldout.bits_per_byte"}
    assert sorted(primary) == ["full", "raw"] and primary["raw"]["n"] == "2"
    assert (folder / "heldout_bpb.png").read_bytes().startswith(b"\x89PNG")
    report = (folder / "report.md").read_text()
    assert "`full` against `raw`" in report and "12,288 tokens" in report
    assert any(a.key == "danlu-ablation-report" and "`full` against `raw`" in a.data
               for a in ablation["artifact"])
    assert ablation["markdown"] == report


def test_a_later_ablation_reuses_what_it_shares_with_variants_at_once(ablation: dict,
                                                                       project: Path, prefect):
    from mlflow import MlflowClient

    from flows.ablation import run_ablation

    first = {(r["variant"], r["seed"]): r for r in results(project)["runs"]}
    spec = load_spec(project / "tiny.yaml", seeds=[2, 3], name="again")
    spec = spec.model_copy(update={"concurrency": 2, "variants": {
        k: v for k, v in spec.variants.items() if k != "broken"}})
    summary = run_ablation(str(project / "params.yaml"), spec, TINY)
    assert summary["failed"] == []
    runs = {(r["variant"], r["seed"]): r for r in json.loads(
        (project / "outputs/ablations/again/results.json").read_text())["runs"]}
    for variant in ("raw", "full"):  # seed 2 is the first ablation's run, reused whole
        assert runs[variant, 2]["stages"] == first[variant, 2]["stages"]
        assert runs[variant, 2]["metrics"] == first[variant, 2]["metrics"]
        assert runs[variant, 3]["stages"]["curate"] == first[variant, 1]["stages"]["curate"]
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    exp = client.get_experiment_by_name("danlu")
    children = client.search_runs([exp.experiment_id], filter_string=(
        f"tags.mlflow.parentRunId = '{summary['mlflow_run_id']}'"))
    stages = [r.data.tags["danlu.stage"] for c in children for r in client.search_runs(
        [exp.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{c.info.run_id}'")]
    assert stages == ["pretrain", "pretrain"]  # seed 3 of each variant; the rest was reused
