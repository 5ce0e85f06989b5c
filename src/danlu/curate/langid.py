"""Language identification with py3langid (ships its model, works offline)."""

from __future__ import annotations

from functools import lru_cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from danlu.config import LanguageConfig
from danlu.curate.document import Document
from danlu.curate.filters.base import DocumentFilter
from danlu.errors import ConfigError


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    # Loading takes about a second: once per process. Normalized scores are probabilities,
    # so `threshold` means the same for short and long texts.
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def identify(text: str) -> tuple[str, float]:
    """(ISO 639 code, probability of that language)."""
    language, score = _identifier().classify(text)
    return language, float(score)


def known_languages() -> list[str]:
    return list(_identifier().labels)


class LanguageFilter(DocumentFilter):
    """Tags every document with its language and score, then keeps the ones in `keep` whose
    score reaches `threshold`."""

    name = "language"

    def __init__(self, cfg: LanguageConfig):
        unknown = sorted(set(cfg.keep) - set(known_languages()))
        if unknown:
            raise ConfigError(
                f"curate.language.keep: py3langid does not know {unknown}; use ISO 639-1 codes "
                "such as en, de, zh"
            )
        self.keep = frozenset(cfg.keep)
        self.threshold = cfg.threshold

    def check(self, doc: Document) -> str | None:
        doc.language, doc.language_score = identify(doc.text)
        if doc.language not in self.keep:
            return f"{doc.language} ({doc.language_score:.3f}) not in keep={sorted(self.keep)}"
        if doc.language_score < self.threshold:
            return f"{doc.language} ({doc.language_score:.3f}) < threshold={self.threshold}"
        return None
