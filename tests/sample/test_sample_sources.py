"""The pieces the sample is made of: doc text parsing, docstring summaries, CJK sources, output safety."""

from __future__ import annotations

import pytest

from danlu.errors import DataError
from danlu.sample.build import build_sample
from danlu.sample.cjk import cjk_texts
from danlu.sample.doc_blocks import Block, Doc, parse_doc_text, split_pages, without_seen_paragraphs
from danlu.sample.sources import signature_of, summary_of

TOPIC = '''The "demo" statement
********************

A demo statement shows
how paragraphs are joined:

   demo_stmt ::= "demo" expression

Details
=======

* first item
  continues here

* second item

Example:

   >>> demo(1)
   1

   >>> demo(2)
   2
'''


def test_pydoc_text_becomes_headings_paragraphs_lists_and_code():
    blocks = parse_doc_text(TOPIC)
    assert [b.kind for b in blocks] == ["h1", "p", "pre", "h2", "li", "li", "p", "pre"]
    assert blocks[1].text == "A demo statement shows how paragraphs are joined:"
    assert blocks[4].text == "first item continues here"
    assert blocks[7].text == ">>> demo(1)\n1\n\n>>> demo(2)\n2"


def test_paragraphs_seen_elsewhere_are_dropped_once_used():
    long = "x" * 100
    doc = Doc("k", "T", (Block("h2", "Head"), Block("p", long), Block("p", "short"), Block("h2", "Tail")))
    seen: set[str] = set()
    assert [b.kind for b in without_seen_paragraphs(doc, seen).blocks] == ["h2", "p", "p"]
    assert [b.text for b in without_seen_paragraphs(doc, seen).blocks] == ["Head", "short"]


def test_long_docs_split_into_titled_parts():
    doc = Doc("topic:t", "Title", tuple(Block("p", f"{i} " + "word " * 100) for i in range(10)))
    pages = split_pages(doc, target_chars=1200, min_chars=400)
    assert len(pages) > 1 and pages[0].title == "Title" and pages[1].title == "Title (part 2)"
    assert [b for page in pages for b in page.blocks] == list(doc.blocks)
    assert all(page.body_chars() >= 400 for page in pages)


def test_summaries_skip_signature_lines_and_fit_400_chars():
    assert summary_of("f(x) -> int\n\nReturn x as an integer.\n\nMore text.") == "Return x as an integer."
    assert summary_of("[sep] -> string in ISO format.") is None
    long = " ".join(f"Sentence number {i} is here." for i in range(40))
    summary = summary_of(long)
    assert summary and len(summary) <= 400 and summary.endswith(".")


def test_signatures_with_run_specific_defaults_are_left_out():
    def uses_path(executable="/usr/bin/python3"):
        pass

    def plain(a, b=2):
        pass

    assert signature_of(uses_path) is None
    assert signature_of(plain) == "(a, b=2)"


def test_missing_cjk_texts_are_a_data_error(tmp_path):
    with pytest.raises(DataError, match="gb2312-utf8.txt"):
        cjk_texts(tmp_path)


def test_build_refuses_to_replace_a_folder_that_is_not_a_sample(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(DataError, match="refusing"):
        build_sample(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "precious"
