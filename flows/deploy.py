"""Serve `danlu-pipeline` as a scheduled Prefect deployment (runs in this process), and
optionally put the pretrain stage on a work pool of GPU machines.

    export PREFECT_API_URL=http://127.0.0.1:4200/api   # a running `prefect server start`
    python -m flows.deploy --cron "0 3 * * *" --params /path/to/project/params.yaml

Flow runs then appear in the Prefect UI; they can also be started there with other overrides.

Pretraining on a GPU machine: create a process work pool, start its worker on the GPU machine
(in the project's environment, seeing the same project folder, e.g. on a shared filesystem),
deploy the stage to it, and name the pool in params.yaml:

    prefect work-pool create gpu --type process
    prefect worker start --pool gpu                    # on the GPU machine
    python -m flows.deploy --pretrain-pool gpu --params /path/to/project/params.yaml
    # params.yaml: train.work_pool: gpu   (and train.nproc_per_node: 0 for every GPU)

`danlu run` then hands the pretrain stage to that worker as a run of `danlu-pretrain/gpu`
(a subflow of the pipeline run in the UI); the worker starts torchrun there, whose output
streams into the flow run's logs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import flows  # noqa: F401  (Prefect environment defaults)
from flows.pipeline import danlu_pipeline

PROJECT = Path(__file__).resolve().parents[1]


def deploy_pretrain(pool: str, params: Path, project: Path = PROJECT) -> str:
    """Register `danlu-pretrain/<pool>`: the pretrain subflow, from this project's source, on
    `pool`. Returns the deployment's id."""
    from prefect import flow

    source = flow.from_source(source=str(project), entrypoint="flows/stages.py:pretrain_flow")
    # The worker's flow-run process imports Prefect before flows/: the danlu logger (and the
    # torchrun output relayed through it) reaches the run's logs only when set in its env.
    env = {"PREFECT_LOGGING_EXTRA_LOGGERS": "danlu", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    return str(source.deploy(name=pool, work_pool_name=pool, build=False, push=False,
                             parameters={"params_path": str(params.resolve()), "overrides": []},
                             job_variables={"env": env}, print_next_steps=False,
                             ignore_warnings=True))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cron", default="0 3 * * *", help="schedule (default: 03:00 daily)")
    parser.add_argument("--params", default="params.yaml", help="the project's params.yaml")
    parser.add_argument("--name", default="danlu-nightly")
    parser.add_argument("--pretrain-pool", help="deploy the pretrain stage to this work pool, "
                        "then exit (the pipeline's own deployment is not served)")
    args = parser.parse_args(argv)
    params = Path(args.params)
    if args.pretrain_pool:
        deployment = deploy_pretrain(args.pretrain_pool, params)
        print(f"deployment danlu-pretrain/{args.pretrain_pool} ({deployment}); set "
              f"train.work_pool: {args.pretrain_pool} in {params} to use it")
        return
    danlu_pipeline.serve(name=args.name, cron=args.cron,
                         parameters={"params_path": str(params.resolve()), "overrides": []})


if __name__ == "__main__":
    main()
