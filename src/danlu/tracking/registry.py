"""The model registry: log a saved model folder with the transformers flavor, register a new
version with lineage tags and point an alias (candidate) at it."""

from __future__ import annotations

import logging
from pathlib import Path

from danlu.config.project import Config
from danlu.model.saved import load_model
from danlu.tracking.mlflow_runs import MlflowTracker, client
from danlu.tracking.tracker import Tracker

log = logging.getLogger("danlu.registry")

PIP_REQUIREMENTS = ["transformers==5.23.0", "torch==2.13.0", "tokenizers==0.23.3",
                    "safetensors==0.8.0"]


def register_stage_model(cfg: Config, tracker: Tracker, model_dir: Path, name: str,
                         tags: dict[str, str]) -> dict[str, str]:
    """Register `model_dir` as a new version of `name` when tracking.register_models is on and
    the stage runs under MLflow; -> {name: version}, or {} when nothing was registered."""
    if not (cfg.tracking.register_models and isinstance(tracker, MlflowTracker)):
        return {}
    from danlu.tracking.lineage import lineage_tags

    version = register_model(cfg, tracker, model_dir, name, {**lineage_tags(cfg), **tags},
                             max_new_tokens=cfg.evaluate.max_new_tokens)
    return {name: version}


def model_card(name: str, tags: dict[str, str]):
    """A model card of our own, with the lineage: MLflow would otherwise try to fetch one from
    the Hugging Face hub under the folder's name (a warning offline, a wrong card online)."""
    from huggingface_hub import ModelCard

    lines = [f"# {name}", "", "A danlu model (Llama family, safetensors), trained by the danlu "
             "pipeline from raw web text.", "", "| tag | value |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in sorted(tags.items())]
    return ModelCard("---\nlibrary_name: transformers\npipeline_tag: text-generation\n---\n"
                     + "\n".join(lines) + "\n")


def register_model(cfg: Config, tracker: MlflowTracker, model_dir: Path, name: str,
                   tags: dict[str, str], *, max_new_tokens: int = 64) -> str:
    """Log `model_dir` to the run as a text-generation model, register it, alias it; -> version."""
    import mlflow
    import mlflow.transformers

    model, tokenizer = load_model(model_dir)
    c = client(cfg)
    with mlflow.start_run(run_id=tracker.run_id, nested=True):
        info = mlflow.transformers.log_model(
            transformers_model={"model": model, "tokenizer": tokenizer}, name="model",
            task="text-generation", pip_requirements=PIP_REQUIREMENTS,
            model_config={"max_new_tokens": max_new_tokens}, tags=tags,
            model_card=model_card(name, tags))
    version = mlflow.register_model(info.model_uri, name, tags=tags).version
    c.set_registered_model_alias(name, cfg.registry.alias, version)
    tracker.set_tags({f"registered.{name}": str(version)})
    log.info("registered %s version %s as @%s", name, version, cfg.registry.alias)
    return str(version)
