"""The tokenizer's encoding as jobs on a Dask cluster (curate.execution.dask_address): the same
shards as a local run, byte for byte, with the mixture too; nothing left in the output."""

from __future__ import annotations

import pytest

from danlu.config import MixtureConfig, TokenizerConfig
from danlu.runners import DaskCluster, InProcess
from danlu.tokenizer import encode_jobs
from danlu.tokenizer.build import build_tokenizer
from danlu.tokenizer.encode import TextEncoder

distributed = pytest.importorskip("distributed", reason="danlu[dask] is not installed")

CFG = TokenizerConfig(vocab_size=600, min_frequency=2, val_fraction=0.1, train_sample_bytes=None,
                      mixture=MixtureConfig(weights={}, total_tokens=None))


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        yield local.scheduler_address


@pytest.mark.parametrize("weights", [{}, {"crawl": 0.4, "reference": 0.6}])
def test_encoding_on_a_dask_cluster_writes_the_local_runs_shards(
        cluster, documents_dir, tmp_path, monkeypatch, weights):
    cfg = CFG.model_copy(update={"mixture": MixtureConfig(weights=weights, total_tokens=None)})
    local = build_tokenizer(cfg, documents_dir, tmp_path / "local", seed=11, shard_tokens=4000)
    monkeypatch.setattr(encode_jobs, "CHUNK_BYTES", 3000)  # several jobs on small documents
    made: list[int] = []

    def runner(n_jobs: int) -> DaskCluster:
        made.append(n_jobs)
        return DaskCluster(cluster)

    remote = build_tokenizer(cfg, documents_dir, tmp_path / "dask", seed=11, shard_tokens=4000,
                             cluster_runner=runner)
    assert made, "the cluster was not used"
    assert [p.name for p in remote.train_shards + remote.val_shards] == \
        [p.name for p in local.train_shards + local.val_shards]
    for a, b in zip(local.train_shards + local.val_shards,
                    remote.train_shards + remote.val_shards, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert remote.stats["train"] == local.stats["train"]
    assert sorted(p.name for p in remote.out_dir.iterdir()) == \
        sorted(p.name for p in local.out_dir.iterdir())  # no scratch left behind


def test_jobs_split_the_texts_in_order_and_carry_paths(tmp_path, monkeypatch, tokenizer_dir):
    monkeypatch.setattr(encode_jobs, "CHUNK_BYTES", 10)
    texts = ["abcdef", "ghijkl", "mn", "opqrstuvwxyz", "z"]
    jobs = encode_jobs.write_jobs(texts, tmp_path / "scratch", tokenizer_dir / "tokenizer.json",
                                  "train")
    assert [j.name for j in jobs] == ["encode-train-00000", "encode-train-00001",
                                      "encode-train-00002"]
    assert all(isinstance(v, str) for j in jobs for v in (j.texts_path, j.ids_path))
    ids = [a.tolist() for a in encode_jobs.encode_on(
        InProcess(), texts, tmp_path / "scratch2", tokenizer_dir / "tokenizer.json",
        "train")]
    assert ids == [a.tolist() for a in TextEncoder(tokenizer_dir).encode_texts(texts, workers=1)]
