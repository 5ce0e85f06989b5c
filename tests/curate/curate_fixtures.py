"""Test inputs made in code: WARC files (record-level gzip), JSONL files, a small corpus.

A module of its own (not conftest) so tests can import it by a name no other folder uses.
"""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path


ARTICLES = [
    "The river town of Eldermoor has kept a weekly market for more than three hundred years. "
    "Farmers bring apples, cheese and wool from the hills, and the square fills with the smell "
    "of bread before the church bell rings seven. Historians say that the market survived floods, "
    "wars and a long plague because the people of the valley trusted each other and shared what "
    "they had with anyone who came to trade with them. The market still opens at dawn. "
    "Visitors are always welcome.",
    "Learning to play the cello as an adult is slow but deeply rewarding. Most teachers suggest "
    "starting with open strings to build a steady bow arm, and only then adding the left hand. "
    "Practice for twenty minutes every day is better than two hours once a week, because the "
    "muscles that hold the bow need time to learn their work and to remember it between lessons. "
    "Patience matters more than talent. Recording yourself helps as well.",
    "Astronomers have found a small rocky planet that circles a cool red star about forty light "
    "years from the Sun. The planet is close to its star, so a year there lasts only nine days, "
    "and one side may always face the light. Scientists hope that the next generation of "
    "telescopes will tell them whether it has an atmosphere and what that air is made of. "
    "The first results are expected within a few years. Many teams are waiting.",
]
JSONL_TEXTS = [
    "Bees communicate the location of flowers through a waggle dance performed inside the hive. "
    "The angle of the dance shows the direction of the food relative to the sun, and the length "
    "of the waggle tells the other workers how far they have to fly. Researchers decoded this "
    "language in the last century, and it remains one of the best studied animal signals. "
    "Every colony dances in much the same way. Even young bees learn it quickly.",
    "A good loaf of sourdough needs only flour, water and salt, but it asks for patience. The "
    "starter must be fed for days before it is strong enough to raise the dough, and the dough "
    "itself rests for hours in a cool place. Bakers say that time, not yeast, is the ingredient "
    "that gives the bread its deep flavour and its open, shining crumb. A warm kitchen helps. "
    "A cold one simply asks for more time.",
]
CHINESE = (
    "长江是中国最长的河流，全长约六千三百公里，"
    "流经青海、西藏、四川、湖北、江苏等省份，最后在上海注入东海。"
    "长江流域人口众多，经济发达，是中国重要的农业和工业地区。"
    "三峡大坝位于湖北省宜昌市，是世界上最大的水力发电站。"
    "每年都有很多游客乘船游览长江三峡。"
)
JAPANESE = (
    "京都は日本の古い都で、千年以上の歴史があります。"
    "町には多くの寺や神社があり、毎年たくさんの観光客が訪れます。"
    "春には桜が咲き、秋には紅葉が美しく、"
    "季節ごとに違う景色を楽しむことができます。"
    "京都の料理もとても有名です。"
)
# Keyword stuffing that passes the other rules: stop words present, no repeated lines.
SPAM = " ".join(["cheap pills and the best cheap deals with cheap prices to buy cheap"] * 8)


def article_html(
    text: str, *, title: str = "Article", nav: bool = True, meta_charset: str | None = None
) -> str:
    meta = f'<meta charset="{meta_charset}">' if meta_charset else ""
    menu = (
        "<nav><ul><li><a href='/'>Home</a></li><li><a href='/news'>News</a></li>"
        "<li><a href='/about'>About</a></li></ul></nav>"
        if nav
        else ""
    )
    return (
        f"<!DOCTYPE html><html><head>{meta}<title>{title}</title></head><body>{menu}"
        f"<main><article><h1>{title}</h1><p>{text}</p></article></main>"
        "<footer>Copyright 2024 Example Media. All rights reserved.</footer></body></html>"
    )


BOILERPLATE_HTML = (
    "<!DOCTYPE html><html><head><title>Index</title></head><body>"
    "<nav><a href='/'>Home</a> | <a href='/a'>Archive</a> | <a href='/c'>Contact</a></nav>"
    "<div class='sidebar'>Follow us</div><footer>Cookie policy. Terms of use.</footer></body></html>"
)


class WarcFiles:
    """Builds WARC records by hand (CRLF, Content-Length) and writes them gzip per record."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._next_id = 0

    def _record(self, warc_type: str, url: str, block: bytes, content_type: str) -> bytes:
        self._next_id += 1
        header = (
            f"WARC/1.0\r\nWARC-Type: {warc_type}\r\n"
            f"WARC-Record-ID: <urn:uuid:{uuid.UUID(int=self._next_id)}>\r\n"
            f"WARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Target-URI: {url}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(block)}\r\n\r\n"
        ).encode()
        return header + block + b"\r\n\r\n"

    def response(
        self,
        url: str,
        body: str | bytes,
        *,
        charset: str | None = "utf-8",
        content_type: str = "text/html",
        status: int = 200,
        encoding: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        """An HTTP response; `charset` is declared in the header, `encoding` encodes the body."""
        if isinstance(body, str):
            body = body.encode(encoding or charset or "utf-8")
        ctype = f"{content_type}; charset={charset}" if charset else content_type
        lines = [f"HTTP/1.1 {status} X", f"Content-Type: {ctype}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        http = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        return self._record("response", url, http, "application/http; msgtype=response")

    def conversion(self, url: str, text: str) -> bytes:
        return self._record("conversion", url, text.encode("utf-8"), "text/plain")

    def request(self, url: str) -> bytes:
        block = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        return self._record("request", url, block, "application/http; msgtype=request")

    def write(self, name: str, records: list[bytes], *, compress: bool = True) -> Path:
        path = self.folder / name
        data = b"".join(gzip.compress(r, mtime=0) if compress else r for r in records)
        path.write_bytes(data)
        return path


def write_jsonl(path: Path, lines: list[str | dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def build_corpus(folder: Path) -> dict[str, list[Path]]:
    """Every case the stage must handle, in two sources: a crawl folder and a JSONL file."""
    crawl = WarcFiles(folder / "crawl")
    good = [
        crawl.response(f"http://news.example/{i}", article_html(t, title=f"Story {i}"))
        for i, t in enumerate(ARTICLES)
    ]
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    crawl.write(
        "a-main.warc.gz",
        [
            *good,
            crawl.request("http://news.example/0"),  # not a document: skipped, not counted
            crawl.response("http://mirror.example/0", article_html(ARTICLES[0].upper(), title="STORY 0")),
            crawl.response("http://nav.example/", BOILERPLATE_HTML),
            crawl.response("http://spam.example/", article_html(SPAM, title="cheap")),
            crawl.response("http://zh.example/", article_html(CHINESE, title="长江")),
            crawl.response("http://ja.example/", article_html(JAPANESE, title="京都"), charset="shift_jis"),
            crawl.response("http://img.example/logo.png", png, charset=None, content_type="image/png"),
            crawl.response("http://empty.example/", "<html><body></body></html>"),
            crawl.response("http://gone.example/", "<html><body>Not found</body></html>", status=404),
        ],
    )
    records = [crawl.response(f"http://cut.example/{i}", article_html(ARTICLES[i] + " Again.")) for i in range(2)]
    data = b"".join(gzip.compress(r, mtime=0) for r in records)
    (crawl.folder / "b-truncated.warc.gz").write_bytes(data[:-60])
    reference = write_jsonl(
        folder / "reference.jsonl",
        [
            {"text": JSONL_TEXTS[0], "url": "http://bees.example/"},
            '{"text": "an unterminated string}',
            {"text": JSONL_TEXTS[1]},
            {"text": ""},
            {"title": "no text field"},
        ],
    )
    return {"crawl": [crawl.folder], "reference": [reference]}


def stdlib_texts(n: int) -> list[str]:
    """Real English prose: docstrings of stdlib modules and their members, long enough to pass
    the filters, varied enough that few are near duplicates."""
    import collections
    import inspect
    import email
    import json as json_module
    import logging
    import pathlib
    import subprocess as sp
    import threading

    texts = []
    for module in (collections, email, json_module, logging, pathlib, sp, threading, inspect):
        for _, member in inspect.getmembers(module):
            doc = inspect.getdoc(member) or ""
            if len(doc.split()) >= 60 and doc not in texts:
                texts.append(doc)
    return (texts * (n // max(len(texts), 1) + 1))[:n]
