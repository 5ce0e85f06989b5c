"""Sharded execution: big files split where records start, the same documents whatever the
split or the number of workers, and a killed run resumed redoing only unfinished shards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from curate_fixtures import ARTICLES, WarcFiles, article_html, build_corpus, stdlib_texts, write_jsonl

from danlu.config import CurateConfig
from danlu.curate.run import curate
from danlu.curate import run as run_module
from danlu.curate.readers import list_input_files, read_files, read_range
from danlu.curate.shards import plan_shards

OUTPUT_FILES = ("documents", "dropped", "quarantine/quarantine.jsonl", "stats.json", "stats.md")


def settings(cfg: CurateConfig, **execution) -> CurateConfig:
    return cfg.model_copy(update={"execution": cfg.execution.model_copy(update=execution)})


def snapshot(out: Path) -> dict[str, bytes]:
    files = {}
    for name in OUTPUT_FILES:
        path = out / name
        for f in sorted(path.rglob("*") if path.is_dir() else [path]):
            if f.is_file():
                files[str(f.relative_to(out))] = f.read_bytes()
    return files


def items(source, files, **ranges):
    return [(i.id, type(i).__name__) for i in read_range(source, files, **ranges)]


def whole_and_split(path: Path, shard_bytes: int) -> tuple[list, list, int]:
    files = {"s": list_input_files([path])}
    whole = [(i.id, type(i).__name__) for i in read_files("s", files["s"], max_payload_bytes=None)]
    shards = plan_shards(files, shard_bytes)
    split = []
    for shard in shards:
        split += [(i.id, type(i).__name__) for i in read_range(
            "s", shard.file, shard.start, shard.stop, shard.first_line, max_payload_bytes=None)]
    return whole, split, len(shards)


def test_jsonl_split_at_line_starts_keeps_every_record_and_its_name(tmp_path: Path) -> None:
    lines = [{"text": f"document {i} " + "word " * (i % 37)} for i in range(400)]
    lines[123] = "{not json"
    path = write_jsonl(tmp_path / "big.jsonl", lines)
    whole, split, n = whole_and_split(path, 1000)
    assert n > 10
    assert split == whole and len(whole) == 400
    assert whole[123][1] == "Quarantined"


def test_warc_gz_split_at_gzip_members_keeps_every_record(tmp_path: Path) -> None:
    warc = WarcFiles(tmp_path / "w")
    records = [warc.response(f"http://x.example/{i}", article_html(ARTICLES[i % len(ARTICLES)] * (1 + i % 3)))
               for i in range(60)]
    path = warc.write("big.warc.gz", records)
    whole, split, n = whole_and_split(path, 2048)
    assert n > 10
    assert split == whole and len(whole) == 60


def test_warc_gz_split_still_reports_a_truncated_end(tmp_path: Path) -> None:
    warc = WarcFiles(tmp_path / "w")
    records = [warc.response(f"http://x.example/{i}", article_html(ARTICLES[0] + f" {i}"))
               for i in range(30)]
    data = warc.write("cut.warc.gz", records).read_bytes()
    (tmp_path / "w" / "cut.warc.gz").write_bytes(data[:-40])
    whole, split, n = whole_and_split(tmp_path / "w" / "cut.warc.gz", 1500)
    assert n > 3 and split == whole
    assert whole[-1][1] == "Quarantined"


def test_parquet_split_by_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    table = pa.table({"text": [f"row {i} " * 20 for i in range(500)]})
    pq.write_table(table, path, row_group_size=50)
    whole, split, n = whole_and_split(path, 4000)
    assert n > 3 and split == whole and len(whole) == 500


def test_output_is_the_same_whatever_the_workers(curate_cfg: CurateConfig, tmp_path: Path) -> None:
    inputs = build_corpus(tmp_path / "inputs")
    inputs["more"] = [write_jsonl(tmp_path / "more.jsonl", [{"text": t} for t in stdlib_texts(120)])]
    one = curate(settings(curate_cfg, workers=1, shard_bytes=20_000), inputs, tmp_path / "one")
    two = curate(settings(curate_cfg, workers=2, shard_bytes=20_000), inputs, tmp_path / "two")
    assert one.stats["shards"] == two.stats["shards"] > 5
    assert snapshot(one.out_dir) == snapshot(two.out_dir)
    assert one.stats["dropped"]["exact_duplicate"] > 0  # dedup across shards, same choice
    # not a split of the big file at all: the same documents, in the same order
    whole = curate(settings(curate_cfg, workers=1), inputs, tmp_path / "whole")
    assert whole.stats["shards"] < one.stats["shards"]
    ids = pq.read_table(whole.documents).column("id").to_pylist()
    assert ids == pq.read_table(one.documents).column("id").to_pylist()
    assert not list(tmp_path.glob(".*.work"))  # finished runs leave no shard folders


def test_shards_on_threads_do_not_share_a_minhasher(curate_cfg: CurateConfig, tmp_path: Path) -> None:
    """A thread-pool task runner runs shards side by side in one process: each thread gets its
    own MinHasher (its scratch buffer, shared, mixed two shards' signatures), and the output is
    the sequential run's."""
    from concurrent.futures import ThreadPoolExecutor

    from danlu.curate import worker

    with ThreadPoolExecutor(2) as pool:
        hashers = list(pool.map(lambda _: id(worker._hasher(curate_cfg)), range(2)))
        other = pool.submit(worker._hasher, curate_cfg).result()
    assert worker._hasher(curate_cfg) is not other and None not in hashers

    inputs = {"more": [write_jsonl(tmp_path / "more.jsonl", [{"text": t} for t in stdlib_texts(160)])]}
    cfg = settings(curate_cfg, shard_bytes=10_000)
    sequential = curate(settings(cfg, workers=1), inputs, tmp_path / "one")
    with ThreadPoolExecutor(4) as pool:
        class Threads:
            name = "4 threads"

            def map(self, fn, jobs):
                return pool.map(fn, jobs)

        threaded = curate(cfg, inputs, tmp_path / "threads", runner=Threads())
    assert threaded.stats["shards"] == sequential.stats["shards"] > 3
    assert snapshot(threaded.out_dir) == snapshot(sequential.out_dir)


RUN_SCRIPT = """
import sys, pickle
from pathlib import Path
from danlu.curate.run import curate
cfg, inputs, out = pickle.loads(Path(sys.argv[1]).read_bytes())
curate(cfg, inputs, out)
"""


def test_killed_run_resumes_only_unfinished_shards(
    curate_cfg: CurateConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    texts = stdlib_texts(300)
    inputs = {"docs": [write_jsonl(tmp_path / "in" / f"part-{k}.jsonl",
                                   [{"text": t} for t in texts[k::6]]) for k in range(6)]}
    cfg = settings(curate_cfg, workers=1, shard_bytes=8_000)
    out = tmp_path / "out"
    job = tmp_path / "job.pickle"
    job.write_bytes(pickle.dumps((cfg, inputs, out)))
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen([sys.executable, "-c", RUN_SCRIPT, str(job)], env=env)
    shards_dir = tmp_path / ".out.work" / "shards"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        done = [d for d in shards_dir.glob("shard-*") if not d.name.startswith(".")] \
            if shards_dir.exists() else []
        if len(done) >= 3:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    finished_before = {d.name for d in shards_dir.glob("shard-*")}

    ran = []
    real = run_module.run_shard

    def counting(job):
        ran.append(job.shard.name)
        return real(job)

    monkeypatch.setattr(run_module, "run_shard", counting)
    resumed = curate(cfg, inputs, out)
    total = resumed.stats["shards"]
    assert len(finished_before) >= 3 and total > len(finished_before) + 2
    assert sorted(ran) == sorted(f"shard-{i:05d}" for i in range(total)
                                 if f"shard-{i:05d}" not in finished_before)
    monkeypatch.undo()
    fresh = curate(cfg, inputs, tmp_path / "fresh")
    assert snapshot(resumed.out_dir) == snapshot(fresh.out_dir)


def test_changed_settings_do_not_reuse_old_shards(curate_cfg: CurateConfig, tmp_path: Path) -> None:
    work = run_module._work_dir(tmp_path / "out", curate_cfg, ["a"])
    (work / "shards" / "shard-00000").mkdir()
    assert (run_module._work_dir(tmp_path / "out", curate_cfg, ["a"]) / "shards" / "shard-00000").exists()
    stricter = curate_cfg.model_copy(update={"exact_dedup": not curate_cfg.exact_dedup})
    assert not (run_module._work_dir(tmp_path / "out", stricter, ["a"]) / "shards" / "shard-00000").exists()
    # the number of workers is not a setting of the output: it keeps the shards
    work = run_module._work_dir(tmp_path / "out", curate_cfg, ["a"])
    (work / "shards" / "shard-00001").mkdir()
    more = settings(curate_cfg, workers=7)
    assert (run_module._work_dir(tmp_path / "out", more, ["a"]) / "shards" / "shard-00001").exists()


def test_stats_markdown_has_a_row_per_step_with_bytes(curate_cfg: CurateConfig, tmp_path: Path) -> None:
    result = curate(curate_cfg, build_corpus(tmp_path / "inputs"), tmp_path / "out")
    markdown = result.markdown_path.read_text()
    for step in result.stats["steps"]:
        assert f"| {step['step']} | {step['in']:,} |" in markdown
    exact = next(s for s in result.stats["steps"] if s["step"] == "exact_duplicate")
    dropped = pq.read_table(result.dropped).to_pylist()
    assert exact["bytes_removed"] == sum(r["n_bytes"] for r in dropped if r["reason"] == "exact_duplicate") > 0
    assert json.loads(result.stats_path.read_text())["invariant"]["holds"]


def test_shards_on_a_dask_cluster_give_the_same_output(curate_cfg: CurateConfig, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed", reason="danlu[dask] is not installed")

    inputs = build_corpus(tmp_path / "inputs")
    local = curate(settings(curate_cfg, workers=1, shard_bytes=20_000), inputs, tmp_path / "local")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as cluster:
        cfg = settings(curate_cfg, shard_bytes=20_000, dask_address=cluster.scheduler_address)
        on_dask = curate(cfg, inputs, tmp_path / "dask")
    assert snapshot(on_dask.out_dir) == snapshot(local.out_dir) and local.stats["shards"] > 1


def test_dask_address_without_distributed_names_the_extra(
    curate_cfg: CurateConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from danlu.runners import choose_runner
    from danlu.errors import ConfigError

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    cfg = settings(curate_cfg, dask_address="tcp://127.0.0.1:8786").execution
    with pytest.raises(ConfigError, match=r"danlu\[dask\]"):
        choose_runner(cfg, 4)
