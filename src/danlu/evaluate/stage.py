"""The evaluate stage's entry: the task suite on the base model, the SFT model, the final chat
model (after DPO) and the registry's current champions; the champion gate; the report card in
outputs/evaluate."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

from danlu.config.project import Config
from danlu.evaluate.run import evaluate
from danlu.evaluate.suite import AGGREGATE, ModelEntry, model_metric
from danlu.evaluate.task import Task, load_task, task_files
from danlu.tracking.outcome import StageOutcome
from danlu.tracking.tracker import Tracker

log = logging.getLogger("danlu.evaluate")

# the stages before this one, in pipeline order (danlu.pipeline.ORDER, which a test compares:
# importing it would be a cycle, the pipeline's table imports this stage)
EARLIER_STAGES = ("curate", "tokenizer", "pretrain", "sft", "reward", "dpo")
CURVE_STAGES = ("pretrain", "sft", "reward", "dpo")
# the roles whose registered versions face the champion gate
GATED = ("base", "chat")


def load_tasks(cfg: Config) -> list[Task]:
    tasks = [load_task(path) for path in task_files(cfg.evaluate.tasks, cfg.root)]
    names = [t.name for t in tasks]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        from danlu.errors import ConfigError

        raise ConfigError(f"evaluate.tasks: two task files are named {', '.join(duplicated)}; "
                          "give one a `name:`")
    return tasks


# the metrics of each kind, and whether lower is better (a gate on them must say so)
KIND_METRICS = {"perplexity": ({"loss", "perplexity", "bits_per_byte"}, True),
                "choice": ({"acc", "acc_norm", "acc_bytes", "centered"}, False),
                "classify": ({"acc", "macro_f1", "centered"}, False)}


def check_gate_metric(cfg: Config, tasks: list[Task]) -> None:
    """evaluate.gate.metric names something these tasks give, in the right direction: a typo
    would otherwise gate on NaN, and never promote anything."""
    from danlu.errors import ConfigError

    gate = cfg.evaluate.gate
    if gate.metric == AGGREGATE:
        if not any(t.kind in ("choice", "classify") for t in tasks):
            raise ConfigError(f"evaluate.gate.metric: {AGGREGATE} averages choice and classify "
                              "tasks, and evaluate.tasks has none")
        lower = False
    else:
        name, _, metric = gate.metric.partition(".")
        task = next((t for t in tasks if t.name == name), None)
        if task is None:
            raise ConfigError(f"evaluate.gate.metric {gate.metric!r}: expected {AGGREGATE} or "
                              f"<task>.<metric>, with a task of {', '.join(t.name for t in tasks)}")
        known, lower = KIND_METRICS[task.kind] if task.kind in KIND_METRICS else \
            (set(task.spec.metrics), False)
        if metric not in known:
            raise ConfigError(f"evaluate.gate.metric {gate.metric!r}: task {name} gives "
                              f"{', '.join(sorted(known))}")
    if gate.higher_is_better == lower:
        raise ConfigError(f"evaluate.gate: {gate.metric} is better when "
                          f"{'lower' if lower else 'higher'}; set higher_is_better: "
                          f"{'false' if lower else 'true'}")


def _registering(cfg: Config, tracker: Tracker) -> bool:
    from danlu.tracking.mlflow_runs import MlflowTracker

    return cfg.tracking.register_models and isinstance(tracker, MlflowTracker)


def candidates(cfg: Config) -> list[ModelEntry]:
    """This run's models: base, SFT (by its method) and the final chat model."""
    return [
        ModelEntry("base", "base", cfg.out_dir("pretrain") / "model", "outputs/pretrain/model"),
        ModelEntry(f"sft ({cfg.finetune.method})", "sft", cfg.out_dir("sft") / "model",
                   "outputs/sft/model"),
        ModelEntry("chat (dpo)", "chat", cfg.out_dir("dpo") / "model", "outputs/dpo/model"),
    ]


def _registered_name(cfg: Config, role: str) -> str:
    return cfg.registry.base_model if role.endswith("base") else cfg.registry.chat_model


def with_champions(cfg: Config, models: list[ModelEntry]
                   ) -> tuple[list[ModelEntry], dict[str, str | None]]:
    """The candidates with their registered versions, and each gated name's champion (scored
    too, unless it is one of this run's own models); -> (models, {role: champion version})."""
    from danlu.tracking.fetch import resolve_model_source
    from danlu.tracking.mlflow_runs import tracking_uri
    from danlu.tracking.promote import champion_version
    from danlu.tracking.registry import version_with_weights

    entries, champions = [], {}
    for m in models:
        name = _registered_name(cfg, m.role)
        entries.append(ModelEntry(m.label, m.role, m.folder, m.source, name,
                                  version_with_weights(cfg, name, m.folder)))
    for role in GATED:
        name = _registered_name(cfg, role)
        champion = champion_version(cfg, name)
        champions[role] = str(champion.version) if champion is not None else None
        if champion is None or any((e.name, e.version) == (name, str(champion.version))
                                   for e in entries):
            continue  # no champion yet, or this run's own model is it
        version = str(champion.version)
        folder = resolve_model_source(f"models:/{name}/{version}", tracking_uri(cfg),
                                      cfg.path(cfg.paths.outputs) / "registry")
        entries.append(ModelEntry(f"champion {name} v{version}", f"champion-{role}", folder,
                                  f"models:/{name}@{cfg.registry.champion_alias}", name,
                                  version))
    return entries, champions


def gate_decisions(cfg: Config, results: dict, champions: dict[str, str | None]) -> list[dict]:
    """The gate for each registered name: this run's candidate against the champion that was
    scored beside it (`champions[role]`), on the configured metric."""
    from danlu.tracking.promote import gate

    settings = cfg.evaluate.gate
    decisions = []
    for role in GATED:
        name = _registered_name(cfg, role)
        candidate = next((m for m in results["models"] if m["role"] == role), None)
        if candidate is None or candidate["version"] is None:
            log.info("gate %s: this run's model is not registered; nothing to gate", name)
            continue
        champion = champions.get(role)
        champion_score = None
        if champion is not None:
            scored = next(m for m in results["models"]
                          if (m["name"], m["version"]) == (name, champion))
            champion_score = model_metric(results, scored["label"], settings.metric)
        result = gate(cfg, name, candidate["version"], metric=settings.metric,
                      candidate_score=model_metric(results, candidate["label"], settings.metric),
                      champion_score=champion_score, champion_version=champion,
                      higher_is_better=settings.higher_is_better, margin=settings.margin)
        decisions.append(asdict(result))
    return decisions


def _dirty(cfg: Config, tasks: list[Task]) -> dict[str, list[bool]]:
    """Each task's items that share an n-gram with the training data this pipeline used."""
    settings = cfg.evaluate.decontaminate
    if not settings.enabled:
        return {}
    from danlu.evaluate.decontaminate import dirty_items, finetune_texts, training_index

    files = [*cfg.path_list(cfg.finetune.data), *cfg.path_list(cfg.reward.data),
             *cfg.path_list(cfg.dpo.data)]
    index = training_index(cfg.out_dir("curate") / "documents",
                           finetune_texts(list(dict.fromkeys(files))), settings.ngram)
    # each of an item's own strings on its own (question, passage, choices, reference): the
    # prompt's template and few-shot examples would only dilute what is checked
    dirty = {t.name: [any(dirty_items(index, i.texts)) for i in t.items] for t in tasks}
    for name, flags in dirty.items():
        if any(flags):
            log.warning("%s: %d of %d items share an n-gram (%d words, or 8 for a short text) "
                        "with the training data", name, sum(flags), len(flags), settings.ngram)
    return dirty


def _stage_records(cfg: Config) -> tuple[list[dict], dict[str, list[str]]]:
    """The last record of each stage before this one (the runner keeps them in
    outputs/.danlu), and each one's headline metric names (its headline.json)."""
    folder = cfg.path(cfg.paths.outputs) / ".danlu"
    records, headlines = [], {}
    for name in EARLIER_STAGES:
        path = folder / f"{name}.json"
        if path.is_file():
            records.append(json.loads(path.read_text())["record"])
        headline = cfg.out_dir(name) / "headline.json"
        if headline.is_file():
            headlines[name] = list(json.loads(headline.read_text()))
    return records, headlines


def _unigram(cfg: Config):
    from danlu.model.scoring import unigram_metrics
    from danlu.tokens.shards import shard_paths, unigram_counts

    tok_dir = cfg.out_dir("tokenizer")
    vocab = json.loads((tok_dir / "stats.json").read_text())["vocab_size"]
    counts = unigram_counts(shard_paths(tok_dir / "shards", "train"), vocab)
    return lambda tokenizer, texts: unigram_metrics(counts, tokenizer, texts)


def run(cfg: Config, tracker: Tracker) -> StageOutcome:
    tasks = load_tasks(cfg)
    check_gate_metric(cfg, tasks)
    models, champions = candidates(cfg), {}
    registering = _registering(cfg, tracker)
    if registering:
        models, champions = with_champions(cfg, models)
    curves = {s: cfg.out_dir(s) / "loss.csv" for s in CURVE_STAGES
              if (cfg.out_dir(s) / "loss.csv").is_file()}
    stages, headlines = _stage_records(cfg)
    result = evaluate(
        tasks, models, cfg.out_dir("evaluate"), settings=cfg.evaluate,
        context_length=cfg.model.context_length, seed=cfg.seed, dirty=_dirty(cfg, tasks),
        unigram=_unigram(cfg),
        gate=(lambda results: gate_decisions(cfg, results, champions)) if registering else None,
        stages=stages, headlines=headlines, curves=curves, tracker=tracker, root=cfg.root)
    values = result.metrics()
    for decision in result.results["gate"]:
        values[f"gate.{decision['name']}.promoted"] = int(decision["promoted"])
    return StageOutcome(values)
