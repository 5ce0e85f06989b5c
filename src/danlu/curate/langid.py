"""Language identification with py3langid's model (shipped in its wheel, works offline), scored
by danlu's vectorized walk of its byte automaton: the same languages and probabilities as
py3langid's `classify` (tests compare them), about 20x faster.

py3langid walks the text byte by byte in a Python loop (a DFA over byte n-grams) and scores the
visited features with a float16 matrix product; together they were the largest part of curate's
time. The automaton's states are byte strings of at most `DEPTH` (6) bytes, and the state after
a byte is the longest suffix of the text so far that is a state: it depends only on the last
`DEPTH` bytes. So every position's state is the automaton run from its start state over the
`DEPTH` bytes ending there, which numpy does for all positions at once in `DEPTH` gathers.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from danlu.config import LanguageConfig
from danlu.curate.document import Document
from danlu.curate.filters.base import DocumentFilter
from danlu.errors import ConfigError

log = logging.getLogger("danlu.curate.langid")

DEPTH = 6  # the longest state string of py3langid 0.4's automaton (checked when loading)
_ARRAYS = ("nextmove", "rowbase", "feature", "ptc", "pc", "classes")
_CACHE_VERSION = "2"


@dataclass(frozen=True)
class LanguageModel:
    """py3langid's naive Bayes model as flat arrays."""

    nextmove: np.ndarray  # next state, at rowbase[state] + byte
    rowbase: np.ndarray  # int64: 256 x the state's (deduplicated) transition row
    feature: np.ndarray  # int32: the feature a state counts, -1 for none
    ptc: np.ndarray  # float32 (features, classes): log P(feature | class), py3langid's float16
    pc: np.ndarray  # float32 (classes,): log P(class)
    classes: np.ndarray  # str (classes,): ISO 639 codes; a code may appear twice (script aliases)

    def __post_init__(self) -> None:
        first: dict[str, int] = {}
        aliases = []
        for i, code in enumerate(self.classes.tolist()):
            if code in first:
                aliases.append((first[code], i))
            else:
                first.setdefault(code, i)
        object.__setattr__(self, "aliases", tuple(aliases))
        object.__setattr__(self, "labels", list(first))

    def states(self, data: bytes) -> np.ndarray:
        """The automaton's state after each byte of `data` (see the module's docstring)."""
        b = np.frombuffer(data, np.uint8)
        n = len(b)
        state = np.zeros(n, np.int64)
        for back in range(min(DEPTH, n) - 1, -1, -1):
            # position i >= back reads byte i - back; the earlier positions start later
            state[back:] = self.nextmove[self.rowbase[state[back:]] + b[: n - back]]
        return state

    def probabilities(self, text: str) -> np.ndarray:
        """P(class | text) per column of `classes`, as py3langid's classify with norm_probs=True:
        upper-case text lowered, NFC, UTF-8; log1p of each feature's count; scores divided by
        the square root of the byte count before the softmax; an alias's mass moved to the
        first column of its code."""
        if text.isupper():
            text = text.lower()
        data = unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")
        features = self.feature[self.states(data)]
        features = features[features >= 0]
        if len(features):
            index, counts = np.unique(features, return_counts=True)
            scores = np.log1p(counts.astype(np.float32)) @ self.ptc[index] + self.pc
            scores *= np.float32(1.0 / math.sqrt(len(data)))
            scores = np.exp(scores - scores.max())
            scores /= scores.sum()
        else:  # no feature at all: every class alike
            scores = np.full(len(self.pc), 1.0 / len(self.pc), np.float32)
        for first, alias in self.aliases:
            scores[first] += scores[alias]
            scores[alias] = 0.0
        return scores

    def classify(self, text: str) -> tuple[str, float]:
        scores = self.probabilities(text)
        best = int(scores.argmax())
        return str(self.classes[best]), float(scores[best])


def _from_py3langid() -> LanguageModel:
    """Decompress py3langid's model (about half a second) and check the automaton's depth."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    model = LanguageModel(
        nextmove=np.frombuffer(nextmove, dtype=np.uint32 if nextmove.itemsize == 4 else np.uint16),
        rowbase=np.frombuffer(row, dtype=np.uint16 if row.itemsize == 2 else np.uint32)
        .astype(np.int64) << 8,
        feature=np.asarray(output, dtype=np.int32),
        ptc=np.ascontiguousarray(ptc, dtype=np.float32),  # exact; float16's @ skips BLAS
        pc=np.asarray(pc, dtype=np.float32),
        classes=np.asarray(classes, dtype=str),
    )
    depth = _max_depth(model)
    if depth > DEPTH:
        raise RuntimeError(f"py3langid's automaton has states of {depth} bytes; danlu's walk "
                           f"reads the last {DEPTH}: pin py3langid==0.4.0")
    return model


def _max_depth(model: LanguageModel) -> int:
    """The longest state string: breadth-first from the start state, a level per byte."""
    seen = np.zeros(len(model.rowbase), bool)
    seen[0] = True
    frontier, depth = np.array([0]), 0
    while True:
        nxt = model.nextmove[(model.rowbase[frontier][:, None] + np.arange(256)).ravel()]
        nxt = np.unique(nxt[~seen[nxt]])
        if not len(nxt):
            return depth
        seen[nxt] = True
        frontier, depth = nxt, depth + 1


def cache_dir() -> Path:
    """$DANLU_CACHE_DIR, else $XDG_CACHE_HOME/danlu, else ~/.cache/danlu."""
    if os.environ.get("DANLU_CACHE_DIR"):
        return Path(os.environ["DANLU_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "danlu"


def _cache_path() -> Path:
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    digest = hashlib.sha256((MODEL_DIR / MODEL_FILE).read_bytes()).hexdigest()[:16]
    return cache_dir() / f"langid-{_CACHE_VERSION}-{digest}"


@lru_cache(maxsize=1)
def language_model() -> LanguageModel:
    """The model, once per process: from danlu's cache of its arrays (memory-mapped, a few ms)
    when there, else from py3langid's compressed file, then cached for the next process. The
    cache is written to a temporary folder renamed into place, so a reader never sees half of
    it; a cache that cannot be written or read is only logged."""
    path = _cache_path()
    try:
        if path.is_dir():
            # np.asarray: plain arrays over the maps (a memmap's every slice is a memmap too)
            arrays = {name: np.asarray(np.load(path / f"{name}.npy", mmap_mode="r",
                                               allow_pickle=False)) for name in _ARRAYS}
            return LanguageModel(**arrays)
    except (OSError, ValueError) as exc:
        log.warning("language model cache %s unreadable (%s); rebuilding it from py3langid's "
                    "model", path, exc)
        shutil.rmtree(path, ignore_errors=True)
    model = _from_py3langid()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=path.name + ".", dir=path.parent))
        for name in _ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(model, name), allow_pickle=False)
        try:
            tmp.rename(path)
        except OSError:  # another process cached it first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        log.info("language model not cached in %s: %s", path.parent, exc)
    return model


WINDOWS = 4  # of a long text's sample: its start, its end and evenly spaced between


def identify(text: str, sample_chars: int = 0) -> tuple[str, float]:
    """(ISO 639 code, probability of that language), of the whole text or, when it is longer
    than `sample_chars`, of a sample: windows spread over the text (not a prefix) so that a page
    whose first screen is in another language than its body is judged by its body too."""
    return language_model().classify(language_sample(text, sample_chars))


def language_sample(text: str, sample_chars: int) -> str:
    if not sample_chars or len(text) <= sample_chars:
        return text
    width = sample_chars // WINDOWS
    step = (len(text) - width) / (WINDOWS - 1)
    return "\n".join(text[int(i * step): int(i * step) + width] for i in range(WINDOWS))


def known_languages() -> list[str]:
    return list(language_model().labels)


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
