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


WINDOWS = 4  # of a long text's sample: its start, its end and evenly spaced between


def identify(text: str, sample_chars: int = 0) -> tuple[str, float]:
    """(ISO 639 code, probability of that language), of the whole text or, when it is longer
    than `sample_chars`, of a sample: py3langid's byte automaton is a Python loop, the largest
    cost of the shard step, and a long page's language shows in any part of it. Windows spread
    over the text (not a prefix) so that a page whose first screen is in another language
    than its body is judged by its body too."""
    language, score = _identifier().classify(language_sample(text, sample_chars))
    return language, float(score)


def language_sample(text: str, sample_chars: int) -> str:
    if not sample_chars or len(text) <= sample_chars:
        return text
    width = sample_chars // WINDOWS
    step = (len(text) - width) / (WINDOWS - 1)
    return "\n".join(text[int(i * step): int(i * step) + width] for i in range(WINDOWS))


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
        self.sample_chars = cfg.sample_chars

    def check(self, doc: Document) -> str | None:
        doc.language, doc.language_score = identify(doc.text, self.sample_chars)
        if doc.language not in self.keep:
            return f"{doc.language} ({doc.language_score:.3f}) not in keep={sorted(self.keep)}"
        if doc.language_score < self.threshold:
            return f"{doc.language} ({doc.language_score:.3f}) < threshold={self.threshold}"
        return None
