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


class MaxShare(DocumentFilter):
    """A rule that drops a document when a measured share goes above `maximum`. Subclasses say
    what they measure; the detail names the value, the params key and its limit."""

    measured: ClassVar[str]  # what the value is, e.g. "duplicate paragraph fraction"
    limit_key: ClassVar[str]  # the params key of the maximum

    def __init__(self, maximum: float):
        self.maximum = maximum

    @abstractmethod
    def share(self, doc: Document) -> float | None:
        """The measured value; None when the document gives the rule nothing to judge."""

    def check(self, doc: Document) -> str | None:
        value = self.share(doc)
        if value is not None and value > self.maximum:
            return f"{self.measured} {value:.3f} > {self.limit_key}={self.maximum}"
        return None


class EmptyText(DocumentFilter):
    """Nothing left after extraction: no rule below has anything to judge."""

    name = "empty"

    def check(self, doc: Document) -> str | None:
        return None if doc.text.strip() else "no text after extraction"
