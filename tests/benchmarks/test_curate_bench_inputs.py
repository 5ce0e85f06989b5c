"""The curate benchmark's input builder, on the first pages of trafilatura-eval."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from danlu.curate.document import RawDocument
from danlu.curate.readers import list_input_files, read_files

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_inputs import build_inputs, eval_pages  # noqa: E402

PAGES = 7


@pytest.fixture(scope="module")
def built(shared_data, tmp_path_factory):
    return build_inputs(tmp_path_factory.mktemp("bench") / "in", shared_data, limit=PAGES,
                        pages_per_file=3, with_crawl=False)


def test_one_record_per_page_readable_by_our_reader(built, shared_data):
    assert [p.name for p in built.files] == [f"trafilatura-eval-00{i}.warc.gz" for i in range(3)]
    items = list(read_files("bench", list_input_files([built.folder]), max_payload_bytes=None))
    assert len(items) == built.records == PAGES
    assert all(isinstance(item, RawDocument) and item.http_status == 200 for item in items)
    pages = eval_pages(shared_data, PAGES)
    assert [item.url for item in items] == [url for url, _ in pages]
    assert [item.payload for item in items] == [body for _, body in pages]
    assert built.html_bytes == sum(len(body) for _, body in pages)


def test_same_arguments_same_bytes(built, shared_data, tmp_path):
    again = build_inputs(tmp_path / "again", shared_data, limit=PAGES, pages_per_file=3,
                         with_crawl=False)
    assert [p.read_bytes() for p in again.files] == [p.read_bytes() for p in built.files]


def test_crawl_files_are_copied_and_counted(shared_data, tmp_path):
    built = build_inputs(tmp_path / "in", shared_data, limit=1)
    assert len(built.files) == 4
    items = list(read_files("bench", list_input_files([built.folder]), max_payload_bytes=None))
    assert len(items) == built.records == 1 + built.crawl_records
    assert built.crawl_records == 16 + 22 + 15  # response records, per shared/data/README.md
