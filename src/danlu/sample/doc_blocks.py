"""Documentation text (pydoc topics, docstrings) as a list of headings, paragraphs and code blocks."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, replace

HEADING_UNDERLINES = {"*": "h1", "=": "h2", "-": "h3", "~": "h3", "^": "h3"}
LIST_ITEM = re.compile(r"^(\* |- |\d+\. )")
SPHINX_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


@dataclass(frozen=True)
class Block:
    kind: str  # "h2", "h3", "p", "li" or "pre"
    text: str


@dataclass(frozen=True)
class Doc:
    key: str  # where it came from, e.g. "topic:assert" or "module:textwrap"
    title: str
    blocks: tuple[Block, ...]

    def body_text(self) -> str:
        return "\n\n".join(block.text for block in self.blocks)

    def plain_text(self) -> str:
        return f"{self.title}\n\n{self.body_text()}"

    def body_chars(self) -> int:
        return sum(len(block.text) for block in self.blocks)


def normalized(text: str) -> str:
    """Whitespace-collapsed text: how paragraphs are compared for duplicates and leakage."""
    return " ".join(text.split())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _groups(text: str) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    for line in text.expandtabs(4).splitlines():
        if line.strip():
            groups[-1].append(line.rstrip())
        elif groups[-1]:
            groups.append([])
    return [group for group in groups if group]


def _heading(group: list[str]) -> Block | None:
    if len(group) != 2:
        return None
    title, underline = group[0].strip(), group[1].strip()
    mark = underline[:1]
    if mark in HEADING_UNDERLINES and underline == mark * len(underline) and len(underline) >= 3:
        return Block(HEADING_UNDERLINES[mark], title)
    return None


def _looks_like_code(group: list[str], after_colon: bool, deeper: bool) -> bool:
    stripped = [line.strip() for line in group]
    if any(line.startswith(">>>") for line in stripped) or any("::=" in line for line in stripped):
        return True
    if all(line[:1] in "+|" for line in stripped):  # an ASCII table keeps its columns only in <pre>
        return True
    return after_colon and deeper


def parse_doc_text(text: str) -> list[Block]:
    """Blocks of a pydoc topic or a cleaned docstring; the h1 title line, if any, is returned too."""
    text = SPHINX_ROLE.sub(r"\1", text)
    blocks: list[Block] = []
    previous_text, previous_indent = "", 0
    for group in _groups(text):
        heading = _heading(group)
        if heading is not None:
            blocks.append(heading)
            previous_text, previous_indent = "", 0
            continue
        indent = min(_indent(line) for line in group)
        if _looks_like_code(group, previous_text.endswith(":"), indent > previous_indent):
            code = textwrap.dedent("\n".join(group))
            if blocks and blocks[-1].kind == "pre":  # a blank line inside one example
                code = blocks.pop().text + "\n\n" + code
            blocks.append(Block("pre", code))
            continue
        joined = normalized(" ".join(group))
        if joined.endswith("::"):
            joined = joined[:-1]
        kind = "li" if LIST_ITEM.match(joined) else "p"
        if kind == "li":
            joined = LIST_ITEM.sub("", joined, count=1)
        blocks.append(Block(kind, joined))
        previous_text, previous_indent = joined, indent
    return blocks


def without_seen_paragraphs(doc: Doc, seen: set[str], min_chars: int = 80) -> Doc:
    """The doc minus paragraphs already used elsewhere, so no two sample documents share text."""
    kept = []
    for block in doc.blocks:
        key = normalized(block.text)
        if block.kind in ("p", "li", "pre") and len(key) >= min_chars:
            if key in seen:
                continue
            seen.add(key)
        kept.append(block)
    while kept and kept[-1].kind in ("h2", "h3"):
        kept.pop()
    return replace(doc, blocks=tuple(kept))


def split_pages(doc: Doc, target_chars: int, min_chars: int) -> list[Doc]:
    """Cut a long doc into pages of about target_chars, preferring to cut before a heading."""
    pages: list[list[Block]] = [[]]
    size = 0
    for block in doc.blocks:
        at_heading = block.kind in ("h2", "h3")
        full = size + len(block.text) > target_chars or (at_heading and size >= target_chars // 2)
        if pages[-1] and size >= min_chars and full:
            pages.append([])
            size = 0
        pages[-1].append(block)
        size += len(block.text)
    if len(pages) > 1 and size < min_chars:
        pages[-2].extend(pages.pop())
    if len(pages) == 1:
        return [doc]
    return [
        Doc(f"{doc.key}#{number}", doc.title if number == 1 else f"{doc.title} (part {number})", tuple(blocks))
        for number, blocks in enumerate(pages, start=1)
    ]
