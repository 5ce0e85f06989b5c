"""The whole params.yaml: the project sections (seed, paths, tracking, registry) and each
stage's section from its own module; paths resolve against the project root."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from danlu.config.curate import CurateConfig
from danlu.config.evaluate import EvaluateConfig
from danlu.config.finetune import DpoConfig, FinetuneConfig, RewardConfig
from danlu.config.pretrain import ModelConfig, TrainConfig
from danlu.config.section import HUB_PREFIX, Section
from danlu.config.tokenizer import TokenizerConfig


class PathsConfig(Section):
    data: str
    outputs: str


class TrackingConfig(Section):
    uri: str = Field(description="MLflow tracking URI; a relative sqlite path is under the project")
    artifacts: str = Field(description="artifact root for new experiments")
    experiment: str
    register_models: bool
    ui_url: str = Field(description="MLflow UI for links (the summary's) when uri is no http(s) "
                        "server: the one infra/servers.sh starts")
    system_metrics: bool = Field(description="log CPU, memory (and GPU with pynvml) during "
                                 "training into the stage's run, as system/* metrics")
    require_pushed_data: bool | Literal["auto"] = Field(
        description="a run starts only when data/ is in the DVC remote (so that others can "
        "reproduce it); auto = when the default DVC remote is a URL (s3://, ssh://...)")


class RegistryConfig(Section):
    base_model: str
    chat_model: str
    reward_model: str
    alias: str = Field(description="the alias each new version takes (not an experiment's)")
    champion_alias: str = Field(description="the alias the champion gate moves: a version that "
                                "beats the champion on the primary metric, or `danlu promote`")
    experiment: Literal["auto"] | bool = Field(
        description="auto: a `dvc exp run` (DVC_EXP_NAME set) is an experiment; true: always; "
        "false: never. An experiment's versions are registered, tagged danlu.experiment, and "
        "take no alias")

    @field_validator("experiment", mode="before")
    @classmethod
    def _one_of_three(cls, value):
        # One message instead of pydantic's one per member of the union.
        if value == "auto" or isinstance(value, bool):
            return value
        raise ValueError("expected auto, true or false")

    @model_validator(mode="after")
    def _check_aliases(self) -> "RegistryConfig":
        # One alias for both would let every new version walk past the champion gate.
        if self.champion_alias == self.alias:
            raise ValueError(f"registry.champion_alias and registry.alias are both "
                             f"{self.alias!r}: the champion needs an alias of its own")
        return self


class Config(Section):
    seed: int
    paths: PathsConfig
    tracking: TrackingConfig
    curate: CurateConfig
    tokenizer: TokenizerConfig
    model: ModelConfig
    train: TrainConfig
    finetune: FinetuneConfig
    reward: RewardConfig
    dpo: DpoConfig
    evaluate: EvaluateConfig
    registry: RegistryConfig

    _root: Path = PrivateAttr(default_factory=Path.cwd)

    @model_validator(mode="after")
    def _check_cross_fields(self) -> "Config":
        f = self.curate.filters
        if f.min_words >= f.max_words:
            raise ValueError("curate.filters.min_words must be below curate.filters.max_words")
        v = self.curate.validation
        if v.min_chars >= v.max_chars:
            raise ValueError("curate.validation.min_chars must be below curate.validation.max_chars")
        return self

    @property
    def root(self) -> Path:
        return self._root

    def path(self, value: str | Path) -> Path:
        """Resolve a path from params against the project root (a hub dataset name, hf://...,
        stays as it is)."""
        if str(value).startswith(HUB_PREFIX):
            return Path(value)
        p = Path(value)
        return p if p.is_absolute() else self._root / p

    def path_list(self, value: str | list[str]) -> list[Path]:
        """A params value that is one path or a list of them, each resolved as path()."""
        return [self.path(v) for v in ([value] if isinstance(value, str) else value)]

    @property
    def pretrain_seed(self) -> int:
        """train.seed, or the top-level seed when it is null."""
        return self.seed if self.train.seed is None else self.train.seed

    def out_dir(self, stage: str) -> Path:
        """The folder a stage writes: <paths.outputs>/<stage>."""
        return self.path(self.paths.outputs) / stage

    def section_hash(self, *sections: str) -> str:
        """A stable hash of some sections (all when none given): the params part of lineage."""
        data = self.model_dump(mode="json")
        picked = {k: data[k] for k in (sections or sorted(data))}
        blob = json.dumps(picked, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
