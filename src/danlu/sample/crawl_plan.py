"""Every page of the sample crawl: its URL, kind, language, duplicate source and HTTP payload."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from danlu.sample.binary_payloads import pdf_bytes, png_bytes
from danlu.sample.cjk import CjkText
from danlu.sample.doc_blocks import Doc
from danlu.sample.pages import TAGS, article_html, boilerplate_html, cjk_html, near_duplicate, spam_html
from danlu.sample.sites import CJK_SITES, ENGLISH_SITES, MIRROR_HOSTS, SPAM_SITES, Site, render_shell

# Shares of all response records; articles take the rest (about 55%).
KIND_SHARES = {
    "boilerplate": 0.08,
    "exact_duplicate": 0.08,
    "near_duplicate": 0.08,
    "spam": 0.06,
    "non_english": 0.08,
    "non_html": 0.015,
}
DUPLICATE_SOURCE_MIN_CHARS = 2000  # a near duplicate of a short page would be too unlike it
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October")


@dataclass(frozen=True)
class Page:
    url: str
    kind: str
    language: str | None
    duplicate_of: str | None
    content_type: str  # the HTTP Content-Type header
    server: str
    payload: bytes
    text: str  # the main text the page was made from; "" for non-HTML


def slugify(title: str) -> str:
    """URL path part of a title; "(part 3)" survives the length cut so pages of one doc stay apart."""
    base, part = re.fullmatch(r"(.*?)(?: \(part (\d+)\))?", title).groups()
    slug = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[:50].strip("-") or "page"
    return f"{slug}-part-{part}" if part else slug


class UrlBook:
    """Hands out URLs that are unique across the whole crawl."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def claim(self, url: str) -> str:
        candidate, number = url, 2
        while candidate in self.used:
            stem, extension, slash = re.fullmatch(r"(.*?)(\.html|\.pdf|\.png)?(/?)", url).groups()
            candidate = f"{stem}-{number}{extension or ''}{slash}"
            number += 1
        self.used.add(candidate)
        return candidate


def _english_headers(rng: random.Random) -> tuple[str, str | None]:
    """(HTTP Content-Type, <meta charset>): most pages declare UTF-8 in both, some in one only."""
    roll = rng.random()
    if roll < 0.8:
        return "text/html; charset=utf-8", "utf-8"
    if roll < 0.92:
        return "text/html; charset=UTF-8", None
    return "text/html", "UTF-8"


def _site_url(site: Site, title: str) -> str:
    return f"https://{site.domain}{site.article_path.format(slug=slugify(title))}"


class CrawlPlanner:
    """Makes the pages of each kind; shares the random stream, the URL book and each site's articles."""

    def __init__(self, article_docs: list[Doc], rng: random.Random):
        self.rng = rng
        self.urls = UrlBook()
        self.placed = []  # (doc, site, url) of every article
        for doc in article_docs:
            site = rng.choice(ENGLISH_SITES)
            self.placed.append((doc, site, self.urls.claim(_site_url(site, doc.title))))
        self.links = {site.domain: [(d.title, u) for d, s, u in self.placed if s is site] for site in ENGLISH_SITES}

    def sidebar(self, site: Site, count: int) -> list[tuple[str, str]]:
        """Links to other articles of the same site, as menus and "related" boxes show them."""
        pool = self.links[site.domain]
        return self.rng.sample(pool, min(count, len(pool)))

    def html_page(
        self, url: str, kind: str, site: Site, title: str, main: str, text: str,
        sidebar: list[tuple[str, str]] | None = None, duplicate_of: str | None = None,
    ) -> Page:  # fmt: skip
        content_type, meta = _english_headers(self.rng)
        sidebar = sidebar if sidebar is not None else self.sidebar(site, self.rng.randint(6, 10))
        html = render_shell(site, title, main, sidebar, self.rng, meta)
        return Page(url, kind, "en", duplicate_of, content_type, site.server, html.encode("utf-8"), text)

    def article(self, doc: Doc, site: Site, url: str, kind: str = "article", duplicate_of: str | None = None) -> Page:
        main = article_html(doc, self.sidebar(site, self.rng.randint(3, 5)), site.related_title, self.rng)
        return self.html_page(url, kind, site, doc.title, main, doc.plain_text(), duplicate_of=duplicate_of)

    def exact_duplicate(self, original: Page) -> Page:
        """The same bytes at a mirror host, with tracking parameters, or over http://www."""
        host = original.url.split("/")[2]
        url = self.rng.choice(
            [
                original.url.replace(host, self.rng.choice(MIRROR_HOSTS)),
                original.url + "?utm_source=newsletter&utm_medium=email",
                original.url.replace("https://", "http://www."),
            ]
        )
        url = self.urls.claim(url)
        return replace(original, url=url, kind="exact_duplicate", duplicate_of=original.url, server="nginx")

    def near_duplicate(self, doc: Doc, site: Site, original_url: str) -> Page:
        """A lightly edited copy on another site, in that site's boilerplate."""
        other = self.rng.choice([s for s in ENGLISH_SITES if s is not site])
        edited = near_duplicate(doc, self.rng)
        return self.article(edited, other, self.urls.claim(_site_url(other, doc.title)), "near_duplicate", original_url)

    def boilerplate(self, n: int) -> Page:
        site, tag = self.rng.choice(ENGLISH_SITES), self.rng.choice(TAGS)
        title, path = self.rng.choice(
            [
                (f"Tag: {tag}", f"/tags/{tag}/page/{n}/"),
                (f"Archive: {self.rng.choice(MONTHS)} 2024", f"/archive/2024/{n:02d}/"),
                (f"Category: {tag.title()} (page {n})", f"/category/{tag}/{n}/"),
                ("Sitemap", f"/sitemap-{n}.html"),
            ]
        )
        main, text = boilerplate_html(title, self.sidebar(site, self.rng.randint(20, 40)), self.rng)
        return self.html_page(self.urls.claim(f"https://{site.domain}{path}"), "boilerplate", site, title, main, text)

    def spam(self) -> Page:
        site = self.rng.choice(SPAM_SITES)
        main, text = spam_html(self.rng)
        title = text.splitlines()[0]
        keyword_links = [(line, f"/{slugify(line)}.html") for line in text.splitlines()[3:13]]
        url = self.urls.claim(f"https://{site.domain}/{slugify(title)}.html")
        return self.html_page(url, "spam", site, title, main, text, sidebar=keyword_links)

    def non_html(self, n: int) -> Page:
        site = self.rng.choice(ENGLISH_SITES)
        if n % 2 == 0:
            path, content_type, payload = f"/static/img/figure-{n}.png", "image/png", png_bytes(24, 16, n)
        else:
            title = self.rng.choice(self.placed)[0].title
            path, content_type = f"/downloads/cheatsheet-{n}.pdf", "application/pdf"
            payload = pdf_bytes(title, f"{title}: cheat sheet")
        url = self.urls.claim(f"https://{site.domain}{path}")
        return Page(url, "non_html", None, None, content_type, site.server, payload, "")

    def cjk(self, text: CjkText, n: int) -> Page:
        """Chinese, Japanese or Korean text in UTF-8 or a legacy charset, declared in the header, a <meta> or both."""
        rng, site, lines = self.rng, CJK_SITES[text.variety], list(text.lines)
        start = rng.randrange(len(lines) - 1)
        window = lines[start:] + lines[: rng.randint(0, start)]
        cut = rng.randint(1, len(window) - 1)
        joiner = " " if text.language == "ko" else ""  # source lines break mid-sentence; Korean keeps spaces
        paragraphs = [joiner.join(window[:cut]), joiner.join(window[cut:])]
        title = re.split(r"[。、，,.!?？！]", window[0])[0][:30]
        charset = text.charsets[n // len(CJK_SITES) % len(text.charsets)]
        declared = "both" if charset == "utf-8" else rng.choice(["both", "header", "meta"])
        content_type = "text/html" if declared == "meta" else f"text/html; charset={charset}"
        section = site.article_path.split("/")[1]
        sidebar = [(line[:14], f"/{section}/{rng.randint(100, 999)}") for line in rng.sample(lines, 3)]
        main = cjk_html(title, paragraphs, site.related_title)
        html = render_shell(site, title, main, sidebar, rng, None if declared == "header" else charset)
        url = self.urls.claim(f"https://{site.domain}{site.article_path.format(slug=f'{text.variety.lower()}-{n}')}")
        # Characters a legacy charset lacks (the footer's ©) become character references, as CMSs write them.
        payload = html.encode(charset, errors="xmlcharrefreplace")
        text_of_page = "\n\n".join([title, *paragraphs])
        return Page(url, "non_english", text.language, None, content_type, site.server, payload, text_of_page)


def plan_pages(article_docs: list[Doc], cjk: list[CjkText], rng: random.Random) -> list[Page]:
    """All pages in crawl order; the number of each kind follows KIND_SHARES of the total."""
    planner = CrawlPlanner(article_docs, rng)
    articles = [planner.article(doc, site, url) for doc, site, url in planner.placed]
    total = round(len(articles) / (1 - sum(KIND_SHARES.values())))
    count = {kind: round(share * total) for kind, share in KIND_SHARES.items()}

    long_ones = [i for i, (doc, _, _) in enumerate(planner.placed) if doc.body_chars() >= DUPLICATE_SOURCE_MIN_CHARS]
    picked = rng.sample(long_ones, count["exact_duplicate"] + count["near_duplicate"])
    exact_sources, near_sources = picked[: count["exact_duplicate"]], picked[count["exact_duplicate"] :]
    duplicates = [planner.exact_duplicate(articles[i]) for i in exact_sources]
    duplicates += [planner.near_duplicate(*planner.placed[i]) for i in near_sources]

    others = [planner.boilerplate(n) for n in range(count["boilerplate"])]
    others += [planner.spam() for _ in range(count["spam"])]
    others += [planner.cjk(cjk[n % len(cjk)], n) for n in range(count["non_english"])]
    others += [planner.non_html(n) for n in range(count["non_html"])]
    return _crawl_order(articles + others, duplicates, rng)


def _crawl_order(pages: list[Page], duplicates: list[Page], rng: random.Random) -> list[Page]:
    """Shuffled, with every duplicate somewhere after the page it copies (so keep-first keeps the original)."""
    order = list(pages)
    rng.shuffle(order)
    for duplicate in duplicates:
        after = next(i for i, page in enumerate(order) if page.url == duplicate.duplicate_of)
        order.insert(rng.randint(after + 1, len(order)), duplicate)
    return order
