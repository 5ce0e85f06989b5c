"""The main content of each kind of sample page: articles, link farms, keyword spam, CJK pages."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from html import escape

from danlu.sample.doc_blocks import Block, Doc

SPAM_KEYWORDS = (
    "cheap python hosting", "best python hosting", "python course online", "learn python fast",
    "free python ebook download", "python jobs remote", "python certification cheap",
    "top python ide 2024", "python tutor near me", "buy python scripts",
)  # fmt: skip
SPAM_SUFFIXES = ("2024", "free", "cheap", "best price", "near me", "discount", "review", "coupon", "deal", "today")
SPAM_SHOUTS = ("BUY NOW!!!", "LIMITED OFFER!!!", "CLICK HERE", "100% FREE", "BEST PRICE GUARANTEED", "ACT NOW")
TAGS = (
    "python", "tutorial", "beginners", "strings", "lists", "dicts", "classes", "functions", "modules",
    "testing", "debugging", "regex", "files", "json", "csv", "web", "async", "threads", "typing",
    "packaging", "performance", "tips", "snippets", "stdlib", "errors", "iterators", "decorators",
    "generators", "math", "dates", "logging", "cli", "networking", "xml", "unicode", "security",
)  # fmt: skip
BOILERPLATE_INTROS = (
    "Browse all posts filed under this tag.",
    "Here you can find everything we published this month.",
    "Welcome to the archive. Pick a topic from the lists below.",
    "This page lists all tutorials in this category.",
    "Sorry, the page you requested was moved. Try one of these instead.",
)
# Small, sense-keeping word swaps that turn an article into a near duplicate.
WORD_SWAPS = {
    "returns": "gives back", "Return": "Give back", "function": "routine", "value": "result",
    "argument": "parameter", "object": "instance", "string": "text string", "example": "sample",
    "following": "next", "used": "employed", "must": "has to", "default": "standard",
}  # fmt: skip
ADDED_PARAGRAPHS = (
    "Editor's note: this page was reviewed for Python 3.11 and the examples were tested on Linux and macOS.",
    "Update: a reader pointed out a typo in an earlier version of this page, which has now been fixed.",
    "If you found this page useful, consider sharing it with a colleague who is learning Python.",
)


def article_html(doc: Doc, related: list[tuple[str, str]], related_title: str, rng: random.Random) -> str:
    parts = [f"<article>\n<h1>{escape(doc.title)}</h1>\n"]
    minutes = max(1, doc.body_chars() // 1200)
    parts.append(f'<p class="meta">Updated {rng.randint(1, 28)} March 2024 · {minutes} min read</p>\n')
    in_list = False
    for block in doc.blocks:
        if block.kind == "li" and not in_list:
            parts.append("<ul>\n")
        if block.kind != "li" and in_list:
            parts.append("</ul>\n")
        in_list = block.kind == "li"
        text = escape(block.text, quote=False)
        if block.kind == "pre":
            parts.append(f"<pre><code>{text}</code></pre>\n")
        else:
            parts.append(f"<{block.kind}>{text}</{block.kind}>\n")
    if in_list:
        parts.append("</ul>\n")
    parts.append("</article>\n")
    links = "".join(f'<li><a href="{escape(href)}">{escape(title)}</a></li>' for title, href in related)
    parts.append(f'<section class="related"><h2>{escape(related_title)}</h2><ul>{links}</ul></section>\n')
    return "".join(parts)


def near_duplicate(doc: Doc, rng: random.Random) -> Doc:
    """The same doc with a few words swapped and one paragraph removed or one added."""
    blocks = list(doc.blocks)
    paragraph_indexes = [i for i, block in enumerate(blocks) if block.kind == "p"]
    swaps = 0
    for i in rng.sample(paragraph_indexes, len(paragraph_indexes)):
        words = [w for w in WORD_SWAPS if re.search(rf"\b{w}\b", blocks[i].text)]
        if words:
            word = rng.choice(words)
            text = re.sub(rf"\b{word}\b", WORD_SWAPS[word], blocks[i].text, count=1)
            blocks[i] = Block("p", text)
            swaps += 1
        if swaps == 3:
            break
    droppable = [i for i in paragraph_indexes[1:] if len(blocks[i].text) < doc.body_chars() / 12]
    if droppable and rng.random() < 0.5:
        del blocks[rng.choice(droppable)]
    else:
        blocks.insert(rng.randint(1, len(blocks)), Block("p", rng.choice(ADDED_PARAGRAPHS)))
    return replace(doc, key=f"{doc.key}~near", blocks=tuple(blocks))


def boilerplate_html(title: str, links: list[tuple[str, str]], rng: random.Random) -> tuple[str, str]:
    """A tag, archive or category page: link lists and a tag cloud around one sentence of text."""
    intro = rng.choice(BOILERPLATE_INTROS)
    items = "".join(f'<li><a href="{escape(href)}">{escape(text)}</a></li>' for text, href in links)
    cloud = " ".join(f'<a class="tag" href="/tags/{tag}/">{tag}</a>' for tag in rng.sample(TAGS, rng.randint(15, 30)))
    pages = " ".join(f'<a href="?page={n}">{n}</a>' for n in range(1, rng.randint(5, 12)))
    html = (
        f"<h1>{escape(title)}</h1>\n<p>{intro}</p>\n<ul class=\"post-list\">{items}</ul>\n"
        f'<div class="tag-cloud">{cloud}</div>\n<div class="pagination">{pages} <a href="?page=2">Next ›</a></div>\n'
    )
    return html, f"{title}\n{intro}"


def spam_html(rng: random.Random) -> tuple[str, str]:
    """Keyword stuffing, keyword lists and shouted one-liners around one or two keywords."""
    keyword = rng.choice(SPAM_KEYWORDS)
    other = rng.choice([k for k in SPAM_KEYWORDS if k != keyword])
    title = f"{keyword.title()} {rng.choice(SPAM_SUFFIXES)} - {other.title()} - Best Deals"
    stuffed = " ".join(
        rng.choice([keyword, keyword, other, f"{keyword} {rng.choice(SPAM_SUFFIXES)}", "best", "cheap"])
        for _ in range(rng.randint(60, 140))
    )
    keyword_list = [f"{rng.choice([keyword, other])} {rng.choice(SPAM_SUFFIXES)}" for _ in range(rng.randint(20, 50))]
    shouts = [f"{rng.choice(SPAM_SHOUTS)} {keyword.upper()}" for _ in range(rng.randint(8, 20))]
    lines = [title, f"Looking for {keyword}? We have the best {keyword} and {other}!", stuffed, *keyword_list, *shouts]
    items = "".join(f'<li><a href="/go?k={i}">{escape(k)}</a></li>' for i, k in enumerate(keyword_list))
    html = (
        f"<h1>{escape(title)}</h1>\n<p>{escape(lines[1])}</p>\n<p>{escape(stuffed)}</p>\n<ul>{items}</ul>\n"
        + "".join(f"<p><b>{escape(s)}</b></p>\n" for s in shouts)
    )
    return html, "\n".join(lines)


def cjk_html(title: str, paragraphs: list[str], tags: str) -> str:
    body = "".join(f"<p>{escape(p)}</p>\n" for p in paragraphs)
    return f"<article>\n<h1>{escape(title)}</h1>\n{body}</article>\n<div class=\"tags\">{escape(tags)}: Python</div>\n"
