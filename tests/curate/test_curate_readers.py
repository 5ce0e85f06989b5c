"""Readers: paths, WARC records (good, truncated, corrupt), JSONL lines, deterministic ids."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from curate_fixtures import WarcFiles, article_html, write_jsonl

from danlu.curate.document import Quarantined, RawDocument
from danlu.curate.readers import list_input_files, read_files
from danlu.errors import DataError


def read_all(*paths: Path, max_payload_bytes: int | None = None) -> list[RawDocument | Quarantined]:
    return list(read_files("src", list_input_files(paths), max_payload_bytes=max_payload_bytes))


def test_missing_path_error_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "crawl.warc.gz"
    with pytest.raises(DataError, match="nowhere/crawl.warc.gz"):
        list_input_files([missing])


def test_unsupported_file_and_empty_folder_are_errors(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="notes.txt: unsupported"):
        list_input_files([tmp_path / "notes.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: folder holds no input files"):
        list_input_files([tmp_path / "empty"])


def test_folder_lists_supported_files_sorted_once(tmp_path: Path) -> None:
    for name in ("b.jsonl", "a/c.warc.gz", "a.jsonl.gz", "skip.txt", ".hidden/d.jsonl"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    files = list_input_files([tmp_path, tmp_path / "b.jsonl"])
    assert [f.key for f in files] == [f"{tmp_path.name}/{k}" for k in ("a.jsonl.gz", "a/c.warc.gz", "b.jsonl")]
    assert [f.format for f in files] == ["jsonl", "warc", "jsonl"]


def test_warc_reads_responses_and_conversions_only(warc: WarcFiles) -> None:
    path = warc.write(
        "x.warc.gz",
        [
            warc.request("http://a.example/"),
            warc.response("<http://a.example/>", article_html("hello"), charset="iso-8859-1"),
            warc.conversion("http://b.example/", "plain text from a WET file"),
        ],
    )
    items = read_all(path)
    assert [type(i) for i in items] == [RawDocument, RawDocument]
    html, text = items
    assert (html.kind, html.url, html.charset) == ("response", "http://a.example/", "iso-8859-1")
    assert html.http_status == 200
    assert html.content_type == "text/html" and b"<p>hello</p>" in html.payload
    assert (text.kind, text.payload) == ("conversion", b"plain text from a WET file")
    assert html.provenance.file == str(path) and html.provenance.record.startswith("<urn:uuid:")


def test_chunked_and_gzip_bodies_are_decoded(warc: WarcFiles) -> None:
    html = article_html("compressed").encode()
    chunked = f"{len(html):x}\r\n".encode() + html + b"\r\n0\r\n\r\n"
    path = warc.write(
        "enc.warc",
        [
            warc.response("http://c.example/", chunked, headers={"Transfer-Encoding": "chunked"}),
            warc.response("http://g.example/", gzip.compress(html), headers={"Content-Encoding": "gzip"}),
            warc.response("http://bad.example/", b"not gzip", headers={"Content-Encoding": "gzip"}),
        ],
        compress=False,
    )
    first, second, third = read_all(path)
    assert first.payload == html and second.payload == html
    assert isinstance(third, Quarantined) and third.reason == "bad_http_encoding"


def test_truncated_gzip_keeps_earlier_records(warc: WarcFiles) -> None:
    records = [warc.response(f"http://t.example/{i}", article_html("x" * 500)) for i in range(3)]
    data = b"".join(gzip.compress(r, mtime=0) for r in records)
    path = warc.folder / "cut.warc.gz"
    path.write_bytes(data[:-60])
    items = read_all(path)
    assert [type(i) for i in items] == [RawDocument, RawDocument, Quarantined]
    assert items[2].reason == "truncated_record" and "file ends early" in items[2].detail


def test_a_member_cut_near_its_start_is_not_lost_silently(warc: WarcFiles) -> None:
    """FastWARC stops quietly when a gzip member is cut within its first bytes."""
    members = [gzip.compress(warc.response(f"http://c.example/{i}", article_html("z" * 500)),
                             mtime=0) for i in range(2)]
    path = warc.folder / "short.warc.gz"
    path.write_bytes(members[0] + members[1][:32])
    items = read_all(path)
    assert [type(i) for i in items] == [RawDocument, Quarantined]
    assert items[1].reason == "corrupt_file"
    assert f"gzip member at byte {len(members[0])} is truncated" in items[1].detail


def test_corrupt_gzip_quarantines_the_rest_of_the_file(warc: WarcFiles) -> None:
    records = [
        gzip.compress(warc.response(f"http://k.example/{i}", article_html("y" * 500)), mtime=0)
        for i in range(3)
    ]
    data = bytearray(b"".join(records))
    middle = len(records[0]) + len(records[1]) + 30
    data[middle : middle + 20] = bytes(20)
    path = warc.folder / "bad.warc.gz"
    path.write_bytes(bytes(data))
    garbage = warc.folder / "garbage.warc.gz"
    garbage.write_bytes(b"this is not a WARC file at all\n" * 5)
    items = read_all(path, garbage)
    assert [type(i) for i in items] == [RawDocument, RawDocument, Quarantined, Quarantined]
    assert all(i.reason == "corrupt_file" for i in items[2:])
    assert items[2].provenance.record == "(rest of file)" and "after 2 records" in items[2].detail
    assert items[3].provenance.file == str(garbage)


def test_oversized_response_is_quarantined_unread(warc: WarcFiles) -> None:
    path = warc.write("big.warc.gz", [warc.response("http://big.example/", article_html("z" * 5000))])
    (item,) = read_all(path, max_payload_bytes=1000)
    assert isinstance(item, Quarantined) and item.reason == "too_large"


def test_jsonl_bad_lines_are_quarantined_with_line_numbers(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl.gz",
        [
            {"text": "one", "url": "http://u/"},
            "{broken",
            "",
            "[1, 2]",
            {"text": 5},
            {"title": "t"},
            {"text": "six"},
        ],
    )
    items = read_all(path)
    kinds = [(i.provenance.record, i.reason if isinstance(i, Quarantined) else "ok") for i in items]
    assert kinds == [
        ("line 1", "ok"),
        ("line 2", "malformed_json"),
        ("line 4", "missing_text"),
        ("line 5", "missing_text"),
        ("line 6", "missing_text"),
        ("line 7", "ok"),
    ]
    assert items[0].url == "http://u/" and items[0].payload == "one"
    assert "no 'text' field" in items[4].detail


def test_truncated_jsonl_gzip_keeps_earlier_lines(tmp_path: Path) -> None:
    text = "".join(f'{{"text": "document number {i}"}}\n' for i in range(3000)).encode()
    path = tmp_path / "cut.jsonl.gz"
    compressed = gzip.compress(text, mtime=0)
    path.write_bytes(compressed[: len(compressed) // 2])
    items = read_all(path)
    assert len(items) > 100 and all(isinstance(i, RawDocument) for i in items[:-1])
    assert isinstance(items[-1], Quarantined) and items[-1].reason == "corrupt_file"


def test_ids_are_deterministic_unique_and_location_independent(tmp_path: Path) -> None:
    for folder in ("one", "two"):
        WarcFiles(tmp_path / folder / "crawl").write(
            "x.warc.gz", [WarcFiles(tmp_path).response(f"http://{i}.example/", "<p>a</p>") for i in range(5)]
        )
    ids_one = [i.id for i in read_all(tmp_path / "one" / "crawl")]
    ids_two = [i.id for i in read_all(tmp_path / "two" / "crawl")]
    assert ids_one == ids_two == [i.id for i in read_all(tmp_path / "one" / "crawl")]
    assert len(set(ids_one)) == 5 and all(i.startswith("src/") for i in ids_one)
