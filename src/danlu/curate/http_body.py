"""Undo HTTP transfer and content encodings of a WARC response body (chunked, gzip, deflate, br).

FastWARC can decode on the fly, but then a truncated record is indistinguishable from a short
one; the reader checks the raw length against Content-Length first and decodes here after.
"""

from __future__ import annotations

import io
import zlib

from fastwarc.stream_io import BrotliReader, ChunkedReader, ZstdReader

from danlu.errors import DataError


class PayloadTooLarge(DataError):
    """The decoded body would pass the size limit (a decompression bomb, or just a huge page)."""


def decode_http_body(
    raw: bytes, transfer_encoding: str | None, content_encoding: str | None, max_bytes: int | None
) -> bytes:
    """The entity bytes; raises DataError when an encoding is unknown or its data is broken."""
    body = raw
    if transfer_encoding and "chunked" in transfer_encoding.lower():
        try:
            body = ChunkedReader(io.BytesIO(body)).read()
        except OSError as exc:
            # FastWARC quotes the bad chunk header, which can be the whole page.
            raise DataError(f"chunked transfer encoding is broken: {str(exc)[:80]}") from None
    for coding in _codings(content_encoding):
        body = _decompress(body, coding, max_bytes)
    return body


def _codings(header: str | None) -> list[str]:
    # Codings are listed in the order they were applied: undo them last to first.
    codings = [c.strip().lower() for c in (header or "").split(",")]
    return [c for c in reversed(codings) if c and c != "identity"]


def _decompress(data: bytes, coding: str, max_bytes: int | None) -> bytes:
    if coding in ("gzip", "x-gzip", "deflate"):
        return _inflate(data, coding, max_bytes)
    readers = {"br": BrotliReader, "zstd": ZstdReader}
    if coding not in readers:
        raise DataError(f"unsupported content encoding {coding!r}")
    try:
        out = readers[coding](io.BytesIO(data)).read()
    except OSError as exc:
        raise DataError(f"{coding} content encoding is broken: {exc}") from None
    if max_bytes is not None and len(out) > max_bytes:
        raise PayloadTooLarge(f"{coding} body decodes to {len(out)} bytes > {max_bytes}")
    return out


def _inflate(data: bytes, coding: str, max_bytes: int | None) -> bytes:
    # wbits 47 reads gzip or zlib headers; servers often send raw deflate as "deflate".
    for wbits in (zlib.MAX_WBITS | 32, -zlib.MAX_WBITS):
        inflater = zlib.decompressobj(wbits=wbits)
        try:
            out = inflater.decompress(data, (max_bytes + 1) if max_bytes is not None else 0)
        except zlib.error as exc:
            error = f"{coding} content encoding is broken: {exc}"
            continue
        if max_bytes is not None and len(out) > max_bytes:
            raise PayloadTooLarge(f"{coding} body decodes to more than {max_bytes} bytes")
        if not inflater.eof:
            raise DataError(f"{coding} content encoding is truncated ({len(out)} bytes decoded)")
        return out
    raise DataError(error)
