"""danlu's extractor: resiliparse's DOM and main-content pass, then a small learned block classifier.

resiliparse renders the page as minimal HTML (paragraphs, headings, lists, <pre>, links) in C;
we cut that into blocks (a paragraph, a heading, a list item, a line of loose text), describe each
by a few numbers (words, link density, punctuation, tag, position, its neighbours), and keep the
blocks a logistic regression scores as main text. The weights are a small JSON file shipped with
the package (`block_model.json`, no pickle), trained by `danlu.block_train` on gold pages.

`blocks` and `features` here define the blocks and features; extraction runs them in C
(`blockscan`, the `_blockscan` extension built at install) where it is built, with the same
result, and in Python otherwise.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources

import numpy as np
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

from danlu.curate import blockscan

MODEL_FILE = "block_model.json"

_SENTENCE_END = frozenset(".!?。！？:;\"'”’)…")
_PUNCT = ".,;:!?。，、"
_HEAD = 160  # digits and capitals are read from a block's first characters
_CUE_CHARS = 140  # cues are looked for in blocks up to this long
# Cues, matched in the lowercased start of a block (one pass over the whole page per cue).
CUES = {
    "related": r"read (more|also|next)|see also|you (may|might) (also )?(like|enjoy)|related"
               r"|recommended|more (from|on|stories|news)|lesen sie (auch|mehr)|auch lesen"
               r"|mehr zum thema|das könnte (dich|sie) auch|weitere (artikel|beiträge|themen)"
               r"|empfehlungen|lea (más|también)|ver también|vous aimerez|lire aussi|leggi anche"
               r"|ti potrebbe|popular|trending|most read|meistgelesen|top stories"
               r"|latest (news|stories)|weiterlesen|zum artikel",
    "social": r"share|teilen|tweet|facebook|twitter|instagram|pinterest|whatsapp|linkedin"
              r"|follow us|folgen sie|newsletter|subscribe|abonn|download (the|our) app"
              r"|sign (in|up)|log ?in|anmelden|registrier|comments?\b|kommentar|reply|antworten",
    "legal": r"©|copyright|all rights reserved|alle rechte|cookie|privacy|datenschutz|terms of"
             r"|impressum|disclaimer|advert|anzeige|sponsored|werbung",
    "caption": r"^(photo|foto|bild|image|abbildung|abb\.|fig(ure|\.)?|vergrößern|credit|quelle"
               r"|source|picture|video)\b|getty images|shutterstock|reuters|\bdpa\b|\bafp\b"
               r"|istock|imago|image \d+ of|bild \d+ (von|aus)",
    "byline": r"^(by|von|par|por|written by|posted|published|updated|veröffentlicht|aktualisiert"
              r"|stand:|publié|publicado)\b|min(ute)?s? read|lesezeit",
    "date": r"\b\d{1,2}[./]\d{1,2}[./]\d{2,4}\b|\b(19|20)\d\d-\d\d-\d\d\b|\b\d{1,2}:\d\d\b"
            r"|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|januar|februar|märz|mai|juni"
            r"|juli|oktober|dezember)[a-z]*\.? \d{1,2},? (19|20)\d\d"
            r"|\b\d{1,2}\.? (jan|feb|mär|apr|mai|jun|jul|aug|sep|okt|nov|dez)[a-zä]*\.? (19|20)\d\d",
}
_CUES = [re.compile(pattern, re.MULTILINE) for pattern in CUES.values()]
_TAGS = {"p": 0, "h1": 1, "h2": 2, "h3": 3, "h4": 3, "h5": 3, "h6": 3, "li": 4, "pre": 5, "": 6}
# resiliparse's main content leaves these in; the classifier was trained without them
SKIP = ("figcaption", '[class*="caption"]')


_TOKEN = re.compile(r"<(/?)(p|h[1-6]|pre|li|ul|ol|a|br)\b[^>]*>", re.IGNORECASE)


@dataclass
class Block:
    text: str  # whitespace-collapsed, entities decoded
    tag: str  # p, h1..h6, li, pre, or "" for loose text
    link_chars: int  # characters inside <a>
    first_in_block: bool  # a new paragraph starts here (else a <br> line of the previous one)


def render(tree_or_html: HTMLTree | str, *, main_content: bool) -> str:
    """resiliparse's minimal-HTML rendering, the input of `blocks`."""
    tree = tree_or_html if isinstance(tree_or_html, HTMLTree) else HTMLTree.parse(tree_or_html)
    return extract_plain_text(tree, main_content=main_content, preserve_formatting="minimal_html",
                              links=True, alt_texts=False, list_bullets=True, comments=False,
                              skip_elements=list(SKIP))


def blocks(minimal_html: str) -> list[Block]:
    """Cut resiliparse's minimal HTML into blocks: block elements, and lines (<br>, newlines)."""
    out: list[Block] = []
    stack: list[str] = []  # open block elements
    parts: list[str] = []  # the text of the block being read
    link_depth = link_chars = 0
    new_block = True
    pieces = _TOKEN.split(minimal_html + "<br>")  # text, "/" or "", tag name, text, ...
    for i in range(0, len(pieces) - 1, 3):
        text, closing, tag = pieces[i], pieces[i + 1], pieces[i + 2].lower()
        if text and not text.isspace():
            if stack or "\n" not in text:
                parts.append(text)
                if link_depth:
                    link_chars += len(text.strip())
            else:  # loose text: each line is a block
                *lines, text = text.split("\n")
                for line in lines:
                    parts.append(line)
                    if link_depth:
                        link_chars += len(line.strip())
                    _append(out, parts, "", link_chars, new_block)
                    parts, link_chars, new_block = [], 0, True
                parts.append(text)
                if link_depth:
                    link_chars += len(text.strip())
        elif text:
            if not stack and "\n" in text:  # a blank line between loose lines ends a block
                _append(out, parts, "", link_chars, new_block)
                parts, link_chars, new_block = [], 0, True
            else:
                parts.append(" ")
        if tag == "a":
            link_depth = max(0, link_depth + (-1 if closing else 1))
            continue
        if parts:  # any other tag ends the text before it
            if _append(out, parts, stack[-1] if stack else "", link_chars, new_block):
                new_block = False
            parts, link_chars = [], 0
        if tag == "br":  # a line of the same paragraph
            continue
        new_block = True
        if closing:
            if tag in stack:
                del stack[len(stack) - 1 - stack[::-1].index(tag):]
        elif tag not in ("ul", "ol"):
            stack.append(tag)
    return out


def _append(out: list[Block], parts: list[str], tag: str, link_chars: int, first: bool) -> bool:
    """Add the block made of `parts` (entities decoded, whitespace collapsed), unless it is blank."""
    text = "".join(parts)
    text = " ".join((html_lib.unescape(text) if "&" in text else text).split())
    if text:
        out.append(Block(text, tag, min(link_chars, len(text)), first))
    return bool(text)


FEATURES = (
    "bias", "log_words", "log_chars", "link_density", "ends_sentence", "punct_per_word",
    "digit_ratio", "upper_start_ratio", *(f"cue_{name}" for name in CUES), "no_letters",
    "position", "position2", "first_in_block",
    "tag_p", "tag_h1", "tag_h2", "tag_h36", "tag_li", "tag_pre", "tag_none", "block_share",
    "prev_log_words", "next_log_words", "prev_link_density", "next_link_density",
    "window_log_words", "window_link_density", "after_first_long", "before_last_long",
    "from_longest", "long_words_before", "long_words_after", "to_nearest_long", "after_cue",
)


_COLUMN = {name: i for i, name in enumerate(FEATURES)}
_CUE_COLUMNS = slice(_COLUMN[f"cue_{next(iter(CUES))}"], _COLUMN[f"cue_{next(iter(CUES))}"] + len(CUES))
_TAG_COLUMNS = slice(_COLUMN["tag_p"], _COLUMN["tag_none"] + 1)  # in _TAGS' order

_SPACE, _PUNCT_MARK, _DIGIT, _UPPER, _LETTER, _CJK = 1, 2, 4, 8, 16, 32
_CJK_CHARS_PER_WORD = 1.5  # Chinese and Japanese text has no spaces between words


@cache
def _char_classes() -> np.ndarray:
    """Bit flags for each character of the Basic Multilingual Plane (the rest count as letters)."""
    chars = [chr(c) for c in range(0x10000)]
    table = np.zeros(0x10001, np.uint8)
    table[[ord(" "), ord("\n")]] = _SPACE
    table[[ord(c) for c in _PUNCT]] = _PUNCT_MARK
    table[ord("0"):ord("9") + 1] = _DIGIT
    table[:0x10000] |= np.fromiter((c.isupper() for c in chars), bool, 0x10000) * np.uint8(_UPPER)
    table[:0x10000] |= np.fromiter((c.isalpha() for c in chars), bool, 0x10000) * np.uint8(_LETTER)
    for start, end in ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF)):  # not Korean: spaced
        table[start:end + 1] |= _CJK
    table[0x10000] = _LETTER
    return table


def _char_counts(texts: list[str]) -> np.ndarray:
    """Per block, in its first _HEAD characters: words, punctuation marks, digits, words starting
    with a capital, letters, CJK characters (one pass of numpy over the page's characters)."""
    heads = [t[:_HEAD] for t in texts]
    codes = np.frombuffer(("\n".join(heads) + "\n").encode("utf-32-le"), np.uint32)
    flags = _char_classes()[np.minimum(codes, 0x10000)]
    space = (flags & _SPACE).astype(bool)
    word_start = np.empty(len(codes), bool)
    word_start[0] = True
    word_start[1:] = space[:-1]
    counts = np.column_stack([word_start & ~space, flags & _PUNCT_MARK, flags & _DIGIT,
                              word_start & ((flags & _UPPER) > 0), flags & _LETTER, flags & _CJK])
    starts = np.cumsum([0] + [len(h) + 1 for h in heads[:-1]])
    return np.add.reduceat((counts > 0).astype(np.int32), starts, axis=0)


def _cue_matches(texts: list[str]) -> np.ndarray:
    """(blocks, cues) 0/1 for the page's short blocks (long paragraphs are text whatever their
    words): each cue's regex over their lowercased text joined, in one pass per cue."""
    out = np.zeros((len(texts), len(_CUES)))
    short = [i for i, t in enumerate(texts) if len(t) <= _CUE_CHARS]
    if not short:
        return out
    lower = [texts[i].lower() for i in short]  # may differ in length ("İ" is two characters)
    starts = np.cumsum([0] + [len(t) + 1 for t in lower[:-1]])
    joined = "\n".join(lower)
    rows = np.array(short)
    for j, cue in enumerate(_CUES):
        hits = [m.start() for m in cue.finditer(joined)]
        if hits:
            out[rows[np.searchsorted(starts, hits, side="right") - 1], j] = 1.0
    return out


def features(bs: list[Block]) -> np.ndarray:
    """One row of FEATURES per block (about 0.4 ms for a page of 40 blocks)."""
    n = len(bs)
    x = np.empty((n, len(FEATURES)))
    if not n:
        return x
    texts = [b.text for b in bs]
    counts = _char_counts(texts)
    chars = np.fromiter(map(len, texts), np.float64, n)
    head_chars = np.minimum(chars, _HEAD)
    # texts are whitespace-collapsed: words = spaces + 1, and CJK characters in words' stead
    words = (np.fromiter((t.count(" ") for t in texts), np.float64, n) + 1.0
             + counts[:, 5] * (chars / head_chars) / _CJK_CHARS_PER_WORD)
    head_words = np.maximum(counts[:, 0], 1)
    link = np.fromiter((b.link_chars for b in bs), np.float64, n) / np.maximum(chars, 1)
    log_words = np.log1p(words)
    total = max(chars.sum(), 1.0)
    position = (np.cumsum(chars) - chars) / total
    long_words = np.where((words >= 25) & (link < 0.3), words, 0.0)
    long = np.flatnonzero(long_words)
    idx = np.arange(n)
    column = _COLUMN
    x[:, column["bias"]] = 1.0
    x[:, column["log_words"]] = log_words
    x[:, column["log_chars"]] = np.log1p(chars)
    x[:, column["link_density"]] = link
    x[:, column["ends_sentence"]] = np.fromiter((t[-1] in _SENTENCE_END for t in texts), np.float64, n)
    x[:, column["punct_per_word"]] = np.minimum(counts[:, 1] / head_words, 2.0)
    x[:, column["digit_ratio"]] = counts[:, 2] / head_chars
    x[:, column["upper_start_ratio"]] = counts[:, 3] / head_words
    cues = _cue_matches(texts)
    x[:, _CUE_COLUMNS] = cues
    x[:, column["no_letters"]] = counts[:, 4] == 0
    x[:, column["position"]] = position
    x[:, column["position2"]] = position ** 2
    x[:, column["first_in_block"]] = np.fromiter((b.first_in_block for b in bs), np.float64, n)
    tag = np.fromiter((_TAGS.get(b.tag, 0) for b in bs), np.int64, n)
    x[:, _TAG_COLUMNS] = tag[:, None] == np.arange(_TAG_COLUMNS.stop - _TAG_COLUMNS.start)
    x[:, column["block_share"]] = chars / total
    x[:, column["prev_log_words"]] = np.concatenate([[0.0], log_words[:-1]])
    x[:, column["next_log_words"]] = np.concatenate([log_words[1:], [0.0]])
    x[:, column["prev_link_density"]] = np.concatenate([[1.0], link[:-1]])
    x[:, column["next_link_density"]] = np.concatenate([link[1:], [1.0]])
    x[:, column["window_log_words"]] = _window(log_words, 0.0)
    x[:, column["window_link_density"]] = _window(link, 1.0)
    if len(long):
        longest = int(np.argmax(np.where(link < 0.3, words, -1)))
        x[:, column["after_first_long"]] = idx >= long[0]
        x[:, column["before_last_long"]] = idx <= long[-1]
        x[:, column["from_longest"]] = np.abs(idx - longest) / n
        x[:, column["to_nearest_long"]] = np.log1p(np.abs(idx[:, None] - long[None, :]).min(axis=1))
    else:
        x[:, column["after_first_long"]] = x[:, column["before_last_long"]] = 0.0
        x[:, column["from_longest"]] = 1.0
        x[:, column["to_nearest_long"]] = np.log1p(n)
    # sums in page order and from the page's end, one addition at a time (as the C path does)
    before = np.concatenate([[0.0], np.cumsum(long_words)[:-1]])
    after = np.concatenate([np.cumsum(long_words[::-1])[::-1][1:], [0.0]])
    x[:, column["long_words_before"]] = np.log1p(before)
    x[:, column["long_words_after"]] = np.log1p(after)
    related_or_social = cues[:, [list(CUES).index("related"), list(CUES).index("social")]].max(axis=1)
    # such a cue at or before the block
    x[:, column["after_cue"]] = np.maximum.accumulate(related_or_social)
    return x


def _window(values: np.ndarray, edge: float, width: int = 5) -> np.ndarray:
    """The mean over a block and its neighbours, `edge` past the page's ends."""
    half = width // 2
    padded = np.concatenate([np.full(half, edge), values, np.full(half, edge)])
    sums = np.cumsum(np.concatenate([[0.0], padded]))
    return (sums[width:] - sums[:-width]) / width


@dataclass(frozen=True)
class BlockModel:
    weights: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    threshold: float

    def scores(self, x: np.ndarray) -> np.ndarray:
        z = ((x - self.mean) / self.scale) @ self.weights
        return 1.0 / (1.0 + np.exp(-z))

    def keep(self, x: np.ndarray) -> np.ndarray:
        """scores(x) >= threshold, as one product: the standardisation folded into the weights."""
        if not 0 < self.threshold < 1:  # no logit; the rounding of scores() decides there
            return self.scores(x) >= self.threshold
        return x @ self._folded[0] >= self._folded[1]

    @cached_property
    def _folded(self) -> tuple[np.ndarray, float]:
        weights = self.weights / self.scale
        logit = np.log(self.threshold / (1 - self.threshold))
        return weights, float(logit + self.mean @ weights)

    def to_json(self) -> dict:
        def rounded(a: np.ndarray) -> list[float]:
            return [round(float(v), 6) for v in a]

        return {"features": list(FEATURES), "weights": rounded(self.weights),
                "mean": rounded(self.mean), "scale": rounded(self.scale),
                "threshold": self.threshold}

    @classmethod
    def from_json(cls, data: dict) -> BlockModel:
        if data.get("features") != list(FEATURES):
            raise ValueError(f"{MODEL_FILE}: its features {data.get('features')} are not "
                             f"this version's {list(FEATURES)}; retrain with danlu.block_train")
        return cls(np.array(data["weights"]), np.array(data["mean"]), np.array(data["scale"]),
                   float(data["threshold"]))


@cache
def shipped_model() -> BlockModel:
    text = resources.files("danlu.curate").joinpath(MODEL_FILE).read_text(encoding="utf-8")
    return BlockModel.from_json(json.loads(text))


def select(minimal_html: str, model: BlockModel) -> str:
    """The text of the blocks the model keeps: blocks and features in C (`blockscan`) where the
    extension is built, else in Python; the same result either way."""
    scanner = c_scanner()
    fast = scanner.scan(minimal_html) if scanner else None
    if fast is not None:
        texts, first, x = fast
        return _join(texts, first, model.keep(x))
    bs = blocks(minimal_html)
    return joined(bs, model.keep(features(bs)))


@cache
def c_scanner() -> blockscan.Scanner | None:
    """The C path, configured with this module's definitions; None where it is not built."""
    flags = dict(zip(blockscan.CLASS_FLAGS, (_SPACE, _PUNCT_MARK, _DIGIT, _UPPER, _LETTER, _CJK)))
    return blockscan.prepare(features=FEATURES, cues=CUES, classes=_char_classes(),
                             class_flags=flags, cue_chars=_CUE_CHARS, head=_HEAD,
                             sentence_end="".join(_SENTENCE_END),
                             cjk_chars_per_word=_CJK_CHARS_PER_WORD)


def joined(bs: list[Block], keep: np.ndarray) -> str:
    """The kept blocks' text: paragraphs apart by a blank line, <br> lines by a newline."""
    return _join([b.text for b in bs], [b.first_in_block for b in bs], keep)


def _join(texts: list[str], first: Iterable[bool], keep: np.ndarray) -> str:
    out: list[str] = []
    for text, new_paragraph, k in zip(texts, first, keep):
        if k:
            if out:
                out.append("\n\n" if new_paragraph else "\n")
            out.append(text)
    return "".join(out)


def extract_main_text(tree_or_html: HTMLTree | str, model: BlockModel | None = None) -> str:
    """The page's main text. When resiliparse's main-content pass keeps nothing, the classifier
    reads the whole page instead."""
    model = model or shipped_model()
    tree = tree_or_html if isinstance(tree_or_html, HTMLTree) else HTMLTree.parse(tree_or_html)
    text = select(render(tree, main_content=True), model)
    if not text:
        text = select(render(tree, main_content=False), model)
    return text
