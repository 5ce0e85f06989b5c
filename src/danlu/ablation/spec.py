"""An ablation's definition (a YAML file, or the command line): the variants, each a list of
`-S` overrides of params.yaml, the seeds, the training tokens every run gets, the held-out text
and the tasks every model is scored on.

Every variant trains the same model on the same number of tokens: a variant may change the data
(curate, tokenizer) and the training recipe, but not the model, the batch or the budget, which
`common:` and `tokens:` set for all."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from danlu.config.load import load_config, parse_override
from danlu.config.project import Config
from danlu.errors import ConfigError

# Keys that would make the runs incomparable (the model, the batch, the budget) or that the
# ablation sets itself (the seed, the held-out text, where outputs go, what is registered).
FIXED_FOR_ALL = ("model.", "train.batch_size", "train.batch_tokens", "train.nproc_per_node",
                 "train.max_steps", "paths.", "tracking.", "registry.")
SET_BY_ABLATION = ("train.max_steps", "train.seed", "train.heldout", "paths.outputs",
                   "tracking.register_models")
NAME = re.compile(r"[A-Za-z0-9+][A-Za-z0-9_.+-]*")  # "+dedup": what a step adds


class AblationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME.pattern)
    variants: dict[str, list[str]] = Field(min_length=1)  # name -> -S overrides, in order
    seeds: list[int] = Field(min_length=1)
    tokens: int | None = Field(default=None, gt=0,
                               description="training tokens of every run; null = "
                               "train.max_steps x the tokens of a step, from params")
    heldout: str | None = Field(default=None, description="null = train.heldout of params")
    tasks: list[str] | None = Field(default=None, description="null = evaluate.tasks")
    common: list[str] = Field(default_factory=list)  # -S overrides for every variant
    baseline: str | None = None  # null = the first variant
    concurrency: int = Field(default=1, ge=1)  # variants at once (each waits for shared stages)

    @model_validator(mode="after")
    def _check(self) -> "AblationSpec":
        for name in self.variants:
            if not NAME.fullmatch(name):
                raise ValueError(f"variant {name!r}: use letters, digits and _ . + - only")
        if self.baseline is not None and self.baseline not in self.variants:
            raise ValueError(f"baseline {self.baseline!r} is not a variant "
                             f"({', '.join(self.variants)})")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds repeat: {self.seeds}")
        return self

    @property
    def baseline_variant(self) -> str:
        return self.baseline or next(iter(self.variants))


def _key(override: str) -> str:
    keys, _ = parse_override(override)
    return ".".join(keys)


def check_overrides(spec: AblationSpec) -> None:
    """A variant that changes the model, the batch or the budget, or any override of what the
    ablation sets itself, is a ConfigError naming it."""
    for override in spec.common:
        key = _key(override)
        if key in SET_BY_ABLATION:
            raise ConfigError(f"ablation {spec.name}: common: -S {override}: danlu ablate sets "
                              f"{key} itself (tokens:, seeds:, heldout:)")
    for variant, overrides in spec.variants.items():
        for override in overrides:
            key = _key(override)
            if key in SET_BY_ABLATION or key.startswith(FIXED_FOR_ALL):
                raise ConfigError(
                    f"ablation {spec.name}: variant {variant}: -S {override}: every variant "
                    "trains the same model on the same tokens; set the model and the batch in "
                    "common:, the budget in tokens:")


def load_spec(path: Path | None, *, variants: list[str] | None = None,
              seeds: list[int] | None = None, name: str | None = None) -> AblationSpec:
    """The spec from a YAML file, with command-line variants (`NAME=KEY=VALUE,KEY=VALUE`, or
    `NAME` for params.yaml as is) added or replacing the file's, and seeds replacing its."""
    data: dict = {}
    source = str(path) if path else "the command line"
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError(f"{path}: ablation file not found")
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping (name, variants, seeds, ...)")
        data.setdefault("name", Path(path).stem)
    if variants:
        data["variants"] = {**(data.get("variants") or {}), **_cli_variants(variants)}
    if seeds:
        data["seeds"] = seeds
    if name:
        data["name"] = name
    data.setdefault("name", "ablation")
    data.setdefault("seeds", [0])
    for variant, overrides in (data.get("variants") or {}).items():
        if overrides is None:  # `full:` with nothing after it: params.yaml as is
            data["variants"][variant] = []
    try:
        spec = AblationSpec.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
                 for e in exc.errors()]
        raise ConfigError(f"{source}: invalid ablation\n" + "\n".join(lines)) from None
    check_overrides(spec)
    return spec


def _cli_variants(texts: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for text in texts:
        name, _, rest = text.partition("=")
        out[name.strip()] = [o.strip() for o in _split_overrides(rest)] if rest else []
    return out


def _split_overrides(text: str) -> list[str]:
    """`a=1,b=[x,y],c=2` -> three overrides: commas inside brackets or braces stay."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p for p in [*parts, current] if p.strip()]


def step_tokens(cfg: Config) -> int:
    """Tokens of one optimizer step over all devices: train.batch_tokens, else the preset's
    rounded to whole micro-batches (as pretraining does)."""
    from danlu.pretrain.plan import accumulation_steps

    world = max(cfg.train.nproc_per_node, 1)
    micro = cfg.train.batch_size * cfg.model.context_length * world
    return micro * accumulation_steps(cfg.train, cfg.model.preset, cfg.model.context_length,
                                      world)


def training_steps(spec: AblationSpec, cfg: Config) -> tuple[int, int]:
    """(steps, tokens) of every run; tokens that are not whole steps are a ConfigError."""
    per_step = step_tokens(cfg)
    if spec.tokens is None:
        return cfg.train.max_steps, cfg.train.max_steps * per_step
    if spec.tokens % per_step:
        low = spec.tokens // per_step
        raise ConfigError(
            f"ablation {spec.name}: tokens: {spec.tokens:,} is not a whole number of steps of "
            f"{per_step:,} tokens (train.batch_tokens or the preset's); {low} steps give "
            f"{low * per_step:,}, {low + 1} give {(low + 1) * per_step:,}")
    return spec.tokens // per_step, spec.tokens


def base_config(params: Path | str | None, overrides: list[str], spec: AblationSpec) -> Config:
    """params.yaml with the command line's and the spec's common overrides."""
    return load_config(params, [*overrides, *spec.common])
