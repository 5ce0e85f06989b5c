"""params.yaml as pydantic models, one module per stage's section, and its loading with
`-S key=value` overrides (the syntax of `dvc exp run -S`).

Every default lives in params.yaml; the models only declare types and allowed values, so a
typo'd key, a wrong type or an out-of-range value fails at load time and names the key. The
whole config is `Config` (project.py); `load_config` reads it (load.py).
"""

from danlu.config.curate import (
    C4Config,
    CurateConfig,
    ExecutionConfig,
    ExtractConfig,
    FiltersConfig,
    FineWebConfig,
    GopherRepetitionConfig,
    LanguageConfig,
    LineDedupConfig,
    NearDedupConfig,
    QualityConfig,
    ValidationConfig,
)
from danlu.config.evaluate import EvaluateConfig
from danlu.config.finetune import DpoConfig, FinetuneConfig, RewardConfig
from danlu.config.load import (
    apply_overrides,
    config_from_data,
    find_params,
    load_config,
    parse_override,
)
from danlu.config.pretrain import ModelConfig, TrainConfig
from danlu.config.project import Config, PathsConfig, RegistryConfig, TrackingConfig
from danlu.config.section import HUB_PREFIX, PARAMS_FILE, Section
from danlu.config.tokenizer import MixtureConfig, TokenizerConfig

__all__ = [
    "HUB_PREFIX", "PARAMS_FILE", "C4Config", "Config", "CurateConfig", "EvaluateConfig",
    "ExecutionConfig", "ExtractConfig", "FiltersConfig", "FineWebConfig",
    "GopherRepetitionConfig", "LanguageConfig", "LineDedupConfig", "MixtureConfig",
    "ModelConfig", "NearDedupConfig", "PathsConfig", "QualityConfig", "RegistryConfig",
    "Section", "DpoConfig", "FinetuneConfig", "RewardConfig", "TokenizerConfig", "TrackingConfig", "TrainConfig",
    "ValidationConfig", "apply_overrides", "config_from_data", "find_params", "load_config",
    "parse_override",
]
