"""The flow `danlu-ablation`: one subflow `danlu-ablation-variant` per variant (one after
another, or `concurrency` at once), whose runs (seeds) run the stage subflows in their
workspaces (danlu.ablation.plan) and score the model; then the report, as files, as a Prefect
Markdown artifact and in MLflow: a parent run with one child run per variant (its seeds'
metrics, mean and std), under which the stage runs nest.

Training stages go to `train.work_pool`'s workers when it is set, as in `danlu-pipeline`; curate
fans its shards out on `curate.execution.dask_address` when that is set."""

from __future__ import annotations

from prefect import flow, get_run_logger, runtime, tags, task
from prefect.artifacts import create_markdown_artifact
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner

from danlu.ablation.execute import execute_run
from danlu.ablation.plan import AblationPlan, StageJob, plan_ablation
from danlu.ablation.report import summarize
from danlu.ablation.spec import AblationSpec, check_overrides
from danlu.config.load import load_config
from danlu.errors import DanluError, one_line
from flows.labels import run_labels, tag_this_flow_run
from flows.stages import GPU_STAGES, SUBFLOWS, flow_run_note, run_on_pool

ARTIFACT_KEY = "danlu-ablation-report"


def _plan(params_path: str, spec: dict, overrides: list[str]) -> AblationPlan:
    parsed = AblationSpec.model_validate(spec)
    check_overrides(parsed)
    return plan_ablation(parsed, params_path, overrides)


def _run_stage_job(params_path: str):
    def run(job: StageJob, parent_run_id: str | None) -> None:
        cfg = load_config(params_path, list(job.overrides))
        if job.stage in GPU_STAGES and cfg.train.work_pool:
            run_on_pool(job.stage, cfg.train.work_pool, params_path, list(job.overrides),
                        parent_run_id, False)
        else:  # a Failed subflow raises its error here
            SUBFLOWS[job.stage](params_path, list(job.overrides), parent_run_id, False)

    return run


def variant_metrics(results: list[dict], variant: str) -> dict[str, float]:
    """A variant's MLflow metrics: each seed's (`seed<k>.<metric>`), mean and std over seeds."""
    values: dict[str, float] = {}
    for result in results:
        for key, value in result["metrics"].items():
            values[f"seed{result['seed']}.{key}"] = float(value)
    for key, stat in summarize(results, [variant])[variant].items():
        values[f"{key}.mean"] = stat.mean
        if stat.std is not None:
            values[f"{key}.std"] = stat.std
    return values


@flow(name="danlu-ablation-variant", flow_run_name="{variant}",
      description="One variant of a data ablation: its runs (seeds), each curate -> tokenizer "
      "-> pretrain at the ablation's tokens, scored on the same held-out text")
def ablation_variant(params_path: str, spec: dict, overrides: list[str], variant: str,
                     parent_run_id: str | None) -> list[dict]:
    from danlu.tracking.mlflow_runs import end_run, start_run

    plan = _plan(params_path, spec, overrides)
    cfg = load_config(params_path, overrides)
    child = start_run(cfg, f"{plan.spec.name}/{variant}", parent_run_id=parent_run_id, tags={
        "danlu.ablation": plan.spec.name, "danlu.variant": variant,
        "danlu.flow_run_id": str(runtime.flow_run.id), **flow_run_note()})
    results: list[dict] = []
    try:
        child.log_params({"overrides": " ".join(plan.spec.variants[variant]) or "(none)",
                          "seeds": ",".join(map(str, plan.spec.seeds)),
                          "tokens": plan.tokens, "steps": plan.steps})
        failed_jobs: dict[str, str] = {}
        for run in (r for r in plan.runs if r.variant == variant):
            get_run_logger().info("%s seed %d", variant, run.seed)
            results.append(execute_run(run, plan, _run_stage_job(params_path), child.run_id,
                                       failed_jobs))
        ok = [r for r in results if r["status"] == "ok"]
        child.log_metrics(variant_metrics(ok, variant))
        child.log_dict({"runs": results}, "runs.json")
    except BaseException:
        end_run(child, "FAILED")
        raise
    end_run(child, "FINISHED" if len(ok) == len(results) else "FAILED")
    return results


@task(name="ablation-variant", task_run_name="{variant}")
def _variant_task(params_path: str, spec: dict, overrides: list[str], variant: str,
                  parent_run_id: str | None) -> list[dict]:
    return ablation_variant(params_path, spec, overrides, variant, parent_run_id)


@flow(name="danlu-ablation", description="Data ablation: models trained on data variants at "
      "equal tokens, scored on the same held-out text; the report says what each step buys")
def danlu_ablation(params_path: str, spec: dict, overrides: list[str] | None = None) -> dict:
    logger = get_run_logger()
    overrides = list(overrides or [])
    try:
        plan = _plan(params_path, spec, overrides)
        cfg = load_config(params_path, overrides)
    except DanluError as exc:
        logger.error("%s", exc)
        return Failed(message=one_line(exc), data=exc)
    tag_this_flow_run([*run_labels(cfg), f"ablation:{plan.spec.name}"])
    return _run_variants(plan, cfg, params_path, spec, overrides)


def _run_variants(plan: AblationPlan, cfg, params_path: str, spec: dict, overrides: list[str]):
    from danlu.ablation.outputs import write_report
    from danlu.tracking.lineage import lineage_tags
    from danlu.tracking.mlflow_runs import end_run, start_run

    logger = get_run_logger()
    parent = start_run(cfg, f"ablation {plan.spec.name}", tags={
        "danlu.ablation": plan.spec.name, "danlu.flow_run_id": str(runtime.flow_run.id),
        **lineage_tags(cfg), **flow_run_note()})
    try:
        parent.log_params({"variants": ",".join(plan.spec.variants),
                           "seeds": ",".join(map(str, plan.spec.seeds)), "tokens": plan.tokens,
                           "steps": plan.steps, "heldout": plan.heldout,
                           "baseline": plan.spec.baseline_variant})
        args = (params_path, spec, overrides)
        if plan.spec.concurrency == 1:
            per_variant = [ablation_variant(*args, v, parent.run_id) for v in plan.spec.variants]
        else:
            futures = [_variant_task.submit(*args, v, parent.run_id) for v in plan.spec.variants]
            per_variant = [f.result() for f in futures]
        results = [r for runs in per_variant for r in runs]
        report = write_report(plan, results)
        for path in report.files:
            parent.log_artifact(path)
        create_markdown_artifact(markdown=report.markdown, key=ARTIFACT_KEY,
                                 description=f"ablation {plan.spec.name}: variants x metrics")
    except BaseException:
        end_run(parent, "FAILED")
        raise
    end_run(parent, "FAILED" if report.failed else "FINISHED")
    summary = {"mlflow_run_id": parent.run_id, "folder": str(report.folder),
               "markdown": report.markdown, "failed": report.failed}
    if report.failed:
        names = ", ".join(f"{r['variant']} seed {r['seed']} ({r['failed_stage']})"
                          for r in report.failed)
        logger.error("failed runs: %s; the others are in the report", names)
        return Failed(message=f"{len(report.failed)} run(s) failed: {names}", data=summary)
    return summary


def run_ablation(params_path: str, spec: AblationSpec, overrides: list[str]) -> dict:
    """Run the flow (concurrency > 1: that many variants at once, on threads) and return its
    summary, also when runs failed (their results are in it)."""
    cfg = load_config(params_path, overrides)
    chosen = danlu_ablation
    if spec.concurrency > 1:
        chosen = danlu_ablation.with_options(
            task_runner=ThreadPoolTaskRunner(max_workers=spec.concurrency))
    with tags(*run_labels(cfg)):
        state = chosen(params_path, spec.model_dump(mode="json"), overrides, return_state=True)
    if state.is_completed():
        return state.result()
    data = state.result(raise_on_failure=False)
    if isinstance(data, dict) and "markdown" in data:
        return data
    raise data if isinstance(data, BaseException) else DanluError(state.message or "failed")
