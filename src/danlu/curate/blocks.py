"""danlu's extractor: resiliparse's DOM and main-content pass, then a small learned block classifier.

resiliparse renders the page as minimal HTML (paragraphs, headings, lists, <pre>, links) in C;
we cut that into blocks (a paragraph, a heading, a list item, a line of loose text), describe each
by a few numbers (words, link density, punctuation, tag, position, its neighbours), and keep the
blocks a logistic regression scores as main text. The weights are a small JSON file shipped with
the package (`block_model.json`, no pickle), trained by `danlu.block_train` on gold pages.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

MODEL_FILE = "block_model.json"

_SENTENCE_END = frozenset(".!?。！？:;\"'”’)…")
_PUNCT = ".,;:!?。，、"
_DIGIT = re.compile(r"\d")
_HEAD = 160  # boilerplate cues, digits and capitals are read from a block's start
_UPPER_START = re.compile(r"(?<!\S)[A-ZÀ-ÖØ-ÞĀ-ŽА-ЯΑ-Ω]")  # words starting with a capital
_BOILERPLATE = re.compile(
    r"©|copyright|all rights reserved|cookie|privacy|terms of (use|service)|log ?in|sign (in|up)"
    r"|subscribe|newsletter|share|tweet|facebook|twitter|instagram|pinterest|whatsapp|linkedin"
    r"|comments?\b|reply|posted (by|on|in)|tags?:|categor|related|read more|weiterlesen"
    r"|previous|next|home\b|menu|search|advert|sponsored|impressum|datenschutz|anmelden"
    r"|kommentar|teilen|mehr zum thema|skip to"
)  # matched against lowercased text


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
                              links=True, alt_texts=False, list_bullets=True)


def blocks(minimal_html: str) -> list[Block]:
    """Cut resiliparse's minimal HTML into blocks: block elements, and lines (<br>, newlines)."""
    out: list[Block] = []
    stack: list[str] = []  # open block elements
    parts: list[str] = []
    link_depth = link_chars = 0
    new_block = True

    def flush(starts_next: bool) -> None:
        nonlocal parts, link_chars, new_block
        if parts:
            text = "".join(parts)
            if "&" in text:
                text = html_lib.unescape(text)
            text = " ".join(text.split())
            if text:
                out.append(Block(text, stack[-1] if stack else "", min(link_chars, len(text)),
                                 new_block))
                new_block = False
            parts, link_chars = [], 0
        if starts_next:
            new_block = True

    def add(text: str) -> None:
        nonlocal link_chars
        parts.append(text)
        if link_depth:
            link_chars += len(text.strip())

    pos = 0
    for m in _TOKEN.finditer(minimal_html + "<br>"):
        text = minimal_html[pos:m.start()]
        pos = m.end()
        if text and not text.isspace():
            if stack or "\n" not in text:
                add(text)
            else:  # loose text: each line is a block
                lines = text.split("\n")
                for line in lines[:-1]:
                    add(line)
                    flush(starts_next=True)
                add(lines[-1])
        elif text:
            if not stack and "\n" in text:
                flush(starts_next=True)
            else:
                parts.append(" ")
        closing, tag = m.group(1), m.group(2).lower()
        if tag == "a":
            link_depth = max(0, link_depth + (-1 if closing else 1))
        elif tag == "br":
            flush(starts_next=False)
        elif tag in ("ul", "ol"):
            flush(starts_next=True)
        elif closing:
            flush(starts_next=True)
            if tag in stack:
                del stack[len(stack) - 1 - stack[::-1].index(tag):]
        else:
            flush(starts_next=True)
            stack.append(tag)
    flush(starts_next=True)
    return out


FEATURES = (
    "bias", "log_words", "log_chars", "link_density", "ends_sentence", "punct_per_word",
    "digit_ratio", "upper_start_ratio", "boilerplate", "position", "position2", "first_in_block",
    "tag_p", "tag_h12", "tag_h36", "tag_li", "tag_pre", "tag_none", "block_share",
    "prev_log_words", "next_log_words", "prev_link_density", "next_link_density",
    "window_log_words", "window_link_density", "after_first_long", "before_last_long",
    "from_longest",
)


def features(bs: list[Block]) -> np.ndarray:
    """One row of FEATURES per block (about 0.5 ms for a page of 40 blocks)."""
    n = len(bs)
    if not n:
        return np.zeros((0, len(FEATURES)))
    texts = [b.text for b in bs]
    tags = [b.tag for b in bs]
    chars = np.fromiter(map(len, texts), np.float64, n)
    words = np.fromiter((len(t.split()) for t in texts), np.float64, n)
    link = np.fromiter((b.link_chars for b in bs), np.float64, n) / np.maximum(chars, 1)
    log_words = np.log1p(words)
    heads = [t[:_HEAD] for t in texts]
    head_words = [len(h.split()) for h in heads]
    cum = np.cumsum(chars) - chars
    position = cum / max(chars.sum(), 1.0)
    pad_w = np.concatenate([[0.0], log_words, [0.0]])
    pad_l = np.concatenate([[1.0], link, [1.0]])
    long = np.flatnonzero((words >= 25) & (link < 0.3))
    idx = np.arange(n)
    if len(long):
        longest = int(np.argmax(np.where(link < 0.3, words, -1)))
        after_first, before_last = idx >= long[0], idx <= long[-1]
        from_longest = np.abs(idx - longest) / n
    else:
        after_first = before_last = np.zeros(n)
        from_longest = np.ones(n)
    columns = {
        "bias": np.ones(n),
        "log_words": log_words,
        "log_chars": np.log1p(chars),
        "link_density": link,
        "ends_sentence": [t[-1] in _SENTENCE_END for t in texts],
        "punct_per_word": np.minimum(
            [sum(map(t.count, _PUNCT)) for t in texts] / np.maximum(words, 1), 2.0),
        "digit_ratio": [len(_DIGIT.findall(h)) / len(h) for h in heads],
        "upper_start_ratio": [len(_UPPER_START.findall(h)) / max(k, 1) for h, k in zip(heads, head_words)],
        "boilerplate": [_BOILERPLATE.search(h.lower()) is not None for h in heads],
        "position": position,
        "position2": position ** 2,
        "first_in_block": [b.first_in_block for b in bs],
        "tag_p": [t == "p" for t in tags],
        "tag_h12": [t in ("h1", "h2") for t in tags],
        "tag_h36": [t in ("h3", "h4", "h5", "h6") for t in tags],
        "tag_li": [t == "li" for t in tags],
        "tag_pre": [t == "pre" for t in tags],
        "tag_none": [t == "" for t in tags],
        "block_share": chars / max(chars.sum(), 1.0),
        "prev_log_words": pad_w[:-2],
        "next_log_words": pad_w[2:],
        "prev_link_density": pad_l[:-2],
        "next_link_density": pad_l[2:],
        "window_log_words": _window(log_words, 0.0),
        "window_link_density": _window(link, 1.0),
        "after_first_long": after_first,
        "before_last_long": before_last,
        "from_longest": from_longest,
    }
    return np.column_stack([np.asarray(columns[name], dtype=np.float64) for name in FEATURES])


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


def select(bs: list[Block], model: BlockModel) -> str:
    """The kept blocks' text: paragraphs apart by a blank line, <br> lines by a newline."""
    if not bs:
        return ""
    keep = model.scores(features(bs)) >= model.threshold
    out: list[str] = []
    for b, k in zip(bs, keep):
        if k:
            if out:
                out.append("\n\n" if b.first_in_block else "\n")
            out.append(b.text)
    return "".join(out)


def extract_main_text(tree_or_html: HTMLTree | str, model: BlockModel | None = None) -> str:
    """The page's main text. When resiliparse's main-content pass keeps nothing, the classifier
    reads the whole page instead."""
    model = model or shipped_model()
    tree = tree_or_html if isinstance(tree_or_html, HTMLTree) else HTMLTree.parse(tree_or_html)
    text = select(blocks(render(tree, main_content=True)), model)
    if not text:
        text = select(blocks(render(tree, main_content=False)), model)
    return text
