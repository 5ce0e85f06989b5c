"""The gate on every curate output: small outputs written with pyarrow, one broken thing each."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from danlu.config import ValidationConfig
from danlu.errors import ValidationFailed
from danlu.validate.curate_outputs import validate_curate_outputs
from danlu.validate.suites import DOCUMENT_COLUMNS, DROPPED_COLUMNS

CFG = ValidationConfig(min_chars=20, max_chars=1000, data_docs=True)
LANGUAGES = ["en", "de"]
DROP_REASONS = ["language", "gopher_quality", "exact_dedup"]
N = 6


def documents() -> dict[str, list]:
    texts = [f"document number {i} has enough words to pass. " * 2 for i in range(N)]
    return {
        "id": [f"web/{i}" for i in range(N)],
        "text": texts,
        "source": ["web"] * N,
        "url": [f"https://example.com/{i}" for i in range(N)],
        "language": [LANGUAGES[i % 2] for i in range(N)],
        "language_score": [0.9] * N,
        "quality_score": [0.5 if i % 2 else None for i in range(N)],
        "n_chars": [len(t) for t in texts],
        "n_words": [len(t.split()) for t in texts],
        "file": ["crawl.warc.gz"] * N,
        "record": [f"r{i}" for i in range(N)],
        "offset": [100 * i for i in range(N)],
        "encoding": ["utf-8"] * N,
        "encoding_source": ["http"] * N,
        "text_hash": [hashlib.blake2b(t.encode(), digest_size=16).digest() for t in texts],
    }


def dropped() -> dict[str, list]:
    return {
        "id": ["web/d0", "web/d1", "web/d2"],
        "source": ["web"] * 3,
        "url": [None, "https://example.com/d1", "https://example.com/d2"],
        "reason": ["language", "gopher_quality", "exact_dedup"],
        "detail": ["zh", "too few words", "same as web/0"],
        "n_bytes": [0, 120, 95],
    }


def quarantine() -> list[dict]:
    fields = {"source": "web", "file": "crawl.warc.gz", "detail": "undecodable"}
    return [
        {"id": f"web/q{i}", "record": f"r{i}", "reason": "encoding", **fields} for i in range(2)
    ]


def write_outputs(out: Path, docs: dict, drops: dict, quarantined: list[dict]) -> Path:
    for folder, columns, types in (
        ("documents", docs, {**DOCUMENT_COLUMNS, "text_hash": pa.binary(16)}),  # as curate writes
        ("dropped", drops, DROPPED_COLUMNS),
    ):
        (out / folder).mkdir(parents=True)
        table = pa.table(columns, schema=pa.schema([(name, types[name]) for name in columns]))
        # Row groups of 2 rows: the text-null check must look at each group's statistics.
        pq.write_table(table, out / folder / "part-00000.parquet", row_group_size=2)
    (out / "quarantine").mkdir()
    lines = "".join(json.dumps(row) + "\n" for row in quarantined)
    (out / "quarantine" / "quarantine.jsonl").write_text(lines)
    return out


def validate(out: Path, data_docs: Path | None = None) -> dict:
    return validate_curate_outputs(
        out,
        CFG,
        LANGUAGES,
        DROP_REASONS,
        quality_enabled=True,
        exact_dedup=True,
        report_path=out / "validation.json",
        data_docs_dir=data_docs,
    )


def test_good_outputs_pass_and_data_docs_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # GE must leave no gx/ folder behind
    out = write_outputs(tmp_path / "out", documents(), dropped(), quarantine())
    docs = tmp_path / "out" / "data_docs"
    report = validate(out, docs)
    assert report["success"] is True
    assert json.loads((out / "validation.json").read_text()) == report
    assert [(s["suite"], s["rows"]) for s in report["suites"]] == [
        ("curated_documents", N),
        ("dropped_documents", 3),
        ("quarantine", 2),
    ]
    descriptions = {e["description"] for s in report["suites"] for e in s["expectations"]}
    assert "text_hash is unique (no exact duplicates after dedup)" in descriptions
    assert {"text is not null", "n_bytes >= 0", "reason is not null"} <= descriptions
    assert report["data_docs"] == "data_docs/index.html"  # relative to validation.json
    index = (docs / "index.html").read_text()
    pages = sorted(p.relative_to(docs).parts[:2] for p in docs.glob("validations/**/*.html"))
    suites = ("curated_documents", "dropped_documents", "quarantine")
    assert [p[1] for p in pages] == sorted(s + end for s in suites for end in ("", "_schema"))
    assert "curated_documents" in index and "Great Expectations" in index
    assert not list(tmp_path.glob("**/gx")) and not list(tmp_path.glob("**/great_expectations.yml"))


def test_an_empty_quarantine_log_passes_and_no_docs_are_asked_for(tmp_path: Path) -> None:
    out = write_outputs(tmp_path / "out", documents(), dropped(), [])
    report = validate(out)
    assert report["success"] is True and report["data_docs"] is None
    assert report["suites"][2]["rows"] == 0
    assert not (out / "data_docs").exists()


def _set(column: str, row: int, value: object) -> Callable[[dict], None]:
    def change(table: dict) -> None:
        table[column][row] = value

    return change


def _duplicate_hash(docs: dict) -> None:
    docs["text_hash"][3] = docs["text_hash"][2]


def _drop_column(docs: dict) -> None:
    del docs["language_score"]


def _null_quarantine_reason(rows: list[dict]) -> None:
    rows[1]["reason"] = None


# case: (which output, how it breaks, the suite and expectation that must fail, an id shown)
CASES = {
    "duplicate text_hash": (
        "docs", _duplicate_hash, "curated_documents", "text_hash is unique", "web/3"
    ),
    "quality_score 1.5": (
        "docs", _set("quality_score", 1, 1.5), "curated_documents", "quality_score in [0, 1]", "web/1"
    ),
    "language not kept": (
        "docs", _set("language", 4, "zh"), "curated_documents", "language in keep=", "web/4"
    ),
    "null text": ("docs", _set("text", 2, None), "curated_documents", "text is not null", "web/2"),
    "short text": ("docs", _set("n_chars", 5, 3), "curated_documents", "n_chars between", "web/5"),
    "missing column": (
        "docs", _drop_column, "curated_documents", "has the 15 expected columns", "language_score"
    ),
    "unknown drop reason": (
        "drops", _set("reason", 1, "mystery"), "dropped_documents", "reason is a filter", "web/d1"
    ),
    "negative n_bytes": (
        "drops", _set("n_bytes", 2, -1), "dropped_documents", "n_bytes >= 0", "web/d2"
    ),
    "quarantine null reason": (
        "quarantine", _null_quarantine_reason, "quarantine", "reason is not null", "web/q1"
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_each_broken_output_fails_naming_suite_expectation_and_example(
    tmp_path: Path, case: str
) -> None:
    target, breaks, suite, expectation, example = CASES[case]
    tables = {"docs": documents(), "drops": dropped(), "quarantine": quarantine()}
    breaks(tables[target])
    out = write_outputs(tmp_path / "out", tables["docs"], tables["drops"], tables["quarantine"])
    with pytest.raises(ValidationFailed) as caught:
        validate(out)
    message = str(caught.value)
    lines = message.splitlines()
    assert lines[0] == f"1 of 3 suites failed: {suite} (report: {out / 'validation.json'})"
    assert lines[1].startswith(f"{suite}: 1 of ")
    assert lines[2].startswith(f"  - {expectation}")
    assert example in message
    assert caught.value.report_path == str(out / "validation.json")
    report = json.loads((out / "validation.json").read_text())
    assert report["success"] is False
    assert [s["suite"] for s in report["suites"] if not s["success"]] == [suite]


def test_a_failed_gate_still_writes_data_docs(tmp_path: Path) -> None:
    docs = documents()
    docs["quality_score"] = [None] * N  # quality is enabled, yet nothing was scored
    out = write_outputs(tmp_path / "out", docs, dropped(), quarantine())
    with pytest.raises(ValidationFailed, match="some documents have a quality_score") as caught:
        validate(out, tmp_path / "docs")
    assert f"Data Docs: {tmp_path / 'docs' / 'index.html'}" in str(caught.value)
    assert (tmp_path / "docs" / "index.html").is_file()


def test_a_column_of_the_wrong_type_fails_the_schema(tmp_path: Path) -> None:
    out = write_outputs(tmp_path / "out", documents(), dropped(), quarantine())
    part = out / "documents" / "part-00000.parquet"
    table = pq.read_table(part)
    at = table.schema.get_field_index("n_chars")
    pq.write_table(table.set_column(at, "n_chars", table.column(at).cast(pa.float64())), part)
    with pytest.raises(ValidationFailed, match=r"  - n_chars is int64: observed 'double\[pyarrow\]'"):
        validate(out)


def test_parts_are_read_together_and_a_duplicate_id_across_parts_fails(tmp_path: Path) -> None:
    out = write_outputs(tmp_path / "out", documents(), dropped(), quarantine())
    part = out / "documents" / "part-00000.parquet"
    table = pq.read_table(part)
    second = table.slice(4).set_column(0, "id", pa.array(["web/0", "web/9"]))
    second = second.set_column(
        table.schema.get_field_index("text_hash"),
        "text_hash",
        pa.array([b"x" * 16, b"y" * 16], pa.binary(16)),
    )
    pq.write_table(table.slice(0, 4), part)
    pq.write_table(second, out / "documents" / "part-00001.parquet")
    with pytest.raises(ValidationFailed, match="id is unique: 2 rows") as caught:
        validate(out)
    assert "'id': 'web/0'" in str(caught.value)
    report = json.loads((out / "validation.json").read_text())
    assert report["suites"][0]["rows"] == N


def test_warm_up_validates_a_small_frame_in_the_main_thread_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from danlu.validate import runner

    calls = []
    real = runner.run_suites

    def spy(batches, data_docs_dir=None):
        reports = real(batches, data_docs_dir)
        calls.append((batches[0].name, data_docs_dir, (data_docs_dir / "index.html").is_file(),
                      reports[0]["success"]))
        return reports

    monkeypatch.setattr(runner, "run_suites", spy)
    runner.warm_up()
    [(name, docs, built, success)] = calls
    assert name == "warm_up" and built and success
    assert not docs.parent.exists()  # the temporary folder is gone
    calls.clear()
    thread = threading.Thread(target=runner.warm_up)
    thread.start()
    thread.join()
    assert calls == []  # another thread only imports
