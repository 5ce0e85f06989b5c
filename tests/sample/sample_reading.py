"""Reading a built sample back the way a consumer would: FastWARC for the crawl, json for the rest."""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from fastwarc.warc import ArchiveIterator, WarcRecordType


@dataclass(frozen=True)
class Response:
    file: str
    url: str
    record_id: str
    content_length: int
    block_length: int
    http_content_type: str | None
    http_charset: str | None
    payload: bytes


def read_responses(root: Path, name: str) -> list[Response]:
    responses = []
    with open(root / name, "rb") as fh:
        for record in ArchiveIterator(fh, record_types=WarcRecordType.response):
            payload = record.reader.read()
            responses.append(
                Response(
                    name,
                    record.headers["WARC-Target-URI"],
                    record.headers["WARC-Record-ID"],
                    int(record.headers["Content-Length"]),
                    record.content_length,
                    record.http_content_type,
                    record.http_charset,
                    payload,
                )
            )
    return responses


META_CHARSET = re.compile(rb'<meta charset="([^"]+)"')


def declared_charset(response: Response) -> str | None:
    """The HTTP header's charset, else the <meta charset>, else None."""
    if response.http_charset:
        return response.http_charset
    found = META_CHARSET.search(response.payload[:1024])
    return found.group(1).decode("ascii") if found else None


def page_html(response: Response) -> str:
    return response.payload.decode(declared_charset(response) or "utf-8")


def visible_text(markup: str) -> str:
    """Text of an HTML fragment, whitespace collapsed; enough to compare pages, not an extractor."""
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def article_text(markup: str) -> str:
    found = re.search(r"<article>(.*?)</article>", markup, flags=re.S)
    return visible_text(found.group(1) if found else markup)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def digest_of_tree(root: Path) -> dict[str, str]:
    """sha256 of every file under root, by relative path."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
