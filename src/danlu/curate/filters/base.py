"""The one interface every curate step that can drop a document implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from danlu.curate.document import Document


class DocumentFilter(ABC):
    """Keeps a document, or drops it: the reason recorded is the filter's `name`, plus a detail.

    A filter may tag the document with signals it computed (language, score) so that later
    steps and the output reuse them instead of computing them again.
    """

    name: ClassVar[str]

    @abstractmethod
    def check(self, doc: Document) -> str | None:
        """None keeps the document; a string drops it and says why (names the value and limit)."""


class EmptyText(DocumentFilter):
    """Nothing left after extraction: no rule below has anything to judge."""

    name = "empty"

    def check(self, doc: Document) -> str | None:
        return None if doc.text.strip() else "no text after extraction"
