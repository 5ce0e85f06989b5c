"""params.yaml `curate`: inputs, extraction, language, the Gopher, C4 and FineWeb rules,
deduplication, the quality classifier, the data gate and how the shards run."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from danlu.config.section import Section


class ExtractConfig(Section):
    engine: Literal["resiliparse", "danlu", "trafilatura"]
    main_content: bool
    max_html_bytes: int = Field(gt=0)


class LanguageConfig(Section):
    keep: list[str] = Field(min_length=1)
    threshold: float = Field(ge=0.0, le=1.0)
    sample_chars: int = Field(ge=0, description="identify longer texts on this many characters "
                              "in 4 evenly spaced windows; 0 = the whole text")


class FiltersConfig(Section):
    enabled: bool
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


class LinkListsConfig(Section):
    enabled: bool
    max_urls_per_line: int | None = Field(ge=0, description="a line listing more bare URLs "
                                          "drops the page; null = off")
    max_url_char_fraction: float | None = Field(ge=0, le=1, description="share of the text's "
                                                "characters in bare URLs; null = off")


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
    link_lists: LinkListsConfig
    url_blocklist: str | None = Field(description="file of blocked domains, one a line; null = off")
    exact_dedup: bool
    near_dedup: NearDedupConfig
    line_dedup: LineDedupConfig
    quality: QualityConfig
    validation: ValidationConfig
    execution: ExecutionConfig
