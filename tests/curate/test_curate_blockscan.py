"""The C path of danlu's extractor (`blockscan`, the `_blockscan` extension) gives exactly the
blocks and features of the Python reference (`blocks.blocks`, `blocks.features`), declines what
it cannot do exactly, and compiles the cue regexes it is given or refuses them."""

from __future__ import annotations

import random
import re
import shutil

import numpy as np
import pytest
from resiliparse.parse.html import HTMLTree

from danlu.block_train import load_gold
from danlu.curate import blocks as B
from danlu.curate import blockscan

# A C compiler at install time builds the extension; without one danlu runs the Python path.
HAS_COMPILER = any(shutil.which(cc) for cc in ("cc", "gcc", "clang"))


@pytest.fixture(autouse=True)
def c_path():
    if B.c_scanner() is None:
        if HAS_COMPILER:
            pytest.fail("danlu.curate._blockscan is not built or is stale: reinstall danlu "
                        "(`make setup`, or `pip install -e .`)")
        pytest.skip("no C compiler: the extension was not built, danlu uses the Python path")


def python_path(minimal_html: str) -> tuple[list[str], list[bool], np.ndarray]:
    bs = B.blocks(minimal_html)
    x = B.features(bs) if bs else np.empty((0, len(B.FEATURES)))
    return [b.text for b in bs], [b.first_in_block for b in bs], x


def assert_same(minimal_html: str) -> None:
    fast = B.c_scanner().scan(minimal_html)
    assert fast is not None, f"declined {minimal_html[:200]!r}"
    texts, first, x = fast
    ref_texts, ref_first, ref_x = python_path(minimal_html)
    assert texts == ref_texts, minimal_html
    assert first.tolist() == ref_first, minimal_html
    assert x.shape == ref_x.shape
    for j, name in enumerate(B.FEATURES):
        np.testing.assert_allclose(x[:, j], ref_x[:, j], rtol=1e-12, atol=1e-12,
                                   err_msg=f"{name} of {minimal_html[:300]!r}")


CASES = [
    "",
    "<br>",
    "just loose text",
    "<h2>Title &amp; more</h2>\n\n<p>one <a href='x'>linked</a><br>\ntwo</p>\n\nloose line\n"
    "second loose\n<ul>\n  <li><a href='y'>all link</a></li>\n</ul>\n<pre>keep\n  this</pre>",
    "<P>Upper case tags</P><H3 class='x'>heading three</H3><h6>six</h6><Br/>after",
    "<ul><li>one<ul><li>nested <a href='a'>link</a></li></ul></li><li>two</li></ul>",
    "<p>unclosed <li>item</p> stray </li></h2>closing</ol>",
    "<a href='x'>a link\nacross lines\nof loose text</a>\nand after\n",
    "text ending in newline\n<p>para</p>",
    "  \n  <p>  </p>\n\n<p>\n</p>   spaces   \n",
    "<p>&amp;amp; &lt;b&gt; &quot;quoted&quot; a&amp;b</p>",
    "<param>not a tag</param><pref>nor this</pref><hr>nor <brr> this <p2>one</p2>",
    "<p>unterminated <a",
    "<p>broken < not a tag</p> a < b",
    "<p>ends with an open tag <p",
    "<p>\u3000ideographic\u00a0no-break\u2009thin\tspaces</p>",
    "<p>中文的文章内容，没有空格。日本語のテキストです。한국어 텍스트는 띄어 씁니다.</p>",
    "<p>emoji 🎉 and 𝕏 beyond the BMP</p><p>ΣΊΣΥΦΟΣ ΚΑΙ ΟΔΥΣΣΕΥΣ</p>",
    "<p>İmage 3 of 5</p><p>İstanbul Read more İ</p><p>image 3 of 5</p>",
    "<p>Read more</p><p>Share on Facebook</p><p>© 2024 Example. All rights reserved.</p>",
    "<p>Photo: Reuters</p><p>By Jane Doe</p><p>Posted 12.03.2024</p><p>2024-03-12 10:15</p>",
    "<p>March 3, 2024</p><p>3. März 2024</p><p>Stand:x</p><p>Stand: 12.03.</p><p>5 min read</p>",
    "<p>comments</p><p>commentsx</p><p>log in</p><p>login</p><p>sign up</p><p>Bild 3 von 7</p>",
    "<p>٣/١٢/٢٠٢٤ Arabic-Indic digits ١٢:٣٠</p><p>fig. 2</p><p>figure</p><p>fig</p>",
    "".join("<p>" + "中" * k + "</p>" for k in [1519, 4948, 7995, 6232, 4960, 1725, 3818, 7558]),
    "<li>" + "Read more about it " * 10 + "</li>",  # longer than the cue limit
    "<p>" + "word " * 200 + "</p>" + "<p>short one</p>" * 3,
    "<p>" + "A" * 300 + "</p><p>" + "Ab1, " * 80 + "</p>",
    "".join(f"<p>Paragraph {i}: honey bees use the position of the sun to navigate between the "
            f"hive and the flowers they visit, every day of the season.</p>" for i in range(6))
    + "<ul>" + "".join(f"<li><a href='/s/{i}'>Another story {i}</a></li>" for i in range(8)) + "</ul>",
]


@pytest.mark.parametrize("minimal_html", CASES)
def test_the_c_path_gives_the_python_blocks_and_features(minimal_html):
    assert_same(minimal_html)


def test_random_mixtures_of_tags_entities_cues_and_whitespace_agree():
    pieces = ["<p>", "</p>", "<h2>", "</h2>", "<li>", "</li>", "<ul>\n", "</ul>\n", "<pre>",
              "</pre>", "<a href='u'>", "</a>", "<br>", "\n", "\n\n", " ", "  ", "\t", "\u00a0",
              "&amp;", "&lt;", "&gt;", "&quot;", "word", "Word", "more words here.", "x,y;z!",
              "read more", "Share", "© 2023", "photo", "by", "12:30", "2021-01-02", "1.2.2020",
              "jan 3, 2020", "İ", "中文", "12345", "a" * 30, " ".join(["long"] * 30), "<H1>",
              "</H1>", "<ol>", "</ol>", "<", ">", "lesen sie auch", "Stand:", "comments"]
    rng = random.Random(15)
    for _ in range(400):
        assert_same("".join(rng.choice(pieces) for _ in range(rng.randint(1, 60))))


def test_real_gold_pages_give_the_same_blocks_features_and_text(shared_data):
    pages = load_gold(shared_data)
    model = B.shipped_model()
    for page in pages:
        tree = HTMLTree.parse(page.html)
        for main_content in (True, False):
            minimal_html = B.render(tree, main_content=main_content)
            assert_same(minimal_html)
            bs = B.blocks(minimal_html)
            python_text = B.joined(bs, model.keep(B.features(bs))) if bs else ""
            assert B.select(minimal_html, model) == python_text


def test_a_cue_match_too_deep_to_follow_declines_the_page(monkeypatch):
    nested = "^(?:" + "(?:" * 20 + "a" + "|bx)" * 20 + ")*x"  # backtracks deeper than the cap
    monkeypatch.setattr(B, "CUES", {**B.CUES, "date": nested})
    monkeypatch.setattr(B, "_CUES", [re.compile(p, re.MULTILINE) for p in B.CUES.values()])
    B.c_scanner.cache_clear()
    try:
        page = "<p>" + "a" * 100 + "x</p>"
        assert B.c_scanner().scan(page) is None
        assert B.c_scanner().scan("<p>short</p>") is not None
    finally:
        monkeypatch.undo()
        B.c_scanner.cache_clear()


def test_a_refused_configuration_changes_nothing():
    from danlu.curate import _blockscan

    scanner = B.c_scanner()
    before = scanner.scan(CASES[3])
    program, dispatch, entries = blockscan.compile_cues(list(B.CUES.values()), _blockscan)
    bad_entries = np.frombuffer(entries, np.int32).copy()
    bad_entries[1] = 10**8  # a program counter far past the program
    bad_program = np.frombuffer(program, np.int32).copy()
    bad_program[-1] = 99  # not an operation
    args = dict(classes=B._char_classes().tobytes(), dispatch=dispatch, n_cues=len(B.CUES),
                related=0, social=1, cue_chars=140, head=160, sentence_end=".",
                cjk_chars_per_word=1.5)
    with pytest.raises(ValueError, match="entry out of range"):
        _blockscan.configure(program=program, entries=bad_entries.tobytes(), **args)
    with pytest.raises(ValueError, match="malformed program"):
        _blockscan.configure(program=bad_program.tobytes(), entries=entries, **args)
    after = scanner.scan(CASES[3])
    assert after[0] == before[0] and np.array_equal(after[2], before[2])


@pytest.mark.parametrize("minimal_html", ["<p>a&nbsp;b</p>", "<p>&#169; 2020</p>",
                                          "<p>bare & ampersand</p>", "<lı>dotless</lı>"])
def test_input_it_cannot_match_exactly_is_declined_and_read_in_python(minimal_html):
    assert B.c_scanner().scan(minimal_html) is None
    model = B.shipped_model()
    texts, first, x = python_path(minimal_html)
    assert texts  # the Python path reads it
    assert B.select(minimal_html, model) == B._join(texts, first, model.keep(x))


def test_any_cue_regexes_of_the_supported_syntax_match_as_re_does(monkeypatch):
    cues = {  # other patterns under the same names: the feature layout stays
        "related": r"\bab+c?\b|^x{2,3}y|[^a-z \n]z|a.c",
        "social": r"(?:foo|fo)(?:o|)bar|\d+ \w[^\w\n][^\d\n]",
        "legal": r"^$|q",
        "caption": r"\Bin\b|(ab|a)*c",
        "byline": r"[a-cx-zä-ü0-9_]{2}\.$",
        "date": r"(\d{1,2}[./-]){2}\d{2,4}|\b(19|20)\d\d\b",
    }
    monkeypatch.setattr(B, "CUES", cues)
    monkeypatch.setattr(B, "_CUES", [re.compile(p, re.MULTILINE) for p in cues.values()])
    B.c_scanner.cache_clear()
    try:
        rng = random.Random(7)
        alphabet = "abcxyzq fo ba r _.-/1290ä\u00fc\u00e9Z!"
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
                 for _ in range(3000)]
        texts += ["abbc", "xxy", "xxxxy", "foobar", "fooobar", "12 a!xb", "q", "win", "abac",
                  "zz.", "äü.", "12.1.2020", "1999", "x1999"]
        for i in range(0, len(texts), 30):
            assert_same("".join(f"<p>{t}</p>" for t in texts[i:i + 30]))
    finally:
        monkeypatch.undo()
        B.c_scanner.cache_clear()
    assert B.c_scanner() is not None


@pytest.mark.parametrize("pattern", [r"(?i)read more", r"read(?= more)", r"(a)\1", r"a*?b",
                                     r"\Aread", r"x(?P<n>y)(?P=n)", r"read\smore", r"[^a]z",
                                     r"\W", "a\nb", r"(a?){3}b", r"(a*)+b", "οδος", "[ς]",
                                     "[α-ς]"])
def test_regex_syntax_the_matcher_lacks_is_refused(pattern):
    from danlu.curate import _blockscan

    with pytest.raises(blockscan.Unsupported):
        blockscan.compile_cues([pattern], _blockscan)


def test_a_stale_build_is_not_used(monkeypatch):
    monkeypatch.setattr(B, "FEATURES", (*B.FEATURES, "a_new_feature"))
    B.c_scanner.cache_clear()
    try:
        with pytest.warns(UserWarning, match="stale"):
            assert B.c_scanner() is None
        B.c_scanner.cache_clear()
        monkeypatch.setattr(B, "FEATURES", B.FEATURES[:-1])
        swapped = ("space", "punct", "digit", "letter", "upper", "cjk")  # bits that moved
        monkeypatch.setattr(blockscan, "CLASS_FLAGS", swapped)
        with pytest.warns(UserWarning, match="stale"):
            assert B.c_scanner() is None
    finally:
        monkeypatch.undo()
        B.c_scanner.cache_clear()
    assert B.c_scanner().scan("<p>text</p>") is not None


def test_cue_syntax_the_matcher_lacks_leaves_the_python_path(monkeypatch):
    monkeypatch.setattr(B, "CUES", {**B.CUES, "date": r"(?=\d)\d\d:\d\d"})
    B.c_scanner.cache_clear()
    try:
        with pytest.warns(UserWarning, match="using the Python path"):
            assert B.c_scanner() is None
    finally:
        monkeypatch.undo()
        B.c_scanner.cache_clear()


def test_lone_surrogates_are_declined():
    assert B.c_scanner().scan("<p>a\ud800b</p>") is None  # the Python path refuses them too
    with pytest.raises(UnicodeEncodeError):
        B.features(B.blocks("<p>a\ud800b</p>"))
