"""Pretraining on several processes: the stage launches `torchrun` as a subprocess and relays
its output line by line into the `danlu` log (so a Prefect flow run shows it live); each rank
runs this module's `main`, and rank 0 logs into the stage's MLflow run.

One node, from the stage (`train.nproc_per_node: 8`, or 0 for one per visible GPU):
    danlu pretrain -S train.nproc_per_node=8
By hand, or on several nodes (the same command on every node, with torchrun's rendezvous):
    torchrun --nnodes=2 --node_rank=R --rdzv_backend=c10d --rdzv_endpoint=HOST:29400 \\
        --nproc_per_node=8 -m danlu.pretrain.launch --params params.yaml [-S key=value ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path

from danlu.errors import DanluError
from danlu.lifeline import die_with_parent, kernel_lifeline

log = logging.getLogger("danlu.pretrain")

RUN_ID_ENV = "DANLU_PRETRAIN_RUN_ID"  # the stage's MLflow run, which rank 0 logs into
TAIL_LINES = 40
TORCHRUN_ENV = "TORCHELASTIC_RUN_ID"  # set by torchrun in every rank's environment


def processes(nproc_per_node: int) -> int:
    """train.nproc_per_node resolved: 0 = one per visible GPU (one process without a GPU)."""
    if nproc_per_node:
        return nproc_per_node
    import torch

    return max(1, torch.cuda.device_count())


def torchrun_command(config_file: Path, root: Path, nproc: int, result_file: Path) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", "-m", "danlu.pretrain.launch",
            "--config-json", str(config_file), "--root", str(root),
            "--result-json", str(result_file)]


def run_torchrun(cfg, nproc: int, run_id: str | None, timeout: float | None = None):
    """Run the pretrain stage under torchrun; returns rank 0's PretrainResult (which it writes
    to a file of ours). The config goes to the ranks whole (params and overrides resolved).
    `timeout` (seconds; None = as long as it takes) kills a run that outlives it."""
    from danlu.pretrain.run import PretrainResult

    with tempfile.TemporaryDirectory(prefix="danlu-torchrun-") as tmp:
        config_file, result_file = Path(tmp) / "config.json", Path(tmp) / "result.json"
        config_file.write_text(json.dumps(cfg.model_dump(mode="json")), encoding="utf-8")
        # (each rank shares the node's cores out itself: trainer.set_threads)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if run_id:
            env[RUN_ID_ENV] = run_id
        command = torchrun_command(config_file, cfg.root, nproc, result_file)
        log.info("pretrain: %s", " ".join(command))
        relay(command, env, cfg.root, timeout)
        if not result_file.is_file():
            raise DanluError("torchrun finished, but its rank 0 wrote no pretraining result")
        return PretrainResult.from_json(result_file.read_text(encoding="utf-8"))


def relay(command: list[str], env: dict, cwd: Path, timeout: float | None = None) -> list[str]:
    """Run `command`, each output line into the log as it comes; raise with the last lines
    when it fails or outlives `timeout`."""
    import signal
    import threading

    tail: deque[str] = deque(maxlen=TAIL_LINES)
    expired = threading.Event()
    # If this process dies, torchrun gets SIGTERM and stops its ranks (they also watch it).
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, cwd=cwd, bufsize=1,
                          preexec_fn=kernel_lifeline(signal.SIGTERM)) as proc:

        def stop() -> None:  # torchrun passes SIGTERM on to its ranks and waits for them
            expired.set()
            proc.send_signal(signal.SIGTERM)

        watchdog = threading.Timer(timeout, stop) if timeout else None
        if watchdog:
            watchdog.start()
        try:
            for line in proc.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                log.info("%s", line)
        finally:
            if watchdog:
                watchdog.cancel()
    if expired.is_set():
        raise DanluError(f"torchrun ran past {timeout} s and was stopped; its last lines:\n"
                         + "\n".join(tail))
    if proc.returncode != 0:
        raise DanluError(f"torchrun exited with {proc.returncode}; its last lines:\n"
                         + "\n".join(tail))
    return list(tail)


def main(argv: list[str] | None = None) -> None:
    """One rank: the stage function with this process's share of the data."""
    parser = argparse.ArgumentParser(description="danlu pretraining, one torchrun rank")
    parser.add_argument("--config-json", type=Path, help="a resolved config (from the stage)")
    parser.add_argument("--params", type=Path, help="params.yaml (when started by hand)")
    parser.add_argument("--root", type=Path, help="project root for --config-json")
    parser.add_argument("--result-json", type=Path, help="where rank 0 writes its result")
    parser.add_argument("-S", "--set-param", action="append", default=[], dest="overrides")
    args = parser.parse_args(argv)
    if TORCHRUN_ENV in os.environ:  # a rank dies with its torchrun, even one killed by SIGKILL
        die_with_parent(os.getppid())
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
    logging.getLogger("danlu").setLevel(logging.INFO)

    from danlu.config.load import config_from_data, load_config
    from danlu.pretrain.run import heldout_path, pretrain
    from danlu.train.distributed import init_distributed, shutdown

    if args.config_json:
        data = json.loads(args.config_json.read_text(encoding="utf-8"))
        cfg = config_from_data(data, args.root or Path.cwd(), str(args.config_json))
    else:
        cfg = load_config(args.params, args.overrides)
    dist = init_distributed(cfg.train.distributed)
    tracker = None
    if dist.is_main and (run_id := os.environ.get(RUN_ID_ENV)):
        from danlu.tracking.mlflow_runs import MlflowTracker

        tracker = MlflowTracker(cfg, run_id)
    try:
        result = pretrain(cfg.model, cfg.train, cfg.out_dir("tokenizer"),
                          cfg.out_dir("pretrain"), seed=cfg.pretrain_seed, tracker=tracker,
                          dist=dist, heldout=heldout_path(cfg))
        if dist.is_main and args.result_json:
            args.result_json.write_text(result.to_json(), encoding="utf-8")
    finally:
        if tracker is not None:
            tracker.flush()  # the loss curve's last batch, into the stage's run
        shutdown(dist)


if __name__ == "__main__":
    main()
