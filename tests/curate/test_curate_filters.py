"""Word splitting, the Gopher rules (one reason each), language ID and exact dedup."""

from __future__ import annotations

import pytest
from curate_fixtures import ARTICLES, CHINESE, SPAM

from danlu.config import FiltersConfig, LanguageConfig
from danlu.curate.dedup import normalize, text_hash
from danlu.curate.document import Document, Provenance
from danlu.curate.filters import EmptyText, gopher_filters
from danlu.curate.langid import LanguageFilter, identify, language_sample
from danlu.curate.words import split_words
from danlu.errors import ConfigError

FILTERS = FiltersConfig(
    enabled=True, min_words=50, max_words=100_000, min_mean_word_length=3, max_mean_word_length=10,
    max_symbol_word_ratio=0.1, min_alpha_word_fraction=0.8, min_stop_words=2,
    max_duplicate_line_fraction=0.3, max_top_word_fraction=0.2,
)


def doc(text: str, *, language: str | None = "en", ident: str = "s/1") -> Document:
    return Document(ident, "s", None, text, Provenance("f", "r", 0), len(text), language=language)


def first_drop(d: Document) -> tuple[str, str] | None:
    for f in [EmptyText(), *gopher_filters(FILTERS)]:
        if (detail := f.check(d)) is not None:
            return f.name, detail
    return None


def test_cjk_characters_are_words_and_spaces_still_split() -> None:
    assert split_words("长江是中国最长的河流。") == list("长江是中国最长的河流")
    assert split_words("東京タワー is tall, really!") == ["東", "京", "タ", "ワ", "ー", "is", "tall,", "really!"]
    assert len(split_words(CHINESE)) > 80  # one sentence is not one word


@pytest.mark.parametrize("text", ARTICLES)
def test_good_articles_pass_every_rule(text: str) -> None:
    assert first_drop(doc(text)) is None


@pytest.mark.parametrize(
    ("text", "reason", "detail_part"),
    [
        ("   \n ", "empty", "no text"),
        ("The cat and the dog.", "word_count", "min_words=50"),
        (" ".join(["a an to of it is be"] * 10), "mean_word_length", "min_mean_word_length"),
        (" ".join(["extraordinarily internationalization the and"] * 15), "mean_word_length", "max_mean"),
        (ARTICLES[0] + " #tag" * 15, "symbol_word_ratio", "#"),
        (ARTICLES[0] + " more..." * 15, "symbol_word_ratio", "ellipsis"),
        (ARTICLES[0] + " 12345 ---" * 20, "alpha_word_fraction", "min_alpha_word_fraction"),
        (" ".join(["quick brown foxes jump over lazy dogs"] * 10), "stop_words", "min_stop_words=2"),
        ("\n".join([ARTICLES[1]] + ["Subscribe to the newsletter and the feed"] * 6), "duplicate_lines", None),
        (SPAM, "top_word_fraction", "'cheap'"),
    ],
)
def test_each_rule_drops_with_its_reason(text: str, reason: str, detail_part: str | None) -> None:
    dropped = first_drop(doc(text))
    assert dropped is not None and dropped[0] == reason, dropped
    assert detail_part is None or detail_part in dropped[1]


def test_english_only_rules_leave_chinese_text_alone() -> None:
    chinese = doc(CHINESE, language="zh")
    assert first_drop(chinese) is None
    assert first_drop(doc(CHINESE, language="en"))[0] == "stop_words"


GERMAN_NOTICE = ("Die Stadtverwaltung teilt mit, dass die Bibliothek ab Montag wieder zu den "
                       "gewohnten Zeiten geöffnet ist. Bitte beachten Sie die neuen Regeln. ") * 30


def test_language_filter_tags_and_drops_with_the_detected_language() -> None:
    assert identify(ARTICLES[0])[0] == "en" and identify(CHINESE)[0] == "zh"
    keep_en = LanguageFilter(LanguageConfig(keep=["en"], threshold=0.5, sample_chars=0))
    english, chinese = doc(ARTICLES[0], language=None), doc(CHINESE, language=None)
    assert keep_en.check(english) is None and english.language == "en" and english.language_score > 0.9
    assert keep_en.check(chinese).startswith("zh (")
    strict = LanguageFilter(LanguageConfig(keep=["en", "zh"], threshold=1.0, sample_chars=0))
    assert "< threshold=1.0" in strict.check(doc(CHINESE, language=None))


def test_long_texts_are_identified_on_spread_windows() -> None:
    text = "".join(f"{i:05d}" for i in range(2000))  # 10,000 characters, position readable
    assert language_sample(text, 0) == text and language_sample(text[:4000], 4000) == text[:4000]
    windows = language_sample(text, 4000).split("\n")
    assert [len(w) for w in windows] == [1000] * 4
    assert windows[0] == text[:1000] and windows[-1] == text[-1000:]
    # a German first screen does not decide a long English page, as a prefix would
    page = GERMAN_NOTICE + "\n" + "\n".join(ARTICLES * 6)
    assert identify(page[:4000])[0] == "de"
    assert identify(page, 4000)[0] == identify(page)[0] == "en"


def test_unknown_language_code_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="curate.language.keep"):
        LanguageFilter(LanguageConfig(keep=["english"], threshold=0.5, sample_chars=0))


def test_exact_dedup_hash_ignores_case_spacing_and_digits() -> None:
    shouted = "  " + ARTICLES[0].upper().replace(". ", ".\n\n")
    assert text_hash(ARTICLES[0]) == text_hash(shouted) != text_hash(ARTICLES[1])
    assert normalize("Hello,  WORLD 2024!") == normalize("hello world 1999")
