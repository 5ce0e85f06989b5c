"""RawDocument -> Document: decode the bytes (recording how), and turn HTML into plain text."""

from __future__ import annotations

import codecs
import re

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import detect_encoding, map_encoding_to_html5
from resiliparse.parse.html import HTMLParserException, HTMLTree

from danlu.config import ExtractConfig
from danlu.curate.document import Document, Quarantined, RawDocument, preview
from danlu.errors import ConfigError

HTML_TYPES = ("text/html", "application/xhtml+xml")
# Where a <meta charset> may sit: browsers prescan 1024 bytes; pages with long heads go further.
META_SNIFF_BYTES = 4096
_META_CHARSET = re.compile(rb"<meta[^>]+?charset\s*=\s*[\"']?\s*([a-zA-Z0-9_.:-]+)", re.IGNORECASE)
_HTML_START = re.compile(
    rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)", re.IGNORECASE | re.DOTALL
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def extract(raw: RawDocument, cfg: ExtractConfig) -> Document | Quarantined:
    """HTML responses are decoded and extracted; WET text is decoded; JSONL text passes through."""
    if raw.kind == "jsonl":
        text, encoding, how = _repair(raw.payload)
    elif raw.kind == "conversion":
        text, encoding, how = decode(raw.payload, raw.charset, sniff_meta=False)
    else:
        refused = _refuse(raw, cfg)
        if refused is not None:
            return refused
        html, encoding, how = decode(raw.payload, raw.charset, sniff_meta=True)
        try:
            text = html_to_text(html, cfg)
        except (HTMLParserException, ValueError, TypeError) as exc:
            return _quarantine(raw, "extract_error", f"{type(exc).__name__}: {exc}")
    return Document(
        id=raw.id,
        source=raw.source,
        url=raw.url,
        text=text.lstrip("\ufeff").strip(),
        provenance=raw.provenance,
        n_bytes_in=raw.n_bytes,
        encoding=encoding,
        encoding_source=how,
    )


def html_to_text(html: str, cfg: ExtractConfig) -> str:
    """resiliparse (the default), danlu (resiliparse's main content cleaned by a learned block
    classifier: trafilatura's quality at about resiliparse's speed, with its C extension built)
    or trafilatura (over 10x slower); see the README's table. main_content keeps only the
    article (danlu always does)."""
    if cfg.engine == "trafilatura":
        try:
            import trafilatura
        except ImportError:
            raise ConfigError("curate.extract.engine=trafilatura needs trafilatura: "
                              "pip install 'danlu[trafilatura]'") from None

        if not cfg.main_content:
            return trafilatura.html2txt(html) or ""
        # None when it finds no main text: an empty document, which the filters then drop.
        return trafilatura.extract(html, include_comments=False, include_tables=True) or ""
    if cfg.engine == "danlu":
        from danlu.curate.blocks import extract_main_text

        return extract_main_text(html)
    # Alt texts are mostly file names and "logo"/"avatar": noise for a language model.
    return extract_plain_text(HTMLTree.parse(html), main_content=cfg.main_content, alt_texts=False)


def _refuse(raw: RawDocument, cfg: ExtractConfig) -> Quarantined | None:
    """Why an HTTP response is not parsed as HTML, or None when it should be."""
    if raw.http_status is not None and not 200 <= raw.http_status < 300:
        return _quarantine(raw, "http_status", f"HTTP status {raw.http_status}")
    if not is_html(raw.content_type, raw.payload):
        return _quarantine(raw, "not_html", f"content type {raw.content_type or 'missing'}")
    if len(raw.payload) > cfg.max_html_bytes:
        detail = f"{len(raw.payload)} bytes > max_html_bytes={cfg.max_html_bytes}"
        return _quarantine(raw, "too_large", detail)
    return None


def _quarantine(raw: RawDocument, reason: str, detail: str) -> Quarantined:
    return Quarantined(
        raw.source, raw.provenance, reason, detail, id=raw.id, preview=preview(raw.payload)
    )


def is_html(content_type: str | None, payload: bytes) -> bool:
    """Trust a declared HTML type; sniff the bytes only when the server declared nothing useful."""
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime in HTML_TYPES:
        return True
    if mime not in ("", "application/octet-stream", "unknown/unknown"):
        return False
    head = payload[:META_SNIFF_BYTES]
    for bom, _ in _BOMS:
        head = head.removeprefix(bom)
    return _HTML_START.match(head) is not None


def decode(payload: bytes, declared: str | None, *, sniff_meta: bool) -> tuple[str, str, str]:
    """(text, encoding, how) where how is bom, header, meta, detected (valid UTF-8, else
    uchardet's guess) or fallback.

    Each candidate must decode without error; when none does, the most authoritative one
    decodes with replacement characters (a page that is gbk but for one byte stays Chinese).
    """
    for bom, encoding in _BOMS:
        if payload.startswith(bom):
            return payload[len(bom):].decode(encoding, errors="replace"), encoding, "bom"
    candidates: list[tuple[str, str]] = []
    if declared and (encoding := map_encoding_to_html5(declared, fallback_utf8=False)):
        candidates.append((encoding, "header"))
    if sniff_meta and (match := _META_CHARSET.search(payload[:META_SNIFF_BYTES])):
        encoding = map_encoding_to_html5(match.group(1).decode("ascii"), fallback_utf8=False)
        if encoding:
            candidates.append((encoding, "meta"))
    for encoding, how in candidates:
        if (text := _strict(payload, encoding)) is not None:
            return text, encoding, how
    # Valid UTF-8 beyond ASCII is almost never a legacy encoding by chance, while uchardet
    # guesses cp1250 for a short UTF-8 "café": check UTF-8 before asking the detector.
    if (text := _strict(payload, "utf-8")) is not None:
        return text, "utf-8", "detected"
    detected = detect_encoding(payload)  # WHATWG names; utf-8 when it cannot tell
    if detected and (text := _strict(payload, detected)) is not None:
        return text, detected, "detected"
    fallback = candidates[0][0] if candidates else (detected or "utf-8")
    return payload.decode(fallback, errors="replace"), fallback, "fallback"


def _strict(payload: bytes, encoding: str) -> str | None:
    try:
        return payload.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _repair(text: str) -> tuple[str, str, str]:
    # JSON may carry lone surrogates (\ud800), which no UTF-8 writer accepts downstream.
    try:
        text.encode("utf-8")
        return text, "utf-8", "json"
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace").decode("utf-8"), "utf-8", "fallback"
