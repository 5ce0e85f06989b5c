"""Document filters: one interface (`DocumentFilter`), one reason name per filter."""

from danlu.curate.filters.base import DocumentFilter, EmptyText
from danlu.curate.filters.c4 import c4_filters
from danlu.curate.filters.fineweb import fineweb_filters
from danlu.curate.filters.gopher import gopher_filters
from danlu.curate.filters.links import link_filters
from danlu.curate.filters.repetition import repetition_filters
from danlu.curate.filters.urls import UrlBlocklist, read_blocklist

__all__ = [
    "DocumentFilter",
    "EmptyText",
    "UrlBlocklist",
    "c4_filters",
    "fineweb_filters",
    "gopher_filters",
    "link_filters",
    "read_blocklist",
    "repetition_filters",
]
