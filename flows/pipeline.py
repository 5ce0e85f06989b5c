"""The parent flow `danlu-pipeline`: runs the stage subflows in order under one MLflow parent
run and publishes a Markdown summary artifact (documents, losses, metrics, model versions),
also when a stage fails. Its flow runs and subflow runs are tagged with the project, the git
commit and the params hash."""

from __future__ import annotations

from prefect import flow, get_run_logger, runtime, tags
from prefect.artifacts import create_markdown_artifact
from prefect.states import Failed

from danlu.config.load import load_config
from danlu.config.project import Config
from danlu.errors import DanluError
from danlu.pipeline import choose_stages
from danlu.project_lock import project_lock
from flows.labels import run_labels, tag_this_flow_run
from flows.stages import GPU_STAGES, SUBFLOWS, flow_run_note, one_line, run_on_pool
from flows.summary import summary_markdown


@flow(name="danlu-pipeline", description="WARC -> curated text -> tokenizer -> pretrain -> "
      "SFT -> reward model -> DPO -> evaluation, tracked in MLflow")
def danlu_pipeline(params_path: str, overrides: list[str] | None = None, force: bool = False,
                   stages: list[str] | None = None) -> dict:
    logger = get_run_logger()
    overrides = list(overrides or [])
    try:
        cfg = load_config(params_path, overrides)
        chosen = choose_stages(stages)
    except DanluError as exc:  # one line in the run's log, not the engine's traceback
        logger.error("%s", exc)
        return Failed(message=one_line(exc), data=exc)
    labels = run_labels(cfg)
    tag_this_flow_run(labels)
    with tags(*labels), project_lock(cfg.path(cfg.paths.outputs), "danlu-pipeline"):
        return _run_stages(cfg, params_path, overrides, force, chosen)


def _run_stages(cfg: Config, params_path: str, overrides: list[str], force: bool,
                chosen: list[str]):
    """The stages under one MLflow parent run, which ends FAILED when a stage fails; the
    summary is published either way."""
    from danlu.tracking.lineage import lineage_tags
    from danlu.tracking.mlflow_runs import end_run, experiment_id, start_run

    logger = get_run_logger()
    run_tags = {"danlu.flow_run_id": str(runtime.flow_run.id), **lineage_tags(cfg),
                "danlu.overrides": " ".join(overrides), **flow_run_note()}
    parent = start_run(cfg, "pipeline", tags=run_tags)
    records: list[dict] = []
    failure: dict | None = None
    try:
        parent.log_params({"params_hash": cfg.section_hash(), "stages": ",".join(chosen)})
        for name in chosen:
            logger.info("stage %s", name)
            try:
                record = _run_one(name, cfg, params_path, overrides, parent.run_id, force)
            except Exception as exc:  # the subflow logged it; the summary says it
                failure = {"stage": name, "error": one_line(exc), "exception": exc}
                break
            records.append(record)
            # not `<stage>.<metric>`: the stage run's curves are named so (pretrain/val_loss)
            parent.log_metrics({f"{name}.final.{k}": v for k, v in record["metrics"].items()})
        if reused := [r["name"] for r in records if r["cached"]]:
            parent.set_tags({"danlu.reused": ",".join(reused)})
        not_run = chosen[len(records) + (failure is not None):]
        markdown = summary_markdown(records, parent.run_id, cfg, experiment_id(cfg),
                                    failure=failure, not_run=not_run)
        parent.log_dict({"stages": records, "failed": failure and failure["stage"],
                         "not_run": not_run}, "pipeline_summary.json")
        create_markdown_artifact(markdown=markdown, key="danlu-pipeline-summary",
                                 description="danlu pipeline run summary")
    except BaseException:
        end_run(parent, "FAILED")
        raise
    end_run(parent, "FAILED" if failure else "FINISHED")
    if failure:
        message = f"stage {failure['stage']} failed: {failure['error']}"
        logger.error("%s", message)
        return Failed(message=message, data=failure["exception"])  # the caller gets it raised
    return {"mlflow_run_id": parent.run_id, "stages": records, "markdown": markdown}


def _run_one(name: str, cfg: Config, params_path: str, overrides: list[str],
             parent_run_id: str, force: bool) -> dict:
    if name in GPU_STAGES and cfg.train.work_pool:
        get_run_logger().info("stage %s on work pool %s", name, cfg.train.work_pool)
        return run_on_pool(name, cfg.train.work_pool, params_path, overrides, parent_run_id,
                           force)
    return SUBFLOWS[name](params_path, overrides, parent_run_id, force)


def run_pipeline(params_path: str, overrides: list[str], *, force: bool = False,
                 stages: list[str] | None = None) -> dict:
    """Run the flow, tagged; MLflow's store is opened meanwhile, while Prefect's server starts.
    A failed run raises its stage's error."""
    import threading

    from danlu.tracking.mlflow_runs import experiment_id

    cfg = load_config(params_path, overrides)
    warm = threading.Thread(target=experiment_id, args=(cfg,), daemon=True)
    warm.start()
    try:
        with tags(*run_labels(cfg)):
            return danlu_pipeline(params_path, overrides, force=force, stages=stages)
    finally:
        warm.join()
