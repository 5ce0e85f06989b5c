"""Document filters: one interface (`DocumentFilter`), one reason name per filter."""

from danlu.curate.filters.base import DocumentFilter, EmptyText
from danlu.curate.filters.gopher import gopher_filters

__all__ = ["DocumentFilter", "EmptyText", "gopher_filters"]
