"""Reading params.yaml: `-S key=value` overrides (the syntax of `dvc exp run -S`), then
validation, whose errors name the key, the allowed keys and the likely typo."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from danlu.config.project import Config
from danlu.config.section import PARAMS_FILE
from danlu.errors import ConfigError


# Keys added since the first release, for the message a params.yaml without them gets: the
# version, and the value danlu's own params.yaml gives (the migration, not a hidden default).
ADDED_KEYS = {
    "train.compile_cpu_min_steps": ("0.2", "1000"),
    "registry.reward_model": ("0.3", "danlu-reward"),
    "reward": ("0.3", None),
    "dpo": ("0.3", None),
    "registry.champion_alias": ("0.4", "champion"),
    "registry.experiment": ("0.4", "auto"),
    "evaluate.tasks": ("0.4", "[data/eval/tasks/*.yaml]"),
    "evaluate.batch_size": ("0.4", "8"),
    "evaluate.gate": ("0.4", "{metric: core, higher_is_better: true, margin: 0.0}"),
    "evaluate.decontaminate": ("0.4", "{enabled: true, ngram: 13, clean_only: false}"),
    "evaluate.cost_per_hour": ("0.4", "0"),
    "tracking.ui_url": ("0.5", "http://127.0.0.1:5000"),
    "tracking.system_metrics": ("0.5", "true"),
    "tracking.require_pushed_data": ("0.5", "auto"),
    "curate.filters.enabled": ("0.6", "true"),
    "curate.link_lists": ("0.6", "{enabled: true, max_urls_per_line: 4, "
                           "max_url_char_fraction: 0.3}"),
    "train.seed": ("0.6", "null"),
    "train.heldout": ("0.6", "data/eval/tasks/heldout.jsonl"),
}

# Sections renamed in a release: old name -> (release, new name, what else changed).
RENAMED_SECTIONS = {
    "sft": ("0.3", "finetune", "it gained method, packing, lora and prompt; the reward "
            "model and DPO have sections of their own, reward and dpo"),
}


# Keys removed in a release: old key -> (release, what replaces it).
REMOVED_KEYS = {
    "evaluate.heldout": ("0.4", "held-out text is a task file now, kind: perplexity "
                         "(data/eval/tasks/heldout.yaml); list task files in evaluate.tasks"),
    "evaluate.prompts": ("0.4", "chat prompts are a task file now, kind: generate with chat: "
                         "true (data/eval/tasks/replies.yaml); list task files in evaluate.tasks"),
}


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=value` (optionally `params.yaml:a.b=value`, as DVC accepts) -> (["a","b"], value)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. train.max_steps=50")
    key, raw = text.split("=", 1)
    if ":" in key:
        file_part, key = key.split(":", 1)
        if Path(file_part).name != PARAMS_FILE:
            raise ConfigError(f"override {text!r}: only {PARAMS_FILE} is read, not {file_part}")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r}: empty key part")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from None
    return key.split("."), value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply `-S` overrides to the raw params dict; unknown keys are caught by validation."""
    data = json.loads(json.dumps(raw))  # deep copy of plain YAML data
    for text in overrides:
        parts, value = parse_override(text)
        node = data
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                dotted = ".".join(parts[: i + 1])
                raise ConfigError(f"override {text!r}: {dotted} is a value, not a section")
            node = nxt
        node[parts[-1]] = value
    return data


def _allowed_keys(loc: tuple) -> list[str]:
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return sorted(model.model_fields)


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden" and len(loc) == 1 and loc[0] in RENAMED_SECTIONS:
            release, new, more = RENAMED_SECTIONS[str(loc[0])]
            lines.append(f"  {key}: renamed to `{new}:` in {release}; {more} (danlu's own "
                         "params.yaml has them, with what they do)")
        elif err["type"] == "extra_forbidden" and key in REMOVED_KEYS:
            release, instead = REMOVED_KEYS[key]
            lines.append(f"  {key}: removed in {release}: {instead}")
        elif err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc)
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            lines.append(f"  {key}: unknown key{hint}; allowed here: {', '.join(allowed)}")
        elif err["type"] == "missing" and key in ADDED_KEYS and "." not in key:
            lines.append(f"  {key}: a section added in {ADDED_KEYS[key][0]}; copy `{key}:` "
                         "from danlu's own params.yaml, which says what each key does")
        elif err["type"] == "missing" and key in ADDED_KEYS:
            section, _, name = key.rpartition(".")
            lines.append(f"  {key}: a key added in {ADDED_KEYS[key][0]}; add `{name}: "
                         f"{ADDED_KEYS[key][1]}` under `{section}:` (danlu's own params.yaml "
                         "has it, with what it does)")
        elif err["type"] == "missing":
            lines.append(f"  {key}: required key is missing")
        else:
            lines.append(f"  {key}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def find_params(start: Path | None = None) -> Path:
    """The params.yaml of the project that holds `start` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PARAMS_FILE
        if candidate.is_file():
            return candidate
    raise ConfigError(f"no {PARAMS_FILE} in {here} or any parent folder; run danlu in a project")


def load_config(params: Path | str | None = None, overrides: list[str] | None = None) -> Config:
    """Read params.yaml, apply overrides, validate. Relative paths resolve against its folder."""
    path = Path(params) if params else find_params()
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return config_from_data(apply_overrides(raw, overrides or []), path.resolve().parent,
                            str(path))


def config_from_data(data: dict, root: Path, source: str) -> Config:
    """Validate a params mapping (`source` names it in errors); paths resolve against `root`.
    Also how a resolved config travels to other processes (torchrun's ranks) as JSON."""
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None
    cfg._root = Path(root).resolve()
    return cfg
