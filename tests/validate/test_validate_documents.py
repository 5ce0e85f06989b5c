"""The Great Expectations gate on curated documents (GE import is slow: few tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from danlu.config import ValidationConfig
from danlu.errors import ValidationFailed
from danlu.validate.documents import validate_documents

CFG = ValidationConfig(min_chars=20, max_chars=1000)


def test_good_documents_pass_and_the_report_is_written(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {"id": ["s/1", "s/2"], "text": ["a" * 30, "b" * 40], "language": ["en", "de"], "n_chars": [30, 40]}
    )
    report = validate_documents(df, CFG, ["en", "de"], tmp_path / "validation.json")
    assert report["success"] is True and report["rows"] == 2
    assert json.loads((tmp_path / "validation.json").read_text()) == report
    assert {e["expectation"] for e in report["expectations"]} == {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_unique",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
    }


def test_bad_documents_fail_with_a_readable_summary(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "id": ["s/1", "s/2", "s/2", None],
            "text": ["a" * 30, None, "short", "c" * 30],
            "language": ["en", "en", "zh", "en"],
            "n_chars": [30, 0, 5, 30],
        }
    )
    path = tmp_path / "validation.json"
    with pytest.raises(ValidationFailed) as caught:
        validate_documents(df, CFG, ["en"], path)
    message = str(caught.value)
    assert caught.value.report_path == str(path)
    assert message.splitlines()[0] == f"curated_documents: 5 of 5 expectations failed on 4 rows (report: {path})"
    assert "  - n_chars between min_chars=20 and max_chars=1000: 2 rows (50.00%)" in message
    assert "  - language in keep=['en']: 1 rows (25.00%)" in message
    assert "'id': 's/2', 'value': 'zh'" in message
    assert "  - id is unique: 2 rows" in message
    report = json.loads(path.read_text())
    assert report["success"] is False
    between = next(e for e in report["expectations"] if e["column"] == "n_chars")
    assert between["unexpected_count"] == 2 and [x["id"] for x in between["examples"]] == ["s/2", "s/2"]
