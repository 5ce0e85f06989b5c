"""params.yaml -> pydantic models, with `-S key=value` overrides (the syntax of `dvc exp run -S`).

Every default lives in params.yaml; the models here only declare types and allowed values, so
a typo'd key, a wrong type or an out-of-range value fails at load time and names the key.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from danlu.errors import ConfigError

PARAMS_FILE = "params.yaml"
HUB_PREFIX = "hf://datasets/"  # a curate input named on the Hugging Face hub


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsConfig(Section):
    data: str
    outputs: str


class TrackingConfig(Section):
    uri: str = Field(description="MLflow tracking URI; a relative sqlite path is under the project")
    artifacts: str = Field(description="artifact root for new experiments")
    experiment: str
    register_models: bool


class ExtractConfig(Section):
    engine: Literal["resiliparse", "trafilatura"]
    main_content: bool
    max_html_bytes: int = Field(gt=0)


class LanguageConfig(Section):
    keep: list[str] = Field(min_length=1)
    threshold: float = Field(ge=0.0, le=1.0)
    sample_chars: int = Field(ge=0, description="identify longer texts on this many characters "
                              "in 4 evenly spaced windows; 0 = the whole text")


class FiltersConfig(Section):
    min_words: int = Field(ge=0)
    max_words: int = Field(gt=0)
    min_mean_word_length: float = Field(ge=0)
    max_mean_word_length: float = Field(gt=0)
    max_symbol_word_ratio: float = Field(ge=0, le=1)
    min_alpha_word_fraction: float = Field(ge=0, le=1)
    min_stop_words: int = Field(ge=0)
    max_duplicate_line_fraction: float = Field(ge=0, le=1)
    max_top_word_fraction: float = Field(ge=0, le=1)


class GopherRepetitionConfig(Section):
    enabled: bool
    max_duplicate_paragraph_fraction: float | None = Field(ge=0, le=1)
    max_duplicate_paragraph_char_fraction: float | None = Field(ge=0, le=1)
    max_duplicate_line_char_fraction: float | None = Field(ge=0, le=1)
    max_top_ngram_char_fraction: dict[int, float] = Field(description="n -> max share; {} = off")
    max_duplicate_ngram_char_fraction: dict[int, float] = Field(description="n -> max share; {} = off")

    @model_validator(mode="after")
    def _check_ngrams(self) -> "GopherRepetitionConfig":
        for key in ("max_top_ngram_char_fraction", "max_duplicate_ngram_char_fraction"):
            for n, fraction in getattr(self, key).items():
                if n < 1 or not 0 <= fraction <= 1:
                    raise ValueError(f"{key}: n must be >= 1 and the fraction in [0, 1], got {n}: {fraction}")
        return self


class C4Config(Section):
    enabled: bool
    lorem_ipsum: bool
    curly_brace: bool
    min_sentences: int | None = Field(ge=0)
    max_policy_line_fraction: float | None = Field(ge=0, le=1)
    min_terminal_punct_line_fraction: float | None = Field(ge=0, le=1)


class FineWebConfig(Section):
    enabled: bool
    min_line_punct_ratio: float | None = Field(ge=0, le=1)
    max_short_line_ratio: float | None = Field(ge=0, le=1)
    short_line_chars: int = Field(ge=1)
    max_char_duplicates_ratio: float | None = Field(ge=0, le=1)
    max_new_line_ratio: float | None = Field(ge=0)


class NearDedupConfig(Section):
    enabled: bool
    ngram: int = Field(ge=1, description="word n-gram shingle size")
    bands: int = Field(ge=1)
    rows: int = Field(ge=1)

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    @property
    def threshold(self) -> float:
        """Jaccard similarity at which a pair is a candidate with probability 1/2: (1/b)^(1/r)."""
        return (1 / self.bands) ** (1 / self.rows)


class LineDedupConfig(Section):
    """CCNet-style removal of lines (or paragraphs) already seen earlier in the corpus."""

    enabled: bool
    unit: Literal["line", "paragraph"] = Field(description="line: split at newlines; "
                                               "paragraph: at blank lines")
    min_words: int = Field(ge=0, description="a document left with fewer words is dropped")


class QualityConfig(Section):
    """GPT-3-style quality classifier: curated text (positives) against raw crawl (negatives)."""

    enabled: bool
    positive_sources: list[str] = Field(description="sources of curated reference text")
    negative_sources: list[str] = Field(description="sources of raw crawl")
    apply_to: list[str] = Field(description="sources whose documents the score can drop")
    model: str | None = Field(description="a saved classifier folder; null = train on this run")
    ngram: int = Field(ge=1, le=3, description="word n-grams 1..ngram as features")
    num_features: int = Field(ge=1024, le=1 << 24, description="hashed feature space size")
    epochs: int = Field(ge=1)
    l2: float = Field(ge=0)
    heldout_fraction: float = Field(gt=0, lt=1, description="share held out for ROC-AUC")
    max_train_docs: int = Field(ge=10, description="cap per class on training documents")
    keep: Literal["threshold", "top_fraction", "pareto"]
    threshold: float = Field(ge=0, le=1)
    top_fraction: float = Field(gt=0, le=1)
    pareto_alpha: float = Field(gt=0, description="GPT-3: keep when pareto(alpha) > 1 - score")


class ExecutionConfig(Section):
    workers: int = Field(ge=0, description="processes; 0 = all cores")
    shard_bytes: int = Field(ge=1 << 16, description="files larger than this are split")
    dask_address: str | None = Field(description="tcp://host:port of a Dask scheduler; null = local")


class ValidationConfig(Section):
    min_chars: int = Field(ge=0)
    max_chars: int = Field(gt=0)
    data_docs: bool = Field(description="write Great Expectations Data Docs HTML beside the outputs")


class CurateConfig(Section):
    inputs: dict[str, list[str]] = Field(min_length=1, description="source name -> files or folders")
    extract: ExtractConfig
    language: LanguageConfig
    filters: FiltersConfig
    gopher_repetition: GopherRepetitionConfig
    c4: C4Config
    fineweb: FineWebConfig
    url_blocklist: str | None = Field(description="file of blocked domains, one a line; null = off")
    exact_dedup: bool
    near_dedup: NearDedupConfig
    line_dedup: LineDedupConfig
    quality: QualityConfig
    validation: ValidationConfig
    execution: ExecutionConfig


class MixtureConfig(Section):
    """Training mixture across curated sources, by share of tokens."""

    weights: dict[str, float] = Field(description="source -> target share of tokens; {} = as curated")
    total_tokens: int | None = Field(ge=1, description="tokens in the mixture; null = all curated")


class TokenizerConfig(Section):
    vocab_size: int = Field(ge=512, le=1 << 20)
    min_frequency: int = Field(ge=1)
    val_fraction: float = Field(gt=0, lt=1)
    train_sample_bytes: int | None = Field(
        ge=1, description="UTF-8 bytes of train documents the BPE learns from; null = all")
    mixture: MixtureConfig


class ModelConfig(Section):
    preset: Literal["tiny", "d6", "d12", "d24"]
    context_length: int = Field(ge=8)
    n_kv_head: int | None = Field(ge=1, description="key/value heads (grouped-query "
                                  "attention); null = the preset's (as many as query heads)")
    tie_embeddings: bool | None = Field(description="null = the preset's")


class TrainConfig(Section):
    max_steps: int = Field(ge=1)
    batch_size: int = Field(ge=1, description="rows per micro-batch on each device")
    batch_tokens: int | None = Field(ge=1, description="tokens per optimizer step "
                                     "over all devices (gradient accumulation); null = the preset's")
    lr: float | None = Field(gt=0, description="peak learning rate; null = the preset's")
    schedule: Literal["cosine", "wsd"]
    decay_fraction: float = Field(gt=0, le=1, description="wsd: share of the steps "
                                  "spent decaying")
    min_lr_ratio: float = Field(ge=0, le=1)
    warmup_steps: int = Field(ge=0)
    weight_decay: float = Field(ge=0)
    grad_clip: float = Field(ge=0)
    eval_every: int = Field(ge=1)
    eval_batches: int = Field(ge=1)
    sample_tokens: int = Field(ge=0, description="tokens generated at each validation "
                               "(logged); 0 = none")
    threads: int = Field(ge=0, description="CPU threads; 0 = all cores")
    packing: Literal["random", "bos"] = Field(
        description="random windows, or rows that start at a document's BOS")
    compile: bool | Literal["auto"] = Field(description="torch.compile; auto = "
                                            "on CUDA only")
    peak_tflops: float | None = Field(gt=0, description="dense bf16 peak of one "
                                      "device for MFU; null = the detected GPU's")
    nproc_per_node: int = Field(ge=0, description="processes (GPUs) per node; >1 runs "
                                "under torchrun; 0 = one per visible GPU")
    distributed: Literal["ddp", "fsdp"] = Field(description="data parallel: "
                                                "DDP, or FSDP2 (fully_shard) to shard the model")
    work_pool: str | None = Field(description="Prefect work pool whose worker runs the pretrain "
                                  "stage (a GPU machine's); null = the flow's own process")
    checkpoint_every: int = Field(ge=0, description="steps between checkpoints; 0 = none")
    keep_checkpoints: int = Field(ge=1)
    resume: Literal["auto", "never"] = Field(
        description="auto: continue from the latest checkpoint of the same configuration")


class SftConfig(Section):
    data: str
    max_steps: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0)
    warmup_steps: int = Field(ge=0)
    val_fraction: float = Field(gt=0, lt=1)
    max_length: int = Field(ge=16)


class EvaluateConfig(Section):
    heldout: str
    prompts: str
    max_new_tokens: int = Field(ge=1)
    num_samples: int = Field(ge=0)


class RegistryConfig(Section):
    base_model: str
    chat_model: str
    alias: str


class Config(Section):
    seed: int
    paths: PathsConfig
    tracking: TrackingConfig
    curate: CurateConfig
    tokenizer: TokenizerConfig
    model: ModelConfig
    train: TrainConfig
    sft: SftConfig
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

    def section_hash(self, *sections: str) -> str:
        """A stable hash of some sections (all when none given): the params part of lineage."""
        data = self.model_dump(mode="json")
        picked = {k: data[k] for k in (sections or sorted(data))}
        blob = json.dumps(picked, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


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
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc)
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            lines.append(f"  {key}: unknown key{hint}; allowed here: {', '.join(allowed)}")
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
