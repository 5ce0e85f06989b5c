"""Drop documents from blocklisted domains (and their subdomains): `curate.url_blocklist`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from danlu.curate.document import Document
from danlu.curate.filters.base import DocumentFilter
from danlu.errors import DataError


def read_blocklist(path: Path) -> frozenset[str]:
    """One domain per line; `#` starts a comment; blank lines and case are ignored."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"curate.url_blocklist: file {path} does not exist") from None
    domains = (line.split("#", 1)[0].strip().lower().rstrip(".") for line in text.splitlines())
    return frozenset(d for d in domains if d)


class UrlBlocklist(DocumentFilter):
    name = "url_blocklist"

    def __init__(self, domains: frozenset[str]):
        self.domains = domains

    def check(self, doc: Document) -> str | None:
        if not doc.url:
            return None
        host = (urlsplit(doc.url).hostname or "").rstrip(".")
        # www.a.example.com is checked as itself, a.example.com, example.com and com.
        parts = host.split(".")
        for k in range(len(parts)):
            suffix = ".".join(parts[k:])
            if suffix in self.domains:
                return f"host {host} is blocklisted as {suffix}"
        return None
