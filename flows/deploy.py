"""The team's Prefect objects as code, created or updated in place (run it again after a
change; nothing is duplicated):

- work pools `cpu` and `gpu` (process pools; a Kubernetes or Docker pool of the same name works
  too, with the job templates in infra/work-pools/),
- `danlu-pipeline/nightly` on `cpu`, on a cron schedule, reading the project's params.yaml,
- `danlu-<stage>/gpu` for the training stages (pretrain, sft, reward, dpo) on `gpu`: the
  pipeline hands them to that pool when `train.work_pool: gpu`,
- the automation that marks a flow run Crashed when its heartbeats stop (a killed worker or a
  lost machine would otherwise leave it Running for ever, holding its concurrency slot).

Workers: `prefect worker start --pool cpu` on any machine; on a GPU machine one worker per
device, `CUDA_VISIBLE_DEVICES=0 prefect worker start --pool gpu --limit 1` (and =1, ...), each
in the project's environment and seeing the project folder at the same path (a shared
filesystem), with PREFECT_API_URL (and PREFECT_API_AUTH_STRING) of the team's server.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import flows  # noqa: F401  (Prefect environment defaults)

from flows.stages import GPU_STAGES

PROJECT = Path(__file__).resolve().parents[1]
ZOMBIE_AUTOMATION = "danlu: crash flow runs without heartbeats"
# The worker's flow-run process imports Prefect before flows/: the danlu logger (and the
# torchrun output relayed through it) reaches the run's logs only when set in its env.
RUN_ENV = {"PREFECT_LOGGING_EXTRA_LOGGERS": "danlu", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


@dataclass(frozen=True)
class DeploySettings:
    params: Path
    project: Path = PROJECT
    cron: str | None = "0 3 * * *"
    timezone: str = "UTC"
    cpu_pool: str = "cpu"
    gpu_pool: str = "gpu"
    gpu_slots: int | None = None      # concurrent GPU flow runs in the pool (None: no limit)
    heartbeat_seconds: int = 30        # flow runs' heartbeat (Prefect's minimum is 30)
    missed_heartbeats: int = 3         # Crashed after this many heartbeats are missed

    @property
    def env(self) -> dict[str, str]:
        return {**RUN_ENV, "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(self.heartbeat_seconds)}


def ensure_pool(name: str, description: str, concurrency_limit: int | None = None) -> str:
    """Create the process pool, or update its description and limit: -> its id."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(name)
        except ObjectNotFound:
            return str(client.create_work_pool(WorkPoolCreate(
                name=name, type="process", description=description,
                concurrency_limit=concurrency_limit,
                base_job_template=ProcessWorker.get_default_base_job_template())).id)
        client.update_work_pool(name, WorkPoolUpdate(description=description,
                                                     concurrency_limit=concurrency_limit))
        return str(pool.id)


def deploy_flow(settings: DeploySettings, entrypoint: str, name: str, pool: str,
                schedule: str | None = None) -> str:
    """Deploy the flow at `entrypoint` (file:function in the project) on `pool`; -> its id."""
    from prefect import flow

    source = flow.from_source(source=str(settings.project), entrypoint=entrypoint)
    kwargs = {}
    if schedule:
        from prefect.schedules import Cron

        kwargs["schedule"] = Cron(schedule, timezone=settings.timezone)
    return str(source.deploy(
        name=name, work_pool_name=pool, build=False, push=False,
        parameters={"params_path": str(settings.params.resolve()), "overrides": []},
        job_variables={"env": settings.env}, print_next_steps=False, ignore_warnings=True,
        **kwargs))


def deploy_stage(settings: DeploySettings, stage: str) -> str:
    """`danlu-<stage>/<gpu pool>`: the stage's subflow, from the project's source."""
    return deploy_flow(settings, f"flows/stages.py:{stage}_flow", settings.gpu_pool,
                       settings.gpu_pool)


def ensure_zombie_automation(settings: DeploySettings) -> str:
    """Prefect's documented proactive trigger: a flow run that sent a heartbeat and then
    neither another one nor a final state within the window is marked Crashed."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    window = settings.heartbeat_seconds * settings.missed_heartbeats
    finals = [f"prefect.flow-run.{s}" for s in ("Completed", "Failed", "Cancelled", "Crashed")]
    automation = Automation(
        name=ZOMBIE_AUTOMATION,
        description=f"A flow run is Crashed after {window} s without a heartbeat "
                    f"(workers send one every {settings.heartbeat_seconds} s)",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *finals},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
            within=timedelta(seconds=window)),
        actions=[ChangeFlowRunState(
            state=StateType.CRASHED,
            message=f"no heartbeat for {window} s: its worker or machine died")])
    try:
        existing = Automation.read(name=ZOMBIE_AUTOMATION)
    except ValueError:  # none of that name yet
        return str(automation.create().id)
    automation.id = existing.id
    automation.update()
    return str(existing.id)


def deploy_all(settings: DeploySettings) -> dict[str, str]:
    """Everything the team needs on the Prefect server; -> {object: id}."""
    if not settings.params.is_file():
        raise FileNotFoundError(f"{settings.params}: no params file to deploy with")
    ids = {
        f"work pool {settings.cpu_pool}": ensure_pool(
            settings.cpu_pool, "danlu: the pipeline and its CPU stages"),
        f"work pool {settings.gpu_pool}": ensure_pool(
            settings.gpu_pool, "danlu: training stages, one worker per GPU "
            "(CUDA_VISIBLE_DEVICES=N prefect worker start --pool gpu --limit 1)",
            settings.gpu_slots),
        "deployment danlu-pipeline/nightly": deploy_flow(
            settings, "flows/pipeline.py:danlu_pipeline", "nightly", settings.cpu_pool,
            settings.cron),
    }
    for stage in GPU_STAGES:
        ids[f"deployment danlu-{stage}/{settings.gpu_pool}"] = deploy_stage(settings, stage)
    ids[f"automation {ZOMBIE_AUTOMATION!r}"] = ensure_zombie_automation(settings)
    return ids


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="danlu deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="the project's params.yaml")
    parser.add_argument("--cron", default="0 3 * * *",
                        help="the pipeline's schedule (default: 03:00 daily); 'none' for none")
    parser.add_argument("--timezone", default="UTC")
    parser.add_argument("--cpu-pool", default="cpu")
    parser.add_argument("--gpu-pool", default="gpu")
    parser.add_argument("--gpu-slots", type=int, help="at most this many GPU flow runs at once")
    parser.add_argument("--heartbeat-seconds", type=int, default=30)
    args = parser.parse_args(argv)
    if not os.environ.get("PREFECT_API_URL"):
        parser.error("PREFECT_API_URL is not set: deployments live on a Prefect server "
                     "(README, Operations)")
    settings = DeploySettings(
        params=Path(args.params), cron=None if args.cron.lower() == "none" else args.cron,
        timezone=args.timezone, cpu_pool=args.cpu_pool, gpu_pool=args.gpu_pool,
        gpu_slots=args.gpu_slots, heartbeat_seconds=args.heartbeat_seconds)
    for what, object_id in deploy_all(settings).items():
        print(f"{what}: {object_id}")
    print(f"\nworkers: prefect worker start --pool {settings.cpu_pool}; on each GPU: "
          f"CUDA_VISIBLE_DEVICES=N prefect worker start --pool {settings.gpu_pool} --limit 1")
    print(f"training on the GPU pool: set train.work_pool: {settings.gpu_pool} in {args.params}")


if __name__ == "__main__":
    main()
