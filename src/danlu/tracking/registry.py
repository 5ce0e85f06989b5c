"""The model registry: log a saved model folder with the transformers flavor, register a new
version with lineage tags and point an alias (candidate) at it."""

from __future__ import annotations

import logging
from pathlib import Path

from danlu.config import Config
from danlu.tracking.mlflow_runs import MlflowTracker, client

log = logging.getLogger("danlu.registry")

PIP_REQUIREMENTS = ["transformers==5.23.0", "torch==2.13.0", "tokenizers==0.23.3",
                    "safetensors==0.8.0"]


def register_model(cfg: Config, tracker: MlflowTracker, model_dir: Path, name: str,
                   tags: dict[str, str], *, max_new_tokens: int = 64) -> str:
    """Log `model_dir` to the run as a text-generation model, register it, alias it; -> version."""
    import mlflow
    import mlflow.transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    c = client(cfg)
    with mlflow.start_run(run_id=tracker.run_id, nested=True):
        info = mlflow.transformers.log_model(
            transformers_model={"model": model, "tokenizer": tokenizer}, name="model",
            task="text-generation", pip_requirements=PIP_REQUIREMENTS,
            model_config={"max_new_tokens": max_new_tokens}, tags=tags)
    version = mlflow.register_model(info.model_uri, name, tags=tags).version
    c.set_registered_model_alias(name, cfg.registry.alias, version)
    tracker.set_tags({f"registered.{name}": str(version)})
    log.info("registered %s version %s as @%s", name, version, cfg.registry.alias)
    return str(version)
