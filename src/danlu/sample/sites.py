"""The fake web sites of the sample crawl and the page shell (menu, sidebar, cookie banner, footer)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Site:
    domain: str
    name: str
    lang: str
    server: str
    article_path: str  # formatted with slug
    nav: tuple[str, ...]
    sidebar_title: str
    related_title: str
    cookie: str
    accept: str
    footer: str
    layout: int  # which of the page shells below the site uses


ENGLISH_NAV = ("Home", "Tutorials", "Reference", "Library", "How-To", "FAQ", "Blog", "About", "Contact")
ENGLISH_SITES = (
    Site("docs-mirror.example", "Docs Mirror", "en", "nginx/1.24.0", "/3.11/reference/{slug}.html",
         ENGLISH_NAV[:6], "In this section", "See also", "This site uses cookies to analyse traffic.",
         "Accept all cookies", "© 2024 Docs Mirror. Mirrored for offline reading. All rights reserved.", 0),
    Site("pyguide.example", "PyGuide", "en", "Apache/2.4.58 (Ubuntu)", "/guide/{slug}/",
         ENGLISH_NAV, "Popular guides", "Keep reading", "We use cookies to personalise content and ads.",
         "OK, got it", "Copyright © 2019–2024 PyGuide Ltd. All rights reserved. Privacy · Terms", 1),
    Site("learn-python.example", "Learn Python Today", "en", "cloudflare", "/tutorials/{slug}",
         ("Start here", "Courses", "Tutorials", "Cheat sheets", "Newsletter", "Shop"), "Latest tutorials",
         "You might also like", "By continuing to browse you agree to our use of cookies.", "Accept",
         "© 2024 Learn Python Today · Made with love in Berlin · Imprint · Privacy policy", 2),
    Site("codenotes.example", "Code Notes", "en", "openresty", "/2024/03/{slug}.html",
         ("Home", "Archive", "Tags", "Projects", "About me", "RSS"), "Recent posts", "Related posts",
         "This blog uses cookies for comments and statistics.", "Fine by me",
         "© 2024 Code Notes. Content licensed CC BY-SA 4.0. Powered by a static site generator.", 1),
    Site("devref.example", "DevRef", "en", "nginx", "/ref/python/{slug}",
         ("Docs", "Python", "JavaScript", "Go", "Rust", "SQL", "Sign in"), "Python reference",
         "Next in Python", "DevRef and partners store cookies on your device.", "Accept and close",
         "© 2024 DevRef Inc. Trademarks belong to their owners. Terms of use · Privacy · Cookies", 0),
)  # fmt: skip

MIRROR_HOSTS = ("mirror.docs-archive.example", "docs.pymirror.example", "cache.webarchive.example")

SPAM_SITES = tuple(
    Site(domain, name, "en", "LiteSpeed", "/{slug}.html", ("HOME", "BEST DEALS", "TOP 10", "FREE", "BUY NOW"),
         "HOT KEYWORDS", "MORE DEALS", "Accept cookies to unlock the best deals!", "YES", f"© {name} 2024", 2)
    for domain, name in (
        ("best-python-hosting.example", "Best Python Hosting"),
        ("cheap-code-deals.example", "Cheap Code Deals"),
        ("top10-python-tutorials.example", "Top10 Python Tutorials"),
    )
)  # fmt: skip

CJK_SITES = {
    "zh-Hans": Site("python-zh.example", "Python 中文社区", "zh", "Tengine", "/wiki/{slug}.html",
                    ("首页", "教程", "文档", "社区", "下载", "新闻"), "相关文章", "热门标签",
                    "本站使用 Cookie 以改善您的体验。", "接受", "版权所有 © 2024 Python 中文社区", 0),
    "zh-Hant": Site("python-tw.example", "Python 台灣社群", "zh-Hant", "nginx", "/articles/{slug}",
                    ("首頁", "教學", "文件", "社群", "下載", "新聞"), "相關文章", "熱門標籤",
                    "本站使用 Cookie 以改善您的體驗。", "接受", "版權所有 © 2024 Python 台灣社群", 1),
    "ja": Site("pyjp.example", "Python 日本語情報", "ja", "Apache", "/docs/{slug}.html",
               ("ホーム", "入門", "ドキュメント", "コミュニティ", "ダウンロード", "お問い合わせ"), "関連記事",
               "人気のタグ", "当サイトではクッキーを使用しています。", "同意する",
               "著作権 © 2024 Python 日本語情報 無断転載を禁じます", 2),
    "ko": Site("pykr.example", "파이썬 커뮤니티", "ko", "nginx", "/board/{slug}",
               ("홈", "강좌", "문서", "커뮤니티", "다운로드", "문의하기"), "관련 글", "인기 태그",
               "이 사이트는 쿠키를 사용합니다.", "동의", "저작권 © 2024 파이썬 커뮤니티. 모든 권리 보유", 1),
}  # fmt: skip

# Analytics snippets: script text a naive extractor would keep as content.
SCRIPTS = (
    "window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);} gtag('js', new Date());",
    "(function(){var s=document.createElement('script');s.async=true;"
    "s.src='/static/ads.js';document.head.appendChild(s);})();",
    "document.addEventListener('DOMContentLoaded', function(){"
    " document.querySelector('.cookie').hidden = localStorage.cookiesOk; });",
)
FOOTER_LINKS = [("Privacy", "/privacy"), ("Terms", "/terms"), ("Contact", "/contact"), ("Sitemap", "/sitemap.xml")]
SHARE_NETWORKS = ("twitter", "facebook", "reddit")


def _links(items: list[tuple[str, str]]) -> str:
    return "".join(f'<li><a href="{escape(href)}">{escape(text)}</a></li>' for text, href in items)


def _nav(site: Site) -> str:
    return _links([(item, "/" if i == 0 else f"/{item.lower().replace(' ', '-')}/") for i, item in enumerate(site.nav)])


def render_shell(
    site: Site,
    title: str,
    main_html: str,
    sidebar: list[tuple[str, str]],
    rng: random.Random,
    meta_charset: str | None,
) -> str:
    """A whole HTML page: main_html inside one of three site layouts with all their boilerplate."""
    head_meta = f'<meta charset="{meta_charset}">\n' if meta_charset else ""
    head = (
        f'<!DOCTYPE html>\n<html lang="{site.lang}">\n<head>\n{head_meta}'
        f"<title>{escape(title)} | {escape(site.name)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<link rel="stylesheet" href="/static/site.css?v={rng.randint(100, 999)}">\n'
        f"<script>{rng.choice(SCRIPTS)}</script>\n</head>\n"
    )
    cookie = (
        f'<div class="cookie" role="dialog">{escape(site.cookie)} <a href="/privacy">Privacy</a> '
        f"<button>{escape(site.accept)}</button></div>\n"
    )
    sidebar_html = f"<h3>{escape(site.sidebar_title)}</h3><ul>{_links(sidebar)}</ul>"
    footer = (
        f'<footer><ul class="footer-links">{_links(FOOTER_LINKS)}</ul>'
        f"<p>{escape(site.footer)}</p></footer>\n"
    )
    if site.layout == 0:
        body = (
            f'<header><a class="logo" href="/">{escape(site.name)}</a><nav><ul>{_nav(site)}</ul></nav></header>\n'
            f'<div class="layout"><aside class="sidebar">{sidebar_html}</aside>\n<main>{main_html}</main></div>\n'
        )
    elif site.layout == 1:
        home, section = site.nav[0], site.nav[1]
        crumbs = f'<a href="/">{escape(home)}</a> › <a href="/{section.lower()}/">{escape(section)}</a> › {escape(title)}'
        body = (
            f'<div id="top-bar"><div class="brand">{escape(site.name)}</div><ul class="menu">{_nav(site)}</ul>'
            '<form action="/search"><input name="q" placeholder="Search"></form></div>\n'
            f'<div class="breadcrumbs">{crumbs}</div>\n<div class="content">{main_html}</div>\n'
            f'<div class="related">{sidebar_html}</div>\n'
        )
    else:
        share = " ".join(f'<a href="https://{net}.example/share">{net.title()}</a>' for net in SHARE_NETWORKS)
        body = (
            f'<ul class="menu">{_nav(site)}</ul>\n<div id="content">{main_html}'
            f'<div class="share">Share: {share}</div></div>\n<div id="sidebar">{sidebar_html}</div>\n'
        )
    return f"{head}<body>\n{cookie}{body}{footer}<script src=\"/static/app.js\"></script>\n</body>\n</html>\n"
