"""WARC/1.1 records, each its own gzip member (as Common Crawl writes them), byte for byte reproducible."""

from __future__ import annotations

import base64
import gzip
import hashlib
import uuid
from datetime import datetime, timezone
from email.utils import format_datetime
from urllib.parse import urlsplit

SOFTWARE = "danlu-sample/1.0"


def record_id(name: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}>"


def sha1_digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def warc_date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def warc_record(
    warc_type: str, rid: str, moment: datetime, fields: list[tuple[str, str]], content_type: str, block: bytes
) -> bytes:
    headers = [
        ("WARC-Type", warc_type),
        ("WARC-Record-ID", rid),
        ("WARC-Date", warc_date(moment)),
        *fields,
        ("WARC-Block-Digest", sha1_digest(block)),
        ("Content-Type", content_type),
        ("Content-Length", str(len(block))),
    ]
    head = "WARC/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    return head.encode("utf-8") + block + b"\r\n\r\n"


def gzip_member(record: bytes) -> bytes:
    return gzip.compress(record, compresslevel=9, mtime=0)


def warcinfo(filename: str, moment: datetime, description: str) -> bytes:
    fields = (
        f"software: {SOFTWARE}\r\nformat: WARC File Format 1.1\r\n"
        "conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n"
        f"description: {description}\r\nrobots: classic\r\n"
    ).encode("utf-8")
    rid = record_id(f"warcinfo:{filename}")
    return warc_record("warcinfo", rid, moment, [("WARC-Filename", filename)], "application/warc-fields", fields)


def request(url: str, moment: datetime, info_id: str) -> bytes:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    block = (
        f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: {SOFTWARE} (+https://danlu.example/bot)\r\n"
        "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\nAccept-Encoding: identity\r\n\r\n"
    ).encode("ascii")
    fields = [("WARC-Target-URI", url), ("WARC-Warcinfo-ID", info_id), ("WARC-Concurrent-To", record_id(url))]
    rid = record_id(f"request:{url}")
    return warc_record("request", rid, moment, fields, "application/http; msgtype=request", block)


def response(
    url: str, moment: datetime, info_id: str, ip: str, server: str, content_type: str, payload: bytes
) -> bytes:
    http_head = (
        f"HTTP/1.1 200 OK\r\nDate: {format_datetime(moment, usegmt=True)}\r\nServer: {server}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    fields = [
        ("WARC-Target-URI", url),
        ("WARC-Warcinfo-ID", info_id),
        ("WARC-IP-Address", ip),
        ("WARC-Payload-Digest", sha1_digest(payload)),
    ]
    block = http_head + payload
    return warc_record("response", record_id(url), moment, fields, "application/http; msgtype=response", block)
