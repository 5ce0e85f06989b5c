"""The records that flow through curate: raw input, extracted document, quarantined input."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from danlu.curate.words import split_words

RawKind = Literal["response", "conversion", "jsonl"]

# How much of an unusable payload the quarantine log keeps: enough to recognise it, no more.
PREVIEW_CHARS = 200


def document_id(source: str, file_key: str, record: str, offset: int) -> str:
    """Deterministic and unique: the same input bytes give the same id on every machine."""
    digest = hashlib.sha1(f"{file_key}\n{record}\n{offset}".encode()).hexdigest()
    return f"{source}/{digest[:16]}"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where an input came from: file, record (WARC record id or `line N`), byte offset."""

    file: str
    record: str
    offset: int


@dataclass(frozen=True, slots=True)
class RawDocument:
    """One input record before extraction: HTML bytes, WET text bytes, or a JSONL text."""

    id: str
    source: str
    url: str | None
    kind: RawKind
    payload: bytes | str
    content_type: str | None
    charset: str | None
    http_status: int | None
    provenance: Provenance

    @property
    def n_bytes(self) -> int:
        if isinstance(self.payload, bytes):
            return len(self.payload)
        return len(self.payload.encode("utf-8", errors="replace"))


@dataclass(frozen=True, slots=True)
class Quarantined:
    """An input that could not become a document (corrupt, truncated, not HTML...), and why."""

    source: str
    provenance: Provenance
    reason: str
    detail: str
    id: str | None = None
    preview: str = ""

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "id": self.id,
            "file": self.provenance.file,
            "record": self.provenance.record,
            "offset": self.provenance.offset,
            "reason": self.reason,
            "detail": self.detail,
            "preview": self.preview,
        }


def preview(payload: bytes | str) -> str:
    head = payload[: PREVIEW_CHARS * 4]
    text = head.decode("utf-8", errors="replace") if isinstance(head, bytes) else head
    return text[:PREVIEW_CHARS]


@dataclass(eq=False)
class Document:
    """Extracted text plus the signals later steps compute once and share (words, language)."""

    id: str
    source: str
    url: str | None
    text: str
    provenance: Provenance
    n_bytes_in: int
    encoding: str | None = None
    encoding_source: str | None = None
    language: str | None = None
    language_score: float | None = None

    @cached_property
    def n_text_bytes(self) -> int:
        return len(self.text.encode("utf-8"))

    @cached_property
    def words(self) -> list[str]:
        return split_words(self.text)

    @cached_property
    def lines(self) -> list[str]:
        return [line.strip() for line in self.text.splitlines() if line.strip()]

    @cached_property
    def word_counts(self) -> Counter[str]:
        return Counter(word.lower() for word in self.words)
