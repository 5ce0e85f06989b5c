"""Write the planned pages as WARC files, plus one deliberately corrupt file, and return the ground truth."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

from danlu.sample import warc_writer
from danlu.sample.crawl_plan import Page

CRAWL_FILES = 4
CORRUPT_FILE = "crawl-00009.warc.gz"
CRAWL_START = datetime(2024, 3, 4, 8, 0, 0, tzinfo=timezone.utc)
SECONDS_BETWEEN_FETCHES = 7
# The corrupt file keeps this much of its second gzip member: the gzip header and a few bytes
# that inflate to nothing. FastWARC 2.0 is lenient with a longer stump: it yields the record
# shortened (or whole, if only the gzip trailer is missing) without an error.
TRUNCATED_MEMBER_BYTES = 32


def _ip_address(host: str) -> str:
    """A stable address per host from the documentation range 198.51.100.0/24 (RFC 5737)."""
    return f"198.51.100.{hashlib.sha256(host.encode()).digest()[0] % 254 + 1}"


def _fetch(page: Page, moment: datetime, info_id: str) -> list[bytes]:
    ip = _ip_address(page.url.split("/")[2])
    request = warc_writer.request(page.url, moment, info_id)
    response = warc_writer.response(page.url, moment, info_id, ip, page.server, page.content_type, page.payload)
    return [warc_writer.gzip_member(request), warc_writer.gzip_member(response)]


def write_crawl(pages: list[Page], crawl_dir: Path) -> tuple[list[dict], dict[str, dict]]:
    """Write crawl-00001.. files; returns (truth per response record, record counts per file)."""
    crawl_dir.mkdir(parents=True, exist_ok=True)
    truth: list[dict] = []
    file_counts: dict[str, dict] = {}
    per_file = -(-len(pages) // CRAWL_FILES)
    for number in range(CRAWL_FILES):
        chunk = pages[number * per_file : (number + 1) * per_file]
        name = f"crawl-{number + 1:05d}.warc.gz"
        first = CRAWL_START + timedelta(seconds=SECONDS_BETWEEN_FETCHES * number * per_file)
        members = [warc_writer.gzip_member(warc_writer.warcinfo(name, first, "danlu bundled sample crawl"))]
        info_id = warc_writer.record_id(f"warcinfo:{name}")
        for offset, page in enumerate(chunk):
            moment = first + timedelta(seconds=SECONDS_BETWEEN_FETCHES * offset)
            members.extend(_fetch(page, moment, info_id))
            truth.append(
                {
                    "file": f"crawl/{name}",
                    "url": page.url,
                    "record_id": warc_writer.record_id(page.url),
                    "kind": page.kind,
                    "duplicate_of": page.duplicate_of,
                    "language": page.language,
                }
            )
        (crawl_dir / name).write_bytes(b"".join(members))
        file_counts[f"crawl/{name}"] = {"records": 1 + 2 * len(chunk), "responses": len(chunk)}
    return truth, file_counts


def write_corrupt_crawl(page: Page, crawl_dir: Path) -> dict:
    """A valid warcinfo record, then a response record's gzip member cut short, as a crashed crawler leaves it."""
    moment = CRAWL_START - timedelta(days=1)
    info = warc_writer.warcinfo(CORRUPT_FILE, moment, "danlu bundled sample: truncated on purpose")
    response = _fetch(page, moment, warc_writer.record_id(f"warcinfo:{CORRUPT_FILE}"))[1]
    (crawl_dir / CORRUPT_FILE).write_bytes(warc_writer.gzip_member(info) + response[:TRUNCATED_MEMBER_BYTES])
    return {
        "file": f"crawl/{CORRUPT_FILE}",
        "readable_records": 1,
        "problem": "the second gzip member (a response record) ends after its first bytes",
        "truncated_url": page.url,
    }
