"""Great Expectations, imported without loading what its import pulls in and danlu's suites
never use, 1.1 s of its 2.6 s import here, paid by every stage that validates:
- scipy.stats (statistical expectations such as KL divergence; with it scipy.spatial) and
  altair (Data Docs charts of distribution expectations) are imported lazily
  (importlib.util.LazyLoader): a module object now, its code run on the first attribute anyone
  reads, so an expectation that needs them still gets them;
- SQLAlchemy, boto3/botocore and the Google Cloud clients, optional dependencies of GE (its SQL
  datasources, S3 and GCS stores; danlu validates DataFrames in a local project), and chardet
  (requests then uses charset_normalizer, its other choice) are hidden: GE imports as where they
  are not installed (0.2 s). Where something imported them earlier, GE finds them as usual.

Every danlu module imports GE through `great_expectations()`; the finder is in place only
during that first import.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from types import ModuleType

LAZY = frozenset({"scipy.stats", "altair"})
HIDDEN = ("sqlalchemy", "boto3", "botocore", "google.auth", "google.oauth2", "google.cloud",
          "google.api_core", "chardet")
_LOCK = threading.Lock()


class _LazyFinder(importlib.abc.MetaPathFinder):
    """In place while one thread imports GE; other threads' imports are left alone."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, name, path, target=None):
        if threading.get_ident() != self.thread:
            return None
        if any(name == hidden or name.startswith(hidden + ".") for hidden in HIDDEN):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden while importing "
                                      "great_expectations)", name=name)
        if name not in LAZY:
            return None
        for finder in sys.meta_path:  # the spec the import system would have found
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def great_expectations() -> ModuleType:
    """The great_expectations package, imported once per process. The lock makes a second
    thread wait for an import in progress (a module in sys.modules may be half-initialized)."""
    with _LOCK:
        if "great_expectations" in sys.modules:
            import great_expectations  # done, or another importer's: its module lock waits
        else:
            finder = _LazyFinder()
            sys.meta_path.insert(0, finder)
            try:
                import great_expectations
            finally:
                sys.meta_path.remove(finder)
    return great_expectations
