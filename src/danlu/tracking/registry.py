"""The model registry: log a saved model folder with the transformers flavor (a causal LM or a
reward model), or as files (a peft prompt-learning folder, which that flavor cannot rebuild
from a local base), register a new version with lineage tags and the hash of its weights, and
point an alias (candidate) at it."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from danlu.config.project import Config
from danlu.model.saved import is_prompt_folder, load_model
from danlu.tracking.mlflow_runs import MlflowTracker, client
from danlu.tracking.tracker import Tracker

log = logging.getLogger("danlu.registry")

PIP_REQUIREMENTS = ["transformers==5.23.0", "torch==2.13.0", "tokenizers==0.23.3",
                    "safetensors==0.8.0"]
WEIGHTS_TAG = "weights_sha256"


def weights_digest(model_dir: Path) -> str:
    """sha256 over a model folder's safetensors files (names and bytes, base/ included)."""
    h = hashlib.sha256()
    model_dir = Path(model_dir)
    for f in sorted(model_dir.rglob("*.safetensors")):
        h.update(f.relative_to(model_dir).as_posix().encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def version_with_weights(cfg: Config, name: str, model_dir: Path) -> str | None:
    """The newest registered version of `name` whose weights are those in `model_dir`."""
    from mlflow.exceptions import MlflowException

    if not Path(model_dir).is_dir():
        return None
    query = f"name = '{name}' and tags.{WEIGHTS_TAG} = '{weights_digest(model_dir)}'"
    try:
        found = client(cfg).search_model_versions(query)
    except MlflowException as exc:
        log.warning("%s: could not look up the version with these weights (%s)", name, exc)
        return None
    return str(max(int(v.version) for v in found)) if found else None


def register_stage_model(cfg: Config, tracker: Tracker, model_dir: Path, name: str,
                         tags: dict[str, str] | Callable[[], dict[str, str]],
                         task: str = "text-generation") -> dict[str, str]:
    """Register `model_dir` as a new version of `name` when tracking.register_models is on and
    the stage runs under MLflow; -> {name: version}, or {} when nothing was registered.
    `tags` may be a function, called only when registering (it may ask the registry)."""
    if not (cfg.tracking.register_models and isinstance(tracker, MlflowTracker)):
        return {}
    from danlu.tracking.lineage import lineage_tags

    tags = {**lineage_tags(cfg), **(tags() if callable(tags) else tags),
            WEIGHTS_TAG: weights_digest(model_dir)}
    version = register_model(cfg, tracker, model_dir, name, tags,
                             max_new_tokens=cfg.evaluate.max_new_tokens, task=task)
    return {name: version}


def model_card(name: str, tags: dict[str, str], task: str = "text-generation"):
    """A model card of our own, with the lineage: MLflow would otherwise try to fetch one from
    the Hugging Face hub under the folder's name (a warning offline, a wrong card online)."""
    from huggingface_hub import ModelCard

    lines = [f"# {name}", "", "A danlu model (Llama family, safetensors), trained by the danlu "
             "pipeline from raw web text.", "", "| tag | value |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in sorted(tags.items())]
    return ModelCard(f"---\nlibrary_name: transformers\npipeline_tag: {task}\n---\n"
                     + "\n".join(lines) + "\n")


def register_model(cfg: Config, tracker: MlflowTracker, model_dir: Path, name: str,
                   tags: dict[str, str], *, max_new_tokens: int = 64,
                   task: str = "text-generation") -> str:
    """Log `model_dir` to the run (a transformers-flavor model for `task`, or its files for a
    prompt-learning folder), register it, alias it; -> version."""
    c = client(cfg)
    if is_prompt_folder(model_dir):
        tracker.log_artifact(model_dir, "model")
        run = c.get_run(tracker.run_id)
        from mlflow.exceptions import MlflowException

        try:
            c.get_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            c.create_registered_model(name)
        version = c.create_model_version(name, source=f"{run.info.artifact_uri}/model",
                                         run_id=tracker.run_id, tags=tags).version
    else:
        version = _log_transformers_model(cfg, tracker, model_dir, name, tags,
                                          max_new_tokens, task)
    c.set_registered_model_alias(name, cfg.registry.alias, version)
    tracker.set_tags({f"registered.{name}": str(version)})
    log.info("registered %s version %s as @%s", name, version, cfg.registry.alias)
    return str(version)


def _log_transformers_model(cfg: Config, tracker: MlflowTracker, model_dir: Path, name: str,
                            tags: dict[str, str], max_new_tokens: int, task: str) -> str:
    import mlflow
    import mlflow.transformers

    if task == "text-generation":
        model, tokenizer = load_model(model_dir)
        model_config = {"max_new_tokens": max_new_tokens}
    else:
        from danlu.model.saved import load_reward_model

        model, tokenizer = load_reward_model(model_dir)
        model_config = {"function_to_apply": "none"}  # the raw score, not a sigmoid of it
    with mlflow.start_run(run_id=tracker.run_id, nested=True):
        info = mlflow.transformers.log_model(
            transformers_model={"model": model, "tokenizer": tokenizer}, name="model",
            task=task, pip_requirements=PIP_REQUIREMENTS, model_config=model_config,
            tags=tags, model_card=model_card(name, tags, task))
    return str(mlflow.register_model(info.model_uri, name, tags=tags).version)
