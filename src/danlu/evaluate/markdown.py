"""Markdown pieces of the report card: text made safe for a table cell, and a table."""

from __future__ import annotations

import re
from collections.abc import Sequence

# Characters that Markdown (GitHub flavour) would read as markup or as a table cell boundary.
MARKDOWN_SPECIAL = "\\`*_[]<>|#~"
# Long samples would drown the tables; the full text is in rows.jsonl.
SAMPLE_CHARS = 300
# Control characters from a half-trained model's byte soup would garble the file: show them as �.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def escape_markdown(text: str, max_chars: int = SAMPLE_CHARS) -> str:
    """Text as it reads, safe inside a table cell: markup escaped, newlines as <br>."""
    if len(text) > max_chars:
        text = text[:max_chars].rstrip() + "…"
    text = CONTROL.sub("\ufffd", text.replace("\r\n", "\n"))
    for char in MARKDOWN_SPECIAL:
        text = text.replace(char, "\\" + char)
    return text.replace("\n", "<br>")


def table(header: Sequence[str], align: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines
