"""C4 rules (Raffel et al. 2020), as whole-document decisions; thresholds from `curate.c4`.

C4 also deletes single lines (no terminal punctuation, "javascript", policy notices); danlu
never rewrites a document's text, so those become document rules with a share of lines.
"""

from __future__ import annotations

import re

from danlu.config import C4Config
from danlu.curate.document import Document
from danlu.curate.filters.base import DocumentFilter, MaxShare

# C4's own list (. ! ? " '), plus closing quotes and the CJK full stops, so that Chinese and
# Japanese lines are judged by the same rule instead of never ending a sentence.
TERMINAL_PUNCTUATION = (".", "!", "?", '"', "'", "”", "’", "。", "！", "？", "」", "』")
# A sentence ends at . ! ? (with closing quotes or brackets) before a space or the end, so
# `os.path` and `3.14` end nothing; CJK full stops need no space after them.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)|[。！？]+")
_POLICY_LINE = re.compile(
    r"javascript|cookie policy|use of cookies|uses cookies|use cookies|privacy policy"
    r"|terms of use|terms of service",
    re.IGNORECASE,
)


class LoremIpsum(DocumentFilter):
    name = "lorem_ipsum"

    def check(self, doc: Document) -> str | None:
        return "contains 'lorem ipsum'" if "lorem ipsum" in doc.text.lower() else None


class CurlyBrace(DocumentFilter):
    """C4 takes a "{" for code; off in params.yaml where code is wanted."""

    name = "curly_brace"

    def check(self, doc: Document) -> str | None:
        return "contains '{'" if "{" in doc.text else None


class MinSentences(DocumentFilter):
    name = "min_sentences"

    def __init__(self, minimum: int):
        self.minimum = minimum

    def check(self, doc: Document) -> str | None:
        n = sum(1 for _ in _SENTENCE_END.finditer(doc.text))
        if n < self.minimum:
            return f"{n} sentences < min_sentences={self.minimum}"
        return None


class PolicyLines(MaxShare):
    """Share of lines that mention javascript, cookies or a privacy/terms notice."""

    name = "policy_lines"
    measured = "policy/javascript line fraction"
    limit_key = "max_policy_line_fraction"

    def share(self, doc: Document) -> float | None:
        if not doc.lines:
            return None
        if not _POLICY_LINE.search(doc.text):  # most texts: one search instead of one a line
            return 0.0
        return sum(1 for line in doc.lines if _POLICY_LINE.search(line)) / len(doc.lines)


class TerminalPunctuationLines(DocumentFilter):
    """Share of lines ending in terminal punctuation; C4's line rule and FineWeb's, by name."""

    def __init__(self, name: str, minimum: float, setting: str):
        self.name, self.minimum, self.setting = name, minimum, setting

    def check(self, doc: Document) -> str | None:
        if not doc.lines:
            return None
        ending = sum(1 for line in doc.lines if line.endswith(TERMINAL_PUNCTUATION))
        fraction = ending / len(doc.lines)
        if fraction < self.minimum:
            return f"lines ending in punctuation {fraction:.3f} < {self.setting}={self.minimum}"
        return None


def c4_filters(cfg: C4Config) -> list[DocumentFilter]:
    """Enabled rules, cheapest first; a null threshold is off."""
    if not cfg.enabled:
        return []
    rules: list[DocumentFilter] = []
    if cfg.lorem_ipsum:
        rules.append(LoremIpsum())
    if cfg.curly_brace:
        rules.append(CurlyBrace())
    if cfg.min_sentences is not None:
        rules.append(MinSentences(cfg.min_sentences))
    if cfg.max_policy_line_fraction is not None:
        rules.append(PolicyLines(cfg.max_policy_line_fraction))
    if cfg.min_terminal_punct_line_fraction is not None:
        rules.append(
            TerminalPunctuationLines(
                "c4_terminal_punct_lines",
                cfg.min_terminal_punct_line_fraction,
                "min_terminal_punct_line_fraction",
            )
        )
    return rules
