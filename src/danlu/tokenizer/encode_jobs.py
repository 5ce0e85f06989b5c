"""Encoding as jobs on a cluster: the documents in chunks of about CHUNK_BYTES, each written to
a scratch file in the stage's output folder, encoded where a runner puts it (a Dask worker, a
Prefect task on the cluster), its ids written beside it; the stage then reads them in order and
writes the same shards as a local run, byte for byte. Jobs carry paths, never texts or ids:
every worker must see the output folder (as curate's shards must)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from danlu.errors import DataError
from danlu.runners import ShardRunner, run_all
from danlu.tokenizer.encode import text_ranges

CHUNK_BYTES = 16 << 20  # a job's text: big enough to amortise loading the tokenizer
CHUNK_DOCS = 50_000


@dataclass(frozen=True)
class EncodeJob:
    name: str  # a Prefect task's name: encode-<split>-<n>
    tokenizer_path: str  # tokenizer.json
    texts_path: str  # the chunk's texts (Arrow IPC, one string column)
    ids_path: str  # where the job writes its ids (.npz: ids, lengths)
    kind = "encode"  # which Prefect task runs it (flows/shards.py)


def write_jobs(texts: Sequence[str], scratch: Path, tokenizer_path: Path,
               prefix: str) -> list[EncodeJob]:
    import pyarrow as pa

    scratch.mkdir(parents=True, exist_ok=True)
    jobs = []
    for n, (start, stop) in enumerate(text_ranges(texts, CHUNK_BYTES, CHUNK_DOCS)):
        name = f"encode-{prefix}-{n:05d}"
        path = scratch / f"{name}.arrow"
        table = pa.table({"text": pa.array(texts[start:stop], pa.large_string())})
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as out:
            out.write_table(table)
        jobs.append(EncodeJob(name, str(tokenizer_path), str(path),
                              str(scratch / f"{name}.npz")))
    return jobs


def encode_job(job: EncodeJob) -> str:
    """Encode one chunk where it runs; -> the path of its ids."""
    import pyarrow as pa

    from danlu.tokenizer.encode import TextEncoder

    with pa.memory_map(job.texts_path) as source:
        texts = pa.ipc.open_file(source).read_all().column("text").to_pylist()
    encoder = TextEncoder(Path(job.tokenizer_path))
    arrays = list(encoder.encode_texts(texts, workers=1))
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    ids = np.concatenate(arrays) if arrays else np.zeros(0, dtype=encoder.dtype)
    tmp = Path(job.ids_path).with_suffix(".partial.npz")
    np.savez(tmp, ids=ids.astype(encoder.dtype), lengths=lengths)
    tmp.replace(job.ids_path)
    return job.ids_path


def encode_on(runner: ShardRunner, texts: Sequence[str], scratch: Path, tokenizer_path: Path,
              prefix: str) -> Iterator[np.ndarray]:
    """Each text's ids, in order, encoded by the runner's jobs."""
    jobs = write_jobs(texts, scratch, tokenizer_path, prefix)
    run_all(runner, encode_job, jobs, f"tokenizer {prefix} encoding jobs")
    for job in jobs:
        with np.load(job.ids_path) as saved:
            ids, lengths = saved["ids"], saved["lengths"]
        if int(lengths.sum()) != len(ids):
            raise DataError(f"{job.ids_path}: {len(ids)} ids for lengths summing to "
                            f"{int(lengths.sum())}")
        yield from np.split(ids, np.cumsum(lengths)[:-1]) if len(lengths) else []
