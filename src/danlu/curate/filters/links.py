"""Link farms: pages that list bare URLs. SEO networks cross-link their hosts as text
("http://ffp5727.cn | http://www.ffp5727.cn | http://m.ffp5727.cn ..."), which the Gopher, C4
and FineWeb rules let through when the rest of the page reads like prose. Our rule, not a
published one; thresholds from `curate.link_lists` (docs/LOG.md: what they drop on real pages).
"""

from __future__ import annotations

import re

from danlu.config.curate import LinkListsConfig
from danlu.curate.document import Document
from danlu.curate.filters.base import DocumentFilter

# a bare URL as text: a scheme or a www. host, up to the next space or separator
_URL = re.compile(r"(?:https?://|www\.)[^\s|,;<>\"']+", re.IGNORECASE)
# The share of URL characters judges pages with a few URLs at least: one long link in a short
# post (a petition's address under two sentences) is not a list.
MIN_URLS_FOR_FRACTION = 3


class LinkLists(DocumentFilter):
    name = "link_lists"

    def __init__(self, max_urls_per_line: int | None, max_url_char_fraction: float | None):
        self.max_urls_per_line = max_urls_per_line
        self.max_url_char_fraction = max_url_char_fraction

    def check(self, doc: Document) -> str | None:
        most, urls, url_chars = 0, 0, 0
        for line in doc.lines:
            found = _URL.findall(line)
            most, urls = max(most, len(found)), urls + len(found)
            url_chars += sum(map(len, found))
        if self.max_urls_per_line is not None and most > self.max_urls_per_line:
            return f"a line with {most} URLs > max_urls_per_line={self.max_urls_per_line}"
        fraction = url_chars / len(doc.text) if doc.text else 0.0
        if self.max_url_char_fraction is not None and urls >= MIN_URLS_FOR_FRACTION \
                and fraction > self.max_url_char_fraction:
            return (f"URL characters {fraction:.3f} > "
                    f"max_url_char_fraction={self.max_url_char_fraction}")
        return None


def link_filters(cfg: LinkListsConfig) -> list[DocumentFilter]:
    if not cfg.enabled or (cfg.max_urls_per_line is None and cfg.max_url_char_fraction is None):
        return []
    return [LinkLists(cfg.max_urls_per_line, cfg.max_url_char_fraction)]
