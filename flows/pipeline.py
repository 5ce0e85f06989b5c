"""The parent flow `danlu-pipeline`: runs the stage subflows in order under one MLflow parent
run and publishes a Markdown summary artifact (documents, losses, metrics, model versions)."""

from __future__ import annotations

from prefect import flow, get_run_logger, runtime
from prefect.artifacts import create_markdown_artifact

from danlu.config.load import load_config
from danlu.pipeline import choose_stages
from flows.stages import SUBFLOWS, run_on_pool
from flows.summary import summary_markdown


@flow(name="danlu-pipeline", description="WARC -> curated text -> tokenizer -> pretrain -> "
      "SFT -> reward model -> DPO -> evaluation, tracked in MLflow")
def danlu_pipeline(params_path: str, overrides: list[str] | None = None, force: bool = False,
                   stages: list[str] | None = None) -> dict:
    from danlu.tracking.lineage import lineage_tags
    from danlu.tracking.mlflow_runs import tracked_run

    logger = get_run_logger()
    overrides = list(overrides or [])
    cfg = load_config(params_path, overrides)
    chosen = choose_stages(stages)
    tags = {"danlu.flow_run_id": str(runtime.flow_run.id), **lineage_tags(cfg),
            "danlu.overrides": " ".join(overrides)}
    records = []
    with tracked_run(cfg, "pipeline", tags=tags) as parent:
        parent.log_params({"params_hash": cfg.section_hash(), "stages": ",".join(chosen)})
        for name in chosen:
            logger.info("stage %s", name)
            if name == "pretrain" and cfg.train.work_pool:
                logger.info("stage pretrain on work pool %s", cfg.train.work_pool)
                record = run_on_pool(name, cfg.train.work_pool, params_path, overrides,
                                     parent.run_id, force)
            else:
                record = SUBFLOWS[name](params_path, overrides, parent.run_id, force)
            records.append(record)
            parent.log_metrics({f"{name}.{k}": v for k, v in record["metrics"].items()})
        markdown = summary_markdown(records, parent.run_id, cfg)
        parent.log_dict({"stages": records}, "pipeline_summary.json")
    create_markdown_artifact(markdown=markdown, key="danlu-pipeline-summary",
                             description="danlu pipeline run summary")
    return {"mlflow_run_id": parent.run_id, "stages": records, "markdown": markdown}


def run_pipeline(params_path: str, overrides: list[str], *, force: bool = False,
                 stages: list[str] | None = None) -> dict:
    """Run the flow; MLflow's store is opened meanwhile, while Prefect's server starts."""
    import threading

    from danlu.tracking.mlflow_runs import experiment_id

    cfg = load_config(params_path, overrides)
    warm = threading.Thread(target=experiment_id, args=(cfg,), daemon=True)
    warm.start()
    try:
        return danlu_pipeline(params_path, overrides, force=force, stages=stages)
    finally:
        warm.join()
