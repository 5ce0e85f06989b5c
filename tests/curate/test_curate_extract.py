"""Extraction: charset decoding (and how it was decided), refusals, main-content text."""

from __future__ import annotations

import pytest

from danlu.config import ExtractConfig
from danlu.curate.document import Document, Provenance, Quarantined, RawDocument
from danlu.curate.extract import decode, extract, is_html

CFG = ExtractConfig(engine="resiliparse", main_content=True, max_html_bytes=10_000)
JAPANESE = "<html><body><p>京都は日本の古い都です。</p></body></html>"


def raw(
    payload: bytes | str,
    *,
    kind: str = "response",
    content_type: str | None = "text/html",
    charset: str | None = None,
    status: int | None = 200,
) -> RawDocument:
    where = Provenance("f", "r", 0)
    return RawDocument("s/1", "s", "http://x/", kind, payload, content_type, charset, status, where)


@pytest.mark.parametrize(
    ("payload", "declared", "expected"),
    [
        (JAPANESE.encode("shift_jis"), "shift_jis", ("shift_jis", "header")),
        (b'<meta charset="windows-1251"><p>' + "Привет".encode("cp1251"), None, ("cp1251", "meta")),
        (
            b"<meta http-equiv='Content-Type' content='text/html; charset=gbk'><p>" + "中文".encode("gbk"),
            None,
            ("gbk", "meta"),
        ),
        ("<p>plain ascii and caf\u00e9</p>".encode(), None, ("utf-8", "detected")),
        ("<p>Привет, как дела? Всё хорошо.</p>".encode("koi8-r"), None, ("koi8-r", "detected")),
        (b"\xef\xbb\xbf<p>bom</p>", "latin-1", ("utf-8", "bom")),
    ],
)
def test_decode_records_which_rule_decided(
    payload: bytes, declared: str | None, expected: tuple[str, str]
) -> None:
    text, encoding, how = decode(payload, declared, sniff_meta=True)
    assert (encoding, how) == expected
    assert "\ufffd" not in text


def test_wrong_header_charset_falls_through_to_detection() -> None:
    text, _, how = decode(JAPANESE.encode("shift_jis"), "utf-8", sniff_meta=True)
    assert how == "detected" and "京都" in text


def test_undecodable_bytes_fall_back_with_replacement() -> None:
    text, encoding, how = decode(b"<p>ok \xff\xfe\xfa broken</p>", "utf-8", sniff_meta=True)
    assert how in ("detected", "fallback") and text.startswith("<p>ok")
    text, encoding, how = decode(b"abc \x80\x81", "utf-8", sniff_meta=False)
    assert isinstance(text, str)


def test_shift_jis_page_is_extracted_as_japanese() -> None:
    doc = extract(raw(JAPANESE.encode("shift_jis"), charset="shift_jis"), CFG)
    assert isinstance(doc, Document)
    assert doc.text == "京都は日本の古い都です。" and doc.encoding_source == "header"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (raw(b"\x89PNG\r\n\x1a\n...", content_type="image/png"), "not_html"),
        (raw(b"%PDF-1.7 ...", content_type="application/pdf"), "not_html"),
        (raw(b"<html>" + b"x" * 20_000 + b"</html>"), "too_large"),
        (raw(b"<html>moved</html>", status=301), "http_status"),
    ],
)
def test_refused_payloads_are_quarantined(item: RawDocument, reason: str) -> None:
    out = extract(item, CFG)
    assert isinstance(out, Quarantined) and out.reason == reason and out.id == item.id


def test_html_is_sniffed_only_without_a_useful_content_type() -> None:
    assert is_html(None, b"  <!DOCTYPE html><html></html>")
    assert is_html("application/octet-stream", b"<html><body>x</body></html>")
    assert not is_html(None, b"GIF89a....")
    assert not is_html("text/plain", b"<html></html>")


def test_wet_and_jsonl_text_skip_html_extraction() -> None:
    wet = extract(raw("line one\n<b>not markup</b>".encode(), kind="conversion", content_type="text/plain"), CFG)
    assert wet.text == "line one\n<b>not markup</b>"
    jsonl = extract(raw("lone \ud800 surrogate", kind="jsonl", content_type=None, status=None), CFG)
    assert jsonl.text == "lone ? surrogate" and jsonl.encoding_source == "fallback"


ARTICLE_PAGE = (
    "<html><head><title>Bees</title></head><body>"
    "<nav><a href='/'>Home</a> | <a href='/news'>News</a> | <a href='/about'>About us</a></nav>"
    "<main><article><h1>How bees find their way home</h1>"
    + "".join(f"<p>Paragraph {i}: honey bees use the position of the sun, polarised light and "
              f"landmarks to navigate between the hive and the flowers they visit each day.</p>"
              for i in range(6))
    + "</article></main><footer>Copyright 2024 Example Media. All rights reserved.</footer>"
    "</body></html>"
)


@pytest.mark.parametrize("engine", ["resiliparse", "danlu", "trafilatura"])
def test_every_engine_keeps_the_article_and_drop_the_navigation(engine: str) -> None:
    cfg = CFG.model_copy(update={"engine": engine})
    doc = extract(raw(ARTICLE_PAGE.encode()), cfg)
    assert isinstance(doc, Document)
    assert "Paragraph 5: honey bees use the position of the sun" in doc.text
    assert "About us" not in doc.text and "All rights reserved" not in doc.text


def test_trafilatura_without_main_text_gives_an_empty_document() -> None:
    cfg = CFG.model_copy(update={"engine": "trafilatura"})
    doc = extract(raw(b"<html><head><title>t</title></head><body><div></div></body></html>"), cfg)
    assert isinstance(doc, Document) and doc.text == ""
