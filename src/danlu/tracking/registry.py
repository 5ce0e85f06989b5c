"""The model registry: log a saved model folder with the transformers flavor (a causal LM or a
reward model), or as files (a peft prompt-learning folder, which that flavor cannot rebuild
from a local base), register a new version with lineage tags and the hash of its weights, and
point an alias (candidate) at it.

Weights already registered under that name are not registered again: the existing version is
returned (and aliased). A version made by a DVC experiment (`dvc exp run`) is registered but
takes no alias, since serving reads the aliases; it is tagged `danlu.experiment` instead."""

from __future__ import annotations

import hashlib
import logging
import os
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
EXPERIMENT_TAG = "danlu.experiment"
EXPERIMENT_BASELINE_TAG = "danlu.experiment_baseline"
# What `dvc exp run` puts in the environment of every stage command it runs (and `dvc repro`
# does not): dvc/repo/experiments/queue/base.py (_stash_exp) packs them as run_env, and
# dvc/stage/run.py (prepare_kwargs) adds them to the command's environment.
DVC_EXP_NAME = "DVC_EXP_NAME"
DVC_EXP_BASELINE_REV = "DVC_EXP_BASELINE_REV"


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
    if not Path(model_dir).is_dir():
        return None
    return version_with_digest(cfg, name, weights_digest(model_dir))


def version_with_digest(cfg: Config, name: str, digest: str) -> str | None:
    """The newest registered version of `name` tagged with this weights digest."""
    from mlflow.exceptions import MlflowException

    query = f"name = '{name}' and tags.{WEIGHTS_TAG} = '{digest}'"
    try:
        found = client(cfg).search_model_versions(query)
    except MlflowException as exc:
        log.warning("%s: could not look up the version with these weights (%s)", name, exc)
        return None
    return str(max(int(v.version) for v in found)) if found else None


def experiment_name(cfg: Config) -> str | None:
    """The experiment this process runs for, or None when its versions may take aliases.
    registry.experiment: auto (a DVC experiment: `dvc exp run` names it in DVC_EXP_NAME),
    true (always an experiment) or false (never, even under `dvc exp run`)."""
    setting = cfg.registry.experiment
    if setting is False:
        return None
    found = os.environ.get(DVC_EXP_NAME, "").strip()
    if found:
        return found
    return "registry.experiment=true" if setting is True else None


def register_stage_model(cfg: Config, tracker: Tracker, model_dir: Path, name: str,
                         tags: dict[str, str] | Callable[[], dict[str, str]],
                         task: str = "text-generation") -> dict[str, str]:
    """Register `model_dir` as a new version of `name` when tracking.register_models is on and
    the stage runs under MLflow; -> {name: version}, or {} when nothing was registered.
    Weights identical to a registered version's are not registered again: that version is
    returned (`dvc repro` after `danlu run` reruns a stage to the same bytes).
    `tags` may be a function, called only when registering (it may ask the registry)."""
    if not (cfg.tracking.register_models and isinstance(tracker, MlflowTracker)):
        return {}
    from danlu.tracking.lineage import lineage_tags

    digest = weights_digest(model_dir)
    existing = version_with_digest(cfg, name, digest)
    if existing is not None:
        log.info("%s: these weights are version %s already; not registered again", name,
                 existing)
        _mark_registered(cfg, tracker, name, existing, experiment_name(cfg))
        return {name: existing}
    tags = {**lineage_tags(cfg), **(tags() if callable(tags) else tags), WEIGHTS_TAG: digest}
    version = register_model(cfg, tracker, model_dir, name, tags,
                             max_new_tokens=cfg.evaluate.max_new_tokens, task=task)
    return {name: version}


def _mark_registered(cfg: Config, tracker: MlflowTracker, name: str, version: str,
                     experiment: str | None) -> None:
    """Point registry.alias at `version`, unless this is an experiment; name it on the run."""
    if experiment is None:
        client(cfg).set_registered_model_alias(name, cfg.registry.alias, version)
        log.info("%s version %s is @%s", name, version, cfg.registry.alias)
    else:
        log.info("%s version %s takes no alias: experiment %s", name, version, experiment)
        tracker.set_tags({EXPERIMENT_TAG: experiment})
    tracker.set_tags({f"registered.{name}": str(version)})


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
    prompt-learning folder), register it, alias it (an experiment's version: tag it); -> version."""
    experiment = experiment_name(cfg)
    if experiment is not None:
        tags = {**tags, EXPERIMENT_TAG: experiment}
        baseline = os.environ.get(DVC_EXP_BASELINE_REV, "").strip()
        if baseline:
            tags[EXPERIMENT_BASELINE_TAG] = baseline
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
    log.info("registered %s version %s", name, version)
    _mark_registered(cfg, tracker, name, str(version), experiment)
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
