"""The sample crawl: valid WARC/1.1 that FastWARC reads, and ground truth that matches what is in it."""

from __future__ import annotations

import gzip
import re
import zlib
from collections import Counter, defaultdict
from itertools import combinations

import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType
from sample_reading import article_text, declared_charset, page_html

# Shares of response records the brief asks for; each kind must land within half to 1.5 times it.
TARGET_SHARES = {
    "article": 0.55, "boilerplate": 0.08, "exact_duplicate": 0.08, "near_duplicate": 0.08,
    "spam": 0.06, "non_english": 0.08, "non_html": 0.015,
}  # fmt: skip
NATIVE_CHARSETS = {"gb2312", "gbk", "gb18030", "big5", "shift_jis", "euc-jp", "euc-kr"}


def gzip_members(data: bytes) -> list[bytes]:
    members = []
    while data:
        inflater = zlib.decompressobj(wbits=31)
        members.append(inflater.decompress(data))
        assert inflater.eof, "a gzip member is truncated"
        data = inflater.unused_data
    return members


def test_every_record_is_its_own_gzip_member_with_exact_lengths(built_sample):
    for name, counts in built_sample.manifest["counts"]["crawl_files"].items():
        members = gzip_members((built_sample.root / name).read_bytes())
        assert len(members) == counts["records"]
        assert b"WARC-Type: warcinfo" in members[0].split(b"\r\n\r\n", 1)[0]
        for record in members:
            head, rest = record.split(b"\r\n\r\n", 1)
            assert head.startswith(b"WARC/1.1\r\n")
            length = int(re.search(rb"\r\nContent-Length: (\d+)", head).group(1))
            assert len(rest) == length + 4 and rest.endswith(b"\r\n\r\n")
            if b"msgtype=response" in head:
                http_head, payload = rest[:length].split(b"\r\n\r\n", 1)
                assert http_head.startswith(b"HTTP/1.1 200 OK")
                assert int(re.search(rb"Content-Length: (\d+)", http_head).group(1)) == len(payload)


def test_fastwarc_reads_every_file_with_valid_digests(built_sample, responses, truth):
    for name, counts in built_sample.manifest["counts"]["crawl_files"].items():
        with open(built_sample.root / name, "rb") as fh:
            records = []
            for record in ArchiveIterator(fh, parse_http=False):
                assert record.verify_block_digest(), (name, record.record_id)
                records.append(record.record_type)
        assert len(records) == counts["records"]
        assert records[0] == WarcRecordType.warcinfo
        assert records.count(WarcRecordType.response) == counts["responses"]
    assert set(responses) == set(truth)
    for url, response in responses.items():
        assert response.record_id == truth[url]["record_id"]
        assert response.file == truth[url]["file"]


def test_kinds_come_in_sensible_proportions(built_sample, truth):
    kinds = Counter(row["kind"] for row in truth.values())
    assert kinds == built_sample.manifest["counts"]["kinds"]
    assert 400 <= len(truth) <= 700
    for kind, share in TARGET_SHARES.items():
        assert 0.5 * share <= kinds[kind] / len(truth) <= 1.5 * share, kind


def test_duplicates_come_after_the_article_they_copy(built_sample, responses, truth):
    order = {row["url"]: i for i, row in enumerate(built_sample.manifest["crawl_truth"])}
    for url, row in truth.items():
        if row["kind"] not in ("exact_duplicate", "near_duplicate"):
            assert row["duplicate_of"] is None
            continue
        original = row["duplicate_of"]
        assert truth[original]["kind"] == "article"
        assert order[original] < order[url]
        if row["kind"] == "exact_duplicate":
            assert responses[url].payload == responses[original].payload


def shingles(text: str, size: int = 5) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i : i + size]) for i in range(max(1, len(words) - size + 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def test_near_duplicates_are_near_but_not_exact(responses, truth):
    """Close enough for MinHash dedup at the usual thresholds (word 5-gram Jaccard about 0.8)."""
    similarities = []
    for url, row in truth.items():
        if row["kind"] == "near_duplicate":
            copy, original = (article_text(page_html(responses[u])) for u in (url, row["duplicate_of"]))
            assert copy != original
            similarities.append(jaccard(shingles(copy), shingles(original)))
    assert min(similarities) >= 0.7 and sorted(similarities)[len(similarities) // 2] >= 0.8


def test_articles_are_not_unlabelled_duplicates_of_each_other(responses, truth):
    texts = {u: shingles(article_text(page_html(responses[u]))) for u, row in truth.items() if row["kind"] == "article"}
    assert len({frozenset(s) for s in texts.values()}) == len(texts)
    holders = defaultdict(list)
    for url, grams in texts.items():
        for gram in grams:
            holders[gram].append(url)
    shared = Counter(pair for urls in holders.values() if len(urls) <= 30 for pair in combinations(sorted(urls), 2))
    for (a, b), common in shared.items():
        assert common / min(len(texts[a]), len(texts[b])) < 0.5, (a, b)


def test_non_english_pages_decode_only_with_their_declared_charset(responses, truth):
    charsets, languages, meta_only = Counter(), Counter(), 0
    for url, row in truth.items():
        if row["kind"] != "non_english":
            continue
        response = responses[url]
        charset = declared_charset(response)
        assert charset, url
        text = article_text(response.payload.decode(charset))
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]", text), url
        charsets[charset.lower()] += 1
        languages[row["language"]] += 1
        meta_only += response.http_charset is None
    assert set(languages) == {"zh", "ja", "ko"}
    assert NATIVE_CHARSETS <= set(charsets) and charsets["utf-8"] > 0
    assert meta_only > 0
    native = [
        r.payload
        for u, r in responses.items()
        if truth[u]["kind"] == "non_english" and declared_charset(r).lower() != "utf-8"
    ]
    assert native and not any(is_utf8(payload) for payload in native)


def is_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_non_html_payloads_are_real_files(responses, truth):
    types = Counter()
    for url, row in truth.items():
        if row["kind"] == "non_html":
            response = responses[url]
            types[response.http_content_type] += 1
            assert row["language"] is None
            if response.http_content_type == "image/png":
                assert response.payload.startswith(b"\x89PNG\r\n\x1a\n")
                assert response.payload.endswith(b"IEND\xaeB`\x82")
            else:
                assert response.http_content_type == "application/pdf"
                assert response.payload.startswith(b"%PDF-1.4") and response.payload.rstrip().endswith(b"%%EOF")
    assert set(types) == {"image/png", "application/pdf"}


def test_english_pages_are_utf8_html_with_boilerplate(responses, truth):
    for url, row in truth.items():
        if row["language"] == "en":
            markup = page_html(responses[url])
            assert responses[url].http_content_type == "text/html"
            assert "<nav>" in markup or 'class="menu"' in markup
            assert 'class="cookie"' in markup and "<footer>" in markup


def test_corrupt_file_reads_one_record_then_fails(built_sample):
    (corrupt,) = built_sample.manifest["corrupt_files"]
    path = built_sample.root / corrupt["file"]
    with open(path, "rb") as fh:
        records = [record.record_type for record in ArchiveIterator(fh)]
    assert records == [WarcRecordType.warcinfo] == records[: corrupt["readable_records"]]
    with pytest.raises(EOFError):
        gzip.decompress(path.read_bytes())
    assert corrupt["file"] not in built_sample.manifest["counts"]["crawl_files"]
