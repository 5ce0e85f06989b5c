"""Great Expectations imported without its optional dependencies danlu never uses (fresh
interpreters: the import happens once per process)."""

from __future__ import annotations

import json
import subprocess
import sys

OPTIONAL = ["sqlalchemy", "boto3", "botocore", "google.auth", "google.cloud", "chardet"]


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_ge_imports_without_its_optional_clients_and_they_import_afterwards():
    result = _run(f"""
import json, sys
from danlu.validate.gx_import import great_expectations
gx = great_expectations()
loaded = [m for m in {OPTIONAL!r} if m in sys.modules]
from great_expectations.compatibility import aws, sqlalchemy
import sqlalchemy as sa  # the finder is gone: a later import works
print(json.dumps({{"loaded": loaded, "aws": bool(aws.boto3), "sa": sa.__name__,
                  "finders": [type(f).__name__ for f in sys.meta_path],
                  "context": type(gx.get_context(mode="ephemeral")).__name__}}))
""")
    assert result["loaded"] == []
    assert result["aws"] is False  # GE's NotImported placeholder is falsy
    assert result["sa"] == "sqlalchemy" and "_LazyFinder" not in result["finders"]
    assert result["context"] == "EphemeralDataContext"


def test_a_client_imported_before_ge_is_found_as_usual():
    result = _run("""
import json, sys
import sqlalchemy
from danlu.validate.gx_import import great_expectations
great_expectations()
from great_expectations.compatibility import sqlalchemy as compat
print(json.dumps({"engine": compat.sqlalchemy.__name__}))
""")
    assert result["engine"] == "sqlalchemy"


def test_modules_are_hidden_from_the_importing_thread_only():
    import threading

    import pytest

    from danlu.validate.gx_import import _LazyFinder

    finder = _LazyFinder()
    with pytest.raises(ModuleNotFoundError, match="hidden while importing great_expectations"):
        finder.find_spec("boto3", None)
    assert finder.find_spec("numpy", None) is None  # not hidden, not lazy: the usual finders
    seen = []
    other = threading.Thread(target=lambda: seen.append(finder.find_spec("boto3", None)))
    other.start()
    other.join()
    assert seen == [None]  # another thread imports as usual
