"""danlu's vectorized language ID against py3langid's own classifier, and its model cache."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from curate_fixtures import ARTICLES, CHINESE
from py3langid.langid import MODEL_FILE, LanguageIdentifier, visit_counts

from danlu.curate import langid
from danlu.curate.langid import DEPTH, identify, language_model

TEXTS = [
    *ARTICLES,
    CHINESE,
    "Die Stadtverwaltung teilt mit, dass die Bibliothek ab Montag wieder geöffnet ist.",
    "Это короткий текст на русском языке о погоде в Москве.",
    "これは日本語の短い文章です。天気はとても良いです。",
    "Ceci est un petit texte en français, écrit pour vérifier la détection.",
    "THE WHOLE SENTENCE IS WRITTEN IN CAPITAL LETTERS SO IT IS LOWERED FIRST",
    "Srpski: Ово је кратак текст. Ovo je kratak tekst.",  # a script alias pair (sr / srl)
    "", "   ", "a", "12345 67890", "😀😀😀 🎉", "lone surrogate \ud800 inside",
    "e\u0301cole",  # NFC composes it before the bytes are read
]


@pytest.fixture(scope="module")
def reference() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _corpus(shared: Path | None) -> list[str]:
    texts = list(TEXTS)
    if shared is not None:
        shakespeare = (shared / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
        texts += [shakespeare[i: i + 3000] for i in range(0, 150_000, 3000)]
    return texts


def test_same_language_and_probabilities_as_py3langid(reference: LanguageIdentifier) -> None:
    model = language_model()
    for text in TEXTS:
        assert model.classify(text)[0] == reference.classify(text)[0], text
        expected = dict(reference.rank(text))
        got: dict[str, float] = {}
        for code, p in zip(model.classes.tolist(), model.probabilities(text).tolist()):
            got.setdefault(code, p)  # an alias's column is 0 after the fold
        for code, p in expected.items():
            assert got[code] == pytest.approx(p, abs=1e-5), (text, code)
    assert identify(ARTICLES[0])[0] == "en" and identify(CHINESE)[0] == "zh"


def test_same_on_real_text(reference: LanguageIdentifier, shared_data: Path) -> None:
    model = language_model()
    for text in _corpus(shared_data):
        lang, p = model.classify(text)
        ref_lang, ref_p = reference.classify(text)
        assert lang == ref_lang and p == pytest.approx(ref_p, abs=1e-5)


def test_the_vectorized_walk_visits_py3langid_s_states(reference: LanguageIdentifier) -> None:
    """On any bytes, not only text: every position's state from its last DEPTH bytes."""
    model = language_model()
    rng = np.random.default_rng(0)
    samples = [bytes(rng.integers(0, 256, n, dtype=np.uint8)) for n in (0, 1, 5, 6, 7, 500)]
    samples += [bytes(rng.integers(97, 123, 2000, dtype=np.uint8)),  # letters reach deep states
                "naïve façade, 漢字 and ascii".encode() * 20]
    for data in samples:
        features = model.feature[model.states(data)]
        ours = Counter(features[features >= 0].tolist())
        theirs = visit_counts(reference.tk_nextmove, reference._rowbase, reference.tk_output, data)
        assert ours == (theirs or Counter()), data[:40]


def test_the_automaton_is_no_deeper_than_the_walk_reads() -> None:
    assert langid._max_depth(language_model()) == DEPTH


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DANLU_CACHE_DIR", str(tmp_path / "cache"))
    language_model.cache_clear()
    yield tmp_path / "cache"
    language_model.cache_clear()


def test_the_model_is_cached_whole_and_read_back(fresh_cache: Path) -> None:
    built = language_model()
    [folder] = fresh_cache.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{a}.npy" for a in langid._ARRAYS)
    language_model.cache_clear()
    cached = language_model()
    assert isinstance(cached.ptc, np.ndarray) and not isinstance(cached.ptc, np.memmap)
    for text in TEXTS[:4]:
        assert cached.classify(text) == built.classify(text)


def test_a_damaged_cache_is_reported_and_bypassed(fresh_cache: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    expected = language_model().classify(ARTICLES[0])
    [folder] = fresh_cache.iterdir()
    (folder / "ptc.npy").write_bytes(b"\x93NUMPY not really")
    language_model.cache_clear()
    with caplog.at_level(logging.WARNING, logger="danlu.curate.langid"):
        assert language_model().classify(ARTICLES[0]) == expected
    assert "unreadable" in caplog.text and str(folder) in caplog.text
    language_model.cache_clear()  # rewritten: the next process reads it again
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="danlu.curate.langid"):
        assert language_model().classify(ARTICLES[0]) == expected
    assert not caplog.text


def test_an_unwritable_cache_still_identifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("DANLU_CACHE_DIR", str(blocker / "cache"))
    language_model.cache_clear()
    try:
        assert language_model().classify(CHINESE)[0] == "zh"
    finally:
        language_model.cache_clear()
