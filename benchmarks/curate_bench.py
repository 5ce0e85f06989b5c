"""The whole curate stage against HF datatrove on the same real pages, in the same run.

Input (bench_inputs.py): the 990 trafilatura-eval pages as WARC response records plus the real
Common Crawl and dolma WARCs, 10 files, 1,043 response records, ~145 MB of HTML.

  danlu        `danlu curate --input DIR --output OUT --no-track --force`, timed as a whole
               command: read, extract (resiliparse), language ID, Gopher/C4/FineWeb/repetition
               rules, exact + MinHash dedup, validation, whatever params.yaml enables.
  datatrove    0.10.1 in its own venv (requirements-datatrove.txt, made on first use in
               ~/.cache/danlu-bench/datatrove-venv or $DANLU_DATATROVE_VENV):
               datatrove_pipeline.py, WarcReader -> extractor -> Gopher/C4/FineWeb filters ->
               JsonlWriter -> its 4 MinHash dedup stages, LocalPipelineExecutor with
               tasks = workers = --workers. Rows: the resiliparse extractor (the fair peer of
               ours) and datatrove's default Trafilatura. No language filter (its fastText model
               cannot be downloaded), so danlu does more work than datatrove here.

docs/s = documents the tool read (danlu 1,043; datatrove skips 4 non-HTML records) / wall
seconds of its whole command, start-up included (median of --repeat); MB/s = HTML bytes of the
input / wall; per core divides by os.cpu_count(). Then minhash_bench.py's output when it exists,
danlu's ratio to the other datatrove rows, and last `curate_vs_datatrove=RATIO`: danlu's docs/s
over datatrove's with the resiliparse extractor and MinHash dedup (the same steps except
language ID, which only danlu does). Other workers on the machine slow both tools alike only roughly: trust the same-run ratio,
not the absolute figures.

  .venv/bin/python benchmarks/curate_bench.py [--workers N] [--repeat N] [--skip-datatrove]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_inputs import BenchInput, InputError, build_inputs, default_data_root  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "benchmarks"
REQUIREMENTS = HERE / "requirements-datatrove.txt"
DEFAULT_VENV = Path.home() / ".cache" / "danlu-bench" / "datatrove-venv"
# baselines.md, datatrove 0.10.1 with the resiliparse extractor, 2 tasks/workers, no MinHash:
# the peer's figure when --skip-datatrove is given.
BASELINE_DATATROVE_DOCS_PER_S = 29.9


@dataclass
class Row:
    tool: str
    docs_in: int = 0
    kept: int = 0
    walls: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def docs_per_s(self) -> float:
        return self.docs_in / self.wall


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    """(wall s, stdout); raises with the output's tail when the command fails."""
    # Wall clock only: datatrove's workers descend from a forkserver that is never waited for,
    # so getrusage(RUSAGE_CHILDREN) would not see their CPU time.
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return wall, proc.stdout


def datatrove_python(venv: Path) -> Path:
    """The venv's python, creating the venv (or re-installing) when the requirements changed."""
    python = venv / "bin" / "python"
    marker = venv / ".danlu-requirements.sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and marker.exists() and marker.read_text().strip() == digest:
        return python
    print(f"creating datatrove's venv at {venv} (once; about a minute)", file=sys.stderr)
    base = getattr(sys, "_base_executable", sys.executable)
    for cmd in ([base, "-m", "venv", "--clear", str(venv)],
                [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:  # pip's warnings are noise unless it failed
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            raise SystemExit(f"datatrove venv: {' '.join(cmd)} failed ({proc.returncode})\n{tail}")
    marker.write_text(digest + "\n")
    return python


def curate_overrides(workers: int) -> list[str]:
    """-S overrides for `danlu curate`: the worker count, when this params.yaml has the key."""
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    if "workers" in (params.get("curate", {}).get("execution") or {}):
        return ["-S", f"curate.execution.workers={workers}"]
    return []


def run_danlu(inputs: BenchInput, work: Path, workers: int, extra: list[str], row: Row) -> None:
    out = work / "danlu-out"
    shutil.rmtree(out, ignore_errors=True)
    danlu = Path(sys.executable).parent / "danlu"
    cmd = [str(danlu), "curate", "--input", str(inputs.folder), "--output", str(out),
           "--no-track", "--force", *curate_overrides(workers), *extra]
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    wall, _ = timed(cmd, env)
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    row.docs_in, row.kept = stats["documents_in"], stats["kept"]
    row.walls.append(wall)


def run_datatrove(python: Path, inputs: BenchInput, work: Path, workers: int, extractor: str,
                  row: Row) -> dict:
    dt_work = work / f"datatrove-{extractor}"
    shutil.rmtree(dt_work, ignore_errors=True)
    cmd = [str(python), str(HERE / "datatrove_pipeline.py"), "--input", str(inputs.folder),
           "--work", str(dt_work), "--workers", str(workers), "--extractor", extractor]
    wall, stdout = timed(cmd)
    line = next(ln for ln in stdout.splitlines() if ln.startswith("DATATROVE_RESULT "))
    result = json.loads(line.split(" ", 1)[1])
    row.docs_in, row.kept = result["read"], result["kept"]
    stages = ", ".join(f"{k} {v:.1f}" for k, v in result["seconds"].items())
    failed = ", ".join(f"{k} {v}" for k, v in result["extract_failed"].items())
    row.note = f"last run's stages, s: {stages}" + (f"; extraction failed: {failed}" if failed else "")
    row.walls.append(wall)
    return result


def print_table(rows: list[Row], inputs: BenchInput, cores: int) -> None:
    mb = inputs.html_bytes / 1e6
    print("| tool | docs in | kept | wall s | docs/s | docs/s/core | MB/s/core |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.tool} | {r.docs_in} | {r.kept} | {r.wall:.1f} | "
              f"{r.docs_per_s:.1f} | {r.docs_per_s / cores:.1f} | {mb / r.wall / cores:.2f} |")
    for r in rows:
        runs = f"runs {', '.join(f'{w:.1f}' for w in r.walls)} s" if len(r.walls) > 1 else ""
        if r.note or runs:
            print(f"  {r.tool}: {'; '.join(x for x in (runs, r.note) if x)}")


def run_minhash_bench() -> None:
    script = HERE / "minhash_bench.py"
    print("\n## MinHash (benchmarks/minhash_bench.py)")
    if not script.exists():
        print("skipped: benchmarks/minhash_bench.py does not exist")
        return
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        print(f"minhash_bench.py failed ({proc.returncode}):")
        print("\n".join(proc.stderr.splitlines()[-10:]))
        return
    print(proc.stdout.rstrip())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_root(), help="shared datasets folder")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="processes for both tools")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tool; the median wall counts")
    parser.add_argument("--skip-datatrove", action="store_true",
                        help=f"no datatrove run: ratio against baselines.md's {BASELINE_DATATROVE_DOCS_PER_S} docs/s")
    parser.add_argument("--skip-trafilatura", action="store_true", help="no datatrove + Trafilatura row")
    parser.add_argument("--skip-minhash-bench", action="store_true")
    parser.add_argument("--datatrove-venv", type=Path,
                        default=Path(os.environ.get("DANLU_DATATROVE_VENV", DEFAULT_VENV)))
    parser.add_argument("--limit", type=int, default=None, help="first N trafilatura-eval pages (a quick check)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one, removed)")
    parser.add_argument("-S", "--set-param", action="append", default=[], metavar="KEY=VALUE",
                        help="passed to `danlu curate -S`")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    data = args.data
    if not (data / "trafilatura-eval").is_dir():
        raise SystemExit(f"curate_bench: shared datasets not found at {data}/trafilatura-eval "
                         "(give --data or set DANLU_SHARED_DATA)")
    work = args.work or Path(tempfile.mkdtemp(prefix="danlu-curate-bench-"))
    try:
        inputs = build_inputs(work / "input", data, limit=args.limit)
    except InputError as exc:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
        raise SystemExit(f"curate_bench: {exc}") from None
    print(f"input: {len(inputs.files)} WARC files, {inputs.records} response records "
          f"({inputs.pages} trafilatura-eval pages + {inputs.crawl_records} crawl), "
          f"{inputs.html_bytes / 1e6:.1f} MB HTML; {cores} cores, --workers {args.workers}, "
          f"--repeat {args.repeat}")
    python = None if args.skip_datatrove else datatrove_python(args.datatrove_venv)
    extra = [a for kv in args.set_param for a in ("-S", kv)]
    ours = Row("danlu curate", note="includes language ID and validation; datatrove has neither")
    fair = Row("datatrove resiliparse + MinHash")
    filters_only = Row("datatrove resiliparse, filters only",
                       note="the resiliparse run's first executor alone (its own timer)")
    trafi = Row("datatrove trafilatura + MinHash")
    try:
        for _ in range(args.repeat):  # interleaved, so background load falls on both alike
            run_danlu(inputs, work, args.workers, extra, ours)
            if python is None:
                continue
            result = run_datatrove(python, inputs, work, args.workers, "resiliparse", fair)
            filters_only.docs_in, filters_only.kept = result["read"], result["kept_filters"]
            filters_only.walls.append(result["seconds"]["filters"])
            if not args.skip_trafilatura:
                run_datatrove(python, inputs, work, args.workers, "trafilatura", trafi)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    rows = [ours]
    if python is not None:
        rows += [fair, filters_only] + ([] if args.skip_trafilatura else [trafi])
    print()
    print_table(rows, inputs, cores)
    if not args.skip_minhash_bench:
        run_minhash_bench()
    print()
    if python is None:
        peer = BASELINE_DATATROVE_DOCS_PER_S
        print(f"datatrove not run: ratio against baselines.md's {peer} docs/s "
              "(resiliparse, 2 tasks, no MinHash), measured on another day")
    else:
        peer = fair.docs_per_s
        print(f"curate_vs_datatrove_filters_only={ours.docs_per_s / filters_only.docs_per_s:.2f}")
        if not args.skip_trafilatura:
            print(f"curate_vs_datatrove_trafilatura={ours.docs_per_s / trafi.docs_per_s:.2f}")
    print(f"curate_vs_datatrove={ours.docs_per_s / peer:.2f}")


if __name__ == "__main__":
    main()
