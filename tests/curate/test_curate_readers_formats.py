"""More input formats: JSONL with zstd, Parquet by batches, LF-only WET (.warc.txt)."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from curate_fixtures import WarcFiles

from danlu.curate.document import Quarantined, RawDocument
from danlu.curate.readers import SUPPORTED_SUFFIXES, list_input_files, read_files
from danlu.errors import DataError

LINES = [{"text": f"document number {i}", "url": f"http://d.example/{i}"} for i in range(3000)]


def read_all(*paths: Path) -> list[RawDocument | Quarantined]:
    return list(read_files("src", list_input_files(paths), max_payload_bytes=None))


def jsonl_bytes(lines: list[dict]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def write_zstd(path: Path, data: bytes) -> Path:
    with pa.CompressedOutputStream(str(path), "zstd") as out:
        out.write(data)
    return path


def write_parquet(path: Path, columns: dict, row_group_size: int) -> Path:
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path


def summary(items: list) -> list[tuple]:
    return [(i.id, i.provenance.record, i.provenance.offset, i.url, i.payload) for i in items]


def test_jsonl_plain_gzip_and_zstd_give_the_same_documents_and_ids(tmp_path: Path) -> None:
    data = jsonl_bytes(LINES)
    runs = []
    for name in ("plain.jsonl", "gzip.jsonl.gz", "zstd.jsonl.zst", "zstd2.jsonl.zstd"):
        folder = tmp_path / name.split(".")[0] / "docs"
        folder.mkdir(parents=True)
        path = folder / "d.jsonl"  # one key for all four, so ids can match
        if name.endswith(".gz"):
            path = path.with_name("d.jsonl.gz")
            path.write_bytes(gzip.compress(data, mtime=0))
        elif name.endswith((".zst", ".zstd")):
            path = write_zstd(path.with_name("d" + name[name.index("."):]), data)
        else:
            path.write_bytes(data)
        runs.append(read_all(path))
    assert all(isinstance(i, RawDocument) for run in runs for i in run)
    payloads = [[(i.provenance.record, i.provenance.offset, i.url, i.payload) for i in run] for run in runs]
    assert payloads[0] == payloads[1] == payloads[2] == payloads[3]
    assert len(payloads[0]) == 3000 and payloads[0][5] == ("line 6", payloads[0][5][1], "http://d.example/5", "document number 5")
    # The id hashes the file key, so files that differ only in their compression suffix differ;
    # the same file name reads to the same ids whatever folder holds it.
    assert [i.id for i in runs[2]] == [i.id for i in read_all(tmp_path / "zstd" / "docs" / "d.jsonl.zst")]
    assert len({i.id for i in runs[2]}) == 3000


def test_truncated_zstd_keeps_earlier_lines_and_quarantines_the_rest(tmp_path: Path) -> None:
    # The codec decompresses in blocks, so the file must span several for any line to come out.
    lines = [{"text": f"document {i} " + hashlib.sha1(str(i).encode()).hexdigest()} for i in range(30000)]
    whole = write_zstd(tmp_path / "whole.jsonl.zst", jsonl_bytes(lines)).read_bytes()
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(whole[: len(whole) // 2])
    items = read_all(path)
    assert len(items) > 100 and all(isinstance(i, RawDocument) for i in items[:-1])
    assert [i.payload for i in items[:-1]] == [line["text"] for line in lines[: len(items) - 1]]
    last = items[-1]
    assert isinstance(last, Quarantined) and last.reason == "corrupt_file"
    assert last.provenance.record == "(rest of file)" and f"after {len(items) - 1} records" in last.detail


def test_not_zstd_at_all_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "fake.jsonl.zst"
    path.write_bytes(b'{"text": "plain, not compressed"}\n')
    (item,) = read_all(path)
    assert isinstance(item, Quarantined) and item.reason == "corrupt_file"


def test_parquet_row_groups_in_order_with_provenance(tmp_path: Path) -> None:
    n = 2500  # more rows than one batch, in several row groups
    path = write_parquet(
        tmp_path / "d.parquet",
        {"text": [f"row text {i}" for i in range(n)], "url": [f"http://p.example/{i}" for i in range(n)],
         "id": [f"doc-{i}" for i in range(n)], "extra": list(range(n))},
        row_group_size=700,
    )
    assert pq.ParquetFile(path).num_row_groups == 4
    items = read_all(path)
    assert [i.payload for i in items] == [f"row text {i}" for i in range(n)]
    first, last = items[0], items[-1]
    assert (first.kind, first.url, first.provenance.file) == ("jsonl", "http://p.example/0", str(path))
    assert (first.provenance.record, first.provenance.offset) == ("row 0 (id doc-0)", 0)
    assert (last.provenance.record, last.provenance.offset) == (f"row {n - 1} (id doc-{n - 1})", n - 1)
    assert len({i.id for i in items}) == n
    assert summary(items) == summary(read_all(path))


def test_parquet_without_optional_columns(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "t.parquet", {"text": ["a", "b"]}, row_group_size=1)
    items = read_all(path)
    assert [(i.provenance.record, i.url, i.payload) for i in items] == [("row 0", None, "a"), ("row 1", None, "b")]


def test_parquet_without_text_column_is_quarantined_naming_it(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "no-text.parquet", {"body": ["x"], "url": ["u"]}, row_group_size=1)
    (item,) = read_all(path)
    assert isinstance(item, Quarantined) and item.reason == "missing_text_column"
    assert "no 'text' column" in item.detail and "body" in item.detail and str(path) in item.detail


def test_dolmas_json_gz_documents_are_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "000.json.gz"
    with gzip.open(path, "wt") as fh:
        fh.write('{"id": "a", "text": "one"}\n{"id": "b", "text": "two"}\n')
    assert [i.payload for i in read_all(path)] == ["one", "two"]


def test_parquet_null_text_row_is_quarantined(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "nulls.parquet", {"text": ["a", None, "c"]}, row_group_size=2)
    items = read_all(path)
    assert [type(i) for i in items] == [RawDocument, Quarantined, RawDocument]
    assert items[1].reason == "missing_text" and items[1].provenance.record == "row 1"
    assert "null" in items[1].detail


def test_parquet_non_string_text_is_quarantined_per_row(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "ints.parquet", {"text": [1, 2]}, row_group_size=1)
    assert [i.reason for i in read_all(path)] == ["missing_text", "missing_text"]


def test_corrupt_parquet_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet at all")
    (item,) = read_all(path)
    assert isinstance(item, Quarantined) and item.reason == "corrupt_file"


LF_WET = (
    "WARC/1.0\nWARC-Type: warcinfo\nContent-Type: application/warc-fields\nContent-Length: 9\n\n"
    "isPartOf:\n\n"
    "WARC/1.0\nWARC-Type: conversion\nWARC-Target-URI: http://one.example\n"
    "WARC-Record-ID: <urn:uuid:1>\nContent-Type: text/plain\nContent-Length: {n1}\n\n{t1}\n\n"
    "WARC/1.0\nWARC-Type: conversion\nWARC-Target-URI: http://two.example\n"
    "WARC-Record-ID: <urn:uuid:2>\nContent-Type: text/plain\nContent-Length: {n2}\n\n{t2}\n\n"
)


def test_lf_only_wet_text_is_read(tmp_path: Path) -> None:
    t1, t2 = "first text\nsecond line", "another page"
    path = tmp_path / "sample.warc.txt"
    path.write_text(LF_WET.format(n1=len(t1), t1=t1, n2=len(t2), t2=t2))
    items = read_all(path)
    assert [(i.kind, i.url, i.payload) for i in items] == [
        ("conversion", "http://one.example", t1.encode()), ("conversion", "http://two.example", t2.encode())
    ]


@pytest.mark.parametrize("wrong", [-3, +5, -len("first text")])
def test_lf_only_records_are_read_whole_whatever_their_content_length(tmp_path: Path,
                                                                      wrong: int) -> None:
    """Such files were rewritten line by line: their lengths count CRLFs or characters. The
    record boundaries say where a text ends, as cc_net reads them."""
    t1, t2 = "first text\n\nafter a blank line", "another page"
    path = tmp_path / "sample.warc.txt"
    path.write_text(LF_WET.format(n1=len(t1) + wrong, t1=t1, n2=len(t2), t2=t2))
    assert [i.payload for i in read_all(path)] == [t1.encode(), t2.encode()]


def test_lf_only_responses_are_read_with_their_http_headers(tmp_path: Path) -> None:
    html = "<html><body><p>Caf\u00e9 ol\u00e9</p></body></html>"
    body = html.encode("latin-1")
    path = tmp_path / "responses.warc"
    path.write_bytes(
        b"WARC/1.0\nWARC-Type: response\nWARC-Target-URI: <http://r.example/>\n"
        b"WARC-Record-ID: <urn:uuid:9>\nContent-Length: 1\n\n"
        b"HTTP/1.1 200 OK\nContent-Type: text/html; charset=ISO-8859-1\n\n" + body + b"\n\n"
        b"WARC/1.0\nWARC-Type: response\nWARC-Record-ID: <urn:uuid:10>\n\nnot http\n\n")
    ok, bad = read_all(path)
    assert (ok.url, ok.payload, ok.content_type, ok.charset, ok.http_status) == (
        "http://r.example/", body, "text/html", "ISO-8859-1", 200)
    assert isinstance(bad, Quarantined) and bad.reason == "not_http"


def test_crlf_wet_conversions_read_in_every_suffix(tmp_path: Path) -> None:
    warc = WarcFiles(tmp_path)
    records = [warc.conversion(f"http://w.example/{i}", f"text {i}") for i in range(3)]
    for name, compress in (("a.warc.wet.gz", True), ("b.wet.gz", True), ("c.wet", False), ("d.warc.txt", False)):
        path = warc.write(name, records, compress=compress)
        assert [i.payload for i in read_all(path)] == [b"text 0", b"text 1", b"text 2"], name


def test_unsupported_files_skipped_with_warning_or_rejected(tmp_path: Path, caplog) -> None:
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "notes.csv").write_text("x")
    with caplog.at_level(logging.WARNING):
        files = list_input_files([tmp_path])
    assert [f.format for f in files] == ["jsonl"]
    assert "notes.csv: unsupported input file skipped" in caplog.text
    with pytest.raises(DataError, match=r"notes\.csv: unsupported input file; expected one of .*\.parquet"):
        list_input_files([tmp_path / "notes.csv"])
    assert {".jsonl.zst", ".parquet", ".warc.txt", ".wet.gz"} <= set(SUPPORTED_SUFFIXES)


def test_real_wet_sample_and_cc_jsonl(shared_data: Path) -> None:
    wet = shared_data / "ccnet-wet-sample"
    head = shared_data / "dolma-test-samples" / "cc_en_head"
    items = read_all(wet, head)
    wet_items = [i for i in items if i.provenance.file.endswith(".warc.txt")]
    # 3 hand-made conversion records whose Content-Lengths count characters, not bytes (one
    # is short of its text, which FastWARC's lenient mode skipped): every one is read whole
    assert len(wet_items) == 3 and all(isinstance(i, RawDocument) for i in wet_items)
    docs = wet_items
    assert [d.url for d in docs] == ["http://sample_english.com", "http://sample_chinese.zh",
                                     "http://sample_russian.ru"]
    assert all(d.kind == "conversion" for d in docs)
    assert docs[0].payload.endswith(b"Truth isn't.")
    assert [len(d.payload.decode()) for d in docs[1:]] == [108, 355]  # its 109 and 355 chars
    jsonl_items = [i for i in items if i not in wet_items]
    assert len(jsonl_items) == 20 and all(isinstance(i, RawDocument) for i in jsonl_items)
    assert summary(docs + jsonl_items) == summary([i for i in read_all(wet, head) if isinstance(i, RawDocument)])


def test_saved_datasets_dataset_is_read_split_by_split(tmp_path: Path) -> None:
    import datasets

    from danlu.curate.readers import list_input_files, read_files

    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": ["alpha text", None, "gamma text"],
                                             "url": ["http://a/", None, "http://c/"]}),
        "test": datasets.Dataset.from_dict({"text": ["delta text"], "url": [None]}),
    })
    dd.save_to_disk(str(tmp_path / "saved"))
    files = list_input_files([tmp_path / "saved"])
    assert [f.format for f in files] == ["hf_dataset"]
    items = list(read_files("web", files, max_payload_bytes=None))
    assert [type(i).__name__ for i in items] == ["RawDocument", "RawDocument", "Quarantined", "RawDocument"]
    assert [i.provenance.record for i in items] == ["test row 0", "train row 0", "train row 1", "train row 2"]
    assert items[1].payload == "alpha text" and items[1].url == "http://a/"
    assert items[2].reason == "missing_text" and "null" in items[2].detail
    assert len({i.id for i in items}) == 4


def test_saved_dataset_curates_like_any_input(tmp_path: Path, curate_cfg) -> None:
    import datasets

    from danlu.curate.run import curate

    prose = ("The committee met on Tuesday to discuss the new library, which will open in the "
             "spring. Members agreed that the reading room should stay open late on weekdays, "
             "and that the children's section needs more books about science and history. ")
    texts = [f"Report {i}. " + prose * 3 for i in range(4)]
    datasets.Dataset.from_dict({"text": texts}).save_to_disk(str(tmp_path / "ds"))
    result = curate(curate_cfg, {"web": [tmp_path / "ds"]}, tmp_path / "out")
    assert result.stats["documents_in"] == 4 and result.stats["kept"] >= 1


def test_hub_name_without_network_is_quarantined_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from danlu.curate.readers import list_input_files, read_files

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    files = list_input_files([Path("hf://datasets/nobody/no-such-dataset")])
    assert [(f.format, f.key) for f in files] == [("hf_hub", "hf://datasets/nobody/no-such-dataset")]
    items = list(read_files("hub", files, max_payload_bytes=None))
    assert len(items) == 1 and items[0].reason == "unreadable_dataset"
    assert "nobody/no-such-dataset" in items[0].detail
