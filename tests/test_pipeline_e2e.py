"""The whole pipeline on the bundled sample, through the Prefect flow, with a tiny config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sample_project import sample_project
from danlu.pipeline import ORDER

pytestmark = pytest.mark.slow

TINY = [
    "tokenizer.vocab_size=1024",
    "model.context_length=128",
    "train.max_steps=40", "train.batch_size=8", "train.eval_every=20", "train.eval_batches=2",
    "finetune.max_steps=20", "finetune.batch_size=8", "finetune.max_length=128",
    "reward.max_steps=8", "reward.batch_size=8", "dpo.max_steps=4", "dpo.batch_size=4",
    "dpo.max_new_tokens=8",
    "evaluate.max_new_tokens=12", "evaluate.num_samples=2",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory, repo_root: Path) -> Path:
    return sample_project(tmp_path_factory.mktemp("project"), repo_root)


@pytest.fixture(scope="module")
def first_run(project: Path, prefect) -> dict:
    from flows.pipeline import danlu_pipeline

    return danlu_pipeline(str(project / "params.yaml"), TINY)


def test_every_stage_ran_and_wrote_its_outputs(first_run: dict, project: Path):
    assert [r["name"] for r in first_run["stages"]] == ORDER
    assert not any(r["cached"] for r in first_run["stages"])
    for record in first_run["stages"]:
        for out in record["outputs"]:
            assert Path(out).exists(), out
    out = project / "outputs"
    stats = json.loads((out / "curate" / "stats.json").read_text())
    m = first_run["stages"][0]["metrics"]
    assert m["documents_in"] == m["kept"] + m["dropped"] + m["quarantined"]
    assert m["quarantined"] >= 1  # the sample's corrupt WARC file is quarantined, not fatal
    assert stats
    assert (out / "pretrain" / "model" / "model.safetensors").is_file()
    assert (out / "sft" / "model" / "tokenizer_config.json").is_file()
    report = (out / "evaluate" / "report.md").read_text()
    assert "bits\\_per\\_byte" in report and "tasks.png" in report and "losses.png" in report
    results = json.loads((out / "evaluate" / "results.json").read_text())
    assert [t["name"] for t in results["tasks"]] == ["cloze", "heldout", "replies", "statements"]
    assert [m["label"] for m in results["models"]] == ["base", "sft (full)", "chat (dpo)"]
    for task in results["tasks"]:
        assert set(task["metrics"]) >= {"base", "sft (full)", "chat (dpo)"}, task["name"]
        # held out by the sample's own leak check; the n-gram check still finds a few
        # docstrings that share a sentence with training text (tarfile's, for one)
        assert 0 <= task["dirty"] <= task["items"] // 10, task["name"]
    assert "signature" in report.lower() or "nrefs:1" in report


def test_mlflow_has_a_parent_run_with_a_nested_run_per_stage(first_run: dict, project: Path):
    from danlu.config import load_config
    from danlu.tracking.mlflow_runs import PARENT_TAG, client

    cfg = load_config(project / "params.yaml", TINY)
    c = client(cfg)
    parent = c.get_run(first_run["mlflow_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.tags["params_hash"]
    exp = c.get_experiment_by_name(cfg.tracking.experiment)
    children = c.search_runs([exp.experiment_id],
                             f"tags.`{PARENT_TAG}` = '{parent.info.run_id}'")
    assert sorted(r.data.tags["danlu.stage"] for r in children) == sorted(ORDER)
    pretrain = next(r for r in children if r.data.tags["danlu.stage"] == "pretrain")
    curve = c.get_metric_history(pretrain.info.run_id, "pretrain.loss")
    assert [m.step for m in curve] == list(range(40))
    assert {"metrics.json", "loss.csv"} <= {a.path for a in c.list_artifacts(pretrain.info.run_id)}


def test_params_and_metrics_are_logged_once_in_one_format(first_run: dict, project: Path):
    """The runner alone logs a stage's params (params.yaml keys, dotted; facts of the run by
    name) and its final metrics (as in metrics.json), once; the loop logs curves by step."""
    from danlu.config import load_config
    from danlu.tracking.mlflow_runs import PARENT_TAG, client

    cfg = load_config(project / "params.yaml", TINY)
    c = client(cfg)
    exp = c.get_experiment_by_name(cfg.tracking.experiment)
    children = c.search_runs([exp.experiment_id],
                             f"tags.`{PARENT_TAG}` = '{first_run['mlflow_run_id']}'")
    runs = {r.data.tags["danlu.stage"]: r for r in children}
    pretrain = runs["pretrain"].data
    assert pretrain.params["train.max_steps"] == "40" and pretrain.params["model.preset"] == "tiny"
    assert pretrain.params["n_params"] and pretrain.params["device"] == "cpu"
    assert not any(k.startswith("params.") for r in runs.values() for k in r.data.params)
    assert runs["sft"].data.params["finetune.min_lr_ratio"] == "0.1"
    assert runs["sft"].data.params["finetune.method"] == "full"
    assert runs["dpo"].data.params["dpo.beta"] == "0.1"
    assert "dpo.rewards.margins" in runs["dpo"].data.metrics  # TRL's names, by step
    assert "win_rate" in runs["dpo"].data.metrics and "val_accuracy" in runs["reward"].data.metrics
    assert runs["curate"].data.params["curate.filters.min_words"] == "50"
    saved = json.loads((project / "outputs" / "pretrain" / "metrics.json").read_text())
    for key, value in saved.items():
        history = c.get_metric_history(runs["pretrain"].info.run_id, key)
        assert [m.value for m in history] == [pytest.approx(value)], key
    assert "pretrain.loss" in pretrain.metrics  # the curve, by step


def test_models_are_registered_with_alias_and_lineage(first_run: dict, project: Path):
    from danlu.config import load_config
    from danlu.tracking.mlflow_runs import client

    cfg = load_config(project / "params.yaml", TINY)
    c = client(cfg)
    for name in (cfg.registry.base_model, cfg.registry.chat_model, cfg.registry.reward_model):
        mv = c.get_model_version_by_alias(name, "candidate")
        assert mv.tags["git_commit"] == "unknown"  # the tmp project is no git repository
        assert mv.tags["data_dvc_md5"] == "untracked"
        assert mv.tags["params_hash"] == cfg.section_hash()
        assert len(mv.tags["weights_sha256"]) == 64
    # lineage: sft came from danlu-base v1, dpo (the final chat model, @candidate) from sft's
    chat = {v.tags["danlu.stage"]: v for v in c.search_model_versions("name = 'danlu-chat'")}
    assert chat["sft"].tags["base_model_version"] == "1" and chat["sft"].tags["method"] == "full"
    assert chat["dpo"].tags["base_model"] == "danlu-chat"
    assert chat["dpo"].tags["base_model_version"] == str(chat["sft"].version)
    assert c.get_model_version_by_alias("danlu-chat", "candidate").version == chat["dpo"].version
    assert chat["dpo"].tags["data_sha256"] != chat["sft"].tags["data_sha256"]  # pairs, not chats
    reward = c.get_model_version_by_alias(cfg.registry.reward_model, "candidate")
    assert reward.tags["base_model_version"] == str(chat["sft"].version)
    # no champion before: the gate makes the first base and final chat versions champions
    for name in (cfg.registry.base_model, cfg.registry.chat_model):
        champion = c.get_model_version_by_alias(name, "champion")
        assert champion.version == c.get_model_version_by_alias(name, "candidate").version
        assert champion.tags["gate.decision"] == "promoted" and champion.tags["gate.metric"] == "core"
    assert chat["sft"].tags.get("gate.decision") is None  # only the final chat model is gated


def test_summary_artifact_is_published(first_run: dict):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read():
        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["danlu-pipeline-summary"])))

    artifacts = asyncio.run(read())
    assert any("danlu-base" in a.data for a in artifacts)
    assert "| curate | ran |" in first_run["markdown"]
    assert "(alias `@candidate`; promoted to `@champion`)" in first_run["markdown"]


def test_report_card_is_a_prefect_artifact(first_run: dict, project: Path):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read():
        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["danlu-report-card"])))

    (artifact, *_) = asyncio.run(read())
    assert artifact.data == (project / "outputs" / "evaluate" / "report.md").read_text()


def test_curate_stats_table_is_a_prefect_artifact(first_run: dict, project: Path):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read():
        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["danlu-curate-stats"])))

    artifacts = asyncio.run(read())
    stats = json.loads((project / "outputs" / "curate" / "stats.json").read_text())
    assert artifacts and f"**{stats['kept']:,} kept**" in artifacts[0].data
    assert "| near_duplicate |" in artifacts[0].data and "text bytes removed" in artifacts[0].data


def test_shards_run_as_prefect_tasks_with_the_same_output(prefect, tmp_path: Path, repo_root: Path):
    """The ShardRunner over a Prefect task runner (threads here; processes with a server)."""
    import sys

    from prefect import flow
    from prefect.task_runners import ThreadPoolTaskRunner

    sys.path.insert(0, str(repo_root / "tests" / "curate"))
    from curate_fixtures import build_corpus

    from danlu.config import load_config
    from danlu.curate.run import curate
    from danlu.runners import shard_runner
    from flows.shards import PrefectTasks

    cfg = load_config(repo_root / "params.yaml").curate
    cfg = cfg.model_copy(update={"quality": cfg.quality.model_copy(update={"enabled": False})})
    inputs = build_corpus(tmp_path / "inputs")

    @flow
    def with_tasks() -> dict:
        with shard_runner(lambda workers, dask: PrefectTasks(ThreadPoolTaskRunner(2), "threads")):
            return curate(cfg, inputs, tmp_path / "tasks").stats

    tasks = with_tasks()
    plain = curate(cfg.model_copy(update={"execution": cfg.execution.model_copy(
        update={"workers": 1})}), inputs, tmp_path / "plain").stats
    assert tasks == plain and tasks["shards"] > 1
    for name in ("documents/part-00000.parquet", "dropped/part-00000.parquet", "stats.json"):
        assert (tmp_path / "tasks" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()


def test_shards_run_as_prefect_tasks_on_a_dask_cluster(prefect, tmp_path: Path, repo_root: Path,
                                                        monkeypatch):
    """With a server and curate.execution.dask_address, the flow's shard runner is
    prefect-dask's DaskTaskRunner on that cluster; the output is the plain run's."""
    import sys

    distributed = pytest.importorskip("distributed", reason="danlu[dask] is not installed")
    pytest.importorskip("prefect_dask", reason="danlu[dask] is not installed")
    from prefect import flow
    from prefect.settings import PREFECT_API_URL

    sys.path.insert(0, str(repo_root / "tests" / "curate"))
    from curate_fixtures import build_corpus

    from danlu.config import load_config
    from danlu.curate.run import curate
    from danlu.runners import choose_runner, shard_runner
    from flows.shards import prefect_shard_runner

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())  # the harness's server
    cfg = load_config(repo_root / "params.yaml").curate
    cfg = cfg.model_copy(update={"quality": cfg.quality.model_copy(update={"enabled": False})})
    inputs = build_corpus(tmp_path / "inputs")
    plain = curate(cfg.model_copy(update={"execution": cfg.execution.model_copy(
        update={"workers": 1})}), inputs, tmp_path / "plain").stats
    # threads in this process: the harness's server settings reach the tasks
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        on_dask = cfg.model_copy(update={"execution": cfg.execution.model_copy(
            update={"dask_address": cluster.scheduler_address})})

        @flow
        def with_tasks() -> tuple[dict, str]:
            with shard_runner(prefect_shard_runner):
                name = choose_runner(on_dask.execution, 4).name
                return curate(on_dask, inputs, tmp_path / "dask").stats, name

        stats, runner = with_tasks()
    assert runner == f"Prefect tasks (Dask cluster at {cluster.scheduler_address})"
    assert stats == plain and stats["shards"] > 1


def test_encoding_runs_as_prefect_tasks_on_the_dask_cluster(prefect, tmp_path: Path,
                                                            monkeypatch):
    """The tokenizer stage under the flow's shard runner, with curate's Dask cluster: its
    encoding jobs are Prefect tasks there (encode-train-00000...), the shards the local run's."""
    import asyncio

    distributed = pytest.importorskip("distributed", reason="danlu[dask] is not installed")
    pytest.importorskip("prefect_dask", reason="danlu[dask] is not installed")
    import pyarrow as pa
    import pyarrow.parquet as pq
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from danlu.config import ExecutionConfig, MixtureConfig, TokenizerConfig
    from danlu.runners import choose_runner, shard_runner
    from danlu.tokenizer import encode_jobs
    from danlu.tokenizer.build import build_tokenizer
    from flows.shards import prefect_shard_runner

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())  # the harness's server
    monkeypatch.setattr(encode_jobs, "CHUNK_BYTES", 4000)
    docs = tmp_path / "documents"
    docs.mkdir()
    texts = [f"Document {i} says the word number {i % 7} many times: " + "word " * (i % 50)
             for i in range(120)]
    pq.write_table(pa.table({"id": [f"d{i:03d}" for i in range(120)], "text": texts,
                             "source": ["crawl"] * 120}), docs / "part-00000.parquet")
    cfg = TokenizerConfig(vocab_size=600, min_frequency=2, val_fraction=0.1,
                          train_sample_bytes=None, mixture=MixtureConfig(weights={},
                                                                          total_tokens=None))
    local = build_tokenizer(cfg, docs, tmp_path / "local", seed=3)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        execution = ExecutionConfig(workers=0, shard_bytes=1 << 26,
                                    dask_address=cluster.scheduler_address)

        @flow
        def with_tasks():
            with shard_runner(prefect_shard_runner):
                return build_tokenizer(cfg, docs, tmp_path / "dask", seed=3,
                                       cluster_runner=lambda n: choose_runner(execution, n))

        remote = with_tasks()
    for a, b in zip(local.train_shards + local.val_shards,
                    remote.train_shards + remote.val_shards, strict=True):
        assert a.read_bytes() == b.read_bytes()

    async def task_names() -> set[str]:
        async with get_client() as client:
            return {t.name for t in await client.read_task_runs()}

    names = asyncio.run(task_names())
    assert {"encode-train-00000", "encode-train-00001", "encode-val-00000"} <= names


def test_a_second_run_with_nothing_changed_reuses_every_stage(first_run: dict, project: Path):
    from flows.pipeline import danlu_pipeline

    again = danlu_pipeline(str(project / "params.yaml"), TINY)
    assert [r["cached"] for r in again["stages"]] == [True] * len(ORDER)
    assert [r["metrics"] for r in again["stages"]] == [r["metrics"] for r in first_run["stages"]]
    assert not any(r["registered"] for r in again["stages"])  # no new model versions


def test_a_changed_param_reruns_only_the_stages_that_read_it(first_run: dict, project: Path):
    from flows.pipeline import danlu_pipeline

    changed = danlu_pipeline(str(project / "params.yaml"),
                             [*TINY, "evaluate.max_new_tokens=10"])
    assert [r["cached"] for r in changed["stages"]] == [True] * (len(ORDER) - 1) + [False]
