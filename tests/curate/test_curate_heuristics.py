"""Gopher repetition, C4, FineWeb and URL-blocklist rules: each at and just past its threshold,
CJK text kept by the word-based rules, every rule switchable, and the bundled sample's crawl."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from danlu.config import CurateConfig
from danlu.curate.run import curate
from danlu.curate.document import Document, Provenance
from danlu.curate.filters.c4 import CurlyBrace, LoremIpsum, MinSentences, PolicyLines
from danlu.curate.filters.fineweb import CharDuplicatesRatio, NewLineRatio, ShortLineRatio
from danlu.curate.filters.repetition import (
    DuplicateLineChars,
    DuplicateNgramChars,
    DuplicateParagraphChars,
    DuplicateParagraphs,
    TopNgramChars,
    WordNgrams,
)
from danlu.curate.filters.c4 import TerminalPunctuationLines
from danlu.curate.filters.urls import UrlBlocklist, read_blocklist
from danlu.curate.steps import corpus_steps
from danlu.curate.steps import shard_filters as build_filters
from danlu.errors import DataError
from danlu.sample.bundle import restore

# Distinct letter-only words, so no accidental repeats.
WORDS = ["".join(p) for p in itertools.product("bcdfghjklm", "aeiou", "nprst")]
CHINESE = (
    "今天早上我去公园散步。天气很好，阳光明媚。湖边有很多老人在打太极拳！"
    "孩子们在草地上放风筝，笑声不断。我买了一杯热茶，坐在长椅上看书？"
    "中午回家以后，妈妈做了红烧鱼和青菜汤。下午我整理房间，又给朋友写了一封信。"
    "晚上全家一起看电影，大家都觉得故事很感人。"
)
JAPANESE = "私は毎朝駅まで歩きます。途中で小さなパン屋に寄ります。店主はいつも笑顔です。"


def make_doc(text: str, url: str | None = None) -> Document:
    return Document("t/1", "test", url, text, Provenance("test", "line 1", 0), len(text))


def blocks(n_unique: int, n_repeats: int, sep: str) -> str:
    """n_unique distinct 100-char blocks, then n_repeats copies of the first one."""
    unique = ["abcdefghijkl"[i] * 100 for i in range(n_unique)]
    return sep.join(unique + [unique[0]] * n_repeats)


# --- Gopher repetition ---------------------------------------------------------------------


def test_duplicate_paragraph_fraction_at_and_over() -> None:
    rule = DuplicateParagraphs(0.30)
    assert rule.check(make_doc(blocks(7, 3, "\n\n"))) is None  # 3/10 = 0.30 is allowed
    assert "0.400 > max_duplicate_paragraph_fraction=0.3" in rule.check(make_doc(blocks(6, 4, "\n\n")))


def test_duplicate_paragraph_chars_just_under_and_over() -> None:
    rule = DuplicateParagraphChars(0.20)
    assert rule.check(make_doc(blocks(8, 2, "\n\n"))) is None  # 200 / 1018 = 0.196
    assert rule.check(make_doc(blocks(7, 3, "\n\n"))) is not None  # 300 / 1018


def test_duplicate_line_chars_just_under_and_over() -> None:
    rule = DuplicateLineChars(0.20)
    assert rule.check(make_doc(blocks(8, 2, "\n"))) is None  # 200 / 1009 = 0.198
    assert "characters in duplicate lines" in rule.check(make_doc(blocks(7, 3, "\n")))


def naive_top_chars(words: list[str], n: int) -> int:
    grams = Counter(tuple(w.lower() for w in words[i : i + n]) for i in range(len(words) - n + 1))
    gram, count = grams.most_common(1)[0]
    return count * sum(map(len, gram))


def naive_duplicate_chars(words: list[str], n: int) -> int:
    seen, covered = set(), set()
    for i in range(len(words) - n + 1):
        gram = tuple(w.lower() for w in words[i : i + n])
        if gram in seen:
            covered.update(range(i, i + n))
        seen.add(gram)
    return sum(len(words[i]) for i in covered)


@pytest.mark.parametrize("seed", range(5))
def test_ngram_index_matches_a_naive_count(seed: int) -> None:
    rng = random.Random(seed)
    words = [rng.choice(WORDS[:30]) for _ in range(400)] + ["Planted", "phrase", "here"] * 20
    rng.shuffle(words)
    words += ["planted", "PHRASE", "here"] * 30  # case-folded: the same trigram
    index = WordNgrams(words)
    for n in (2, 3, 4):
        if n == 3:
            assert index.top_ngram_chars(n) == naive_top_chars(words, n)
    for n in range(2, 11):
        assert index.duplicate_ngram_chars(n) == naive_duplicate_chars(words, n), n


def stuffed(n_unique: int, n_phrases: int) -> str:
    return " ".join(WORDS[:n_unique] + ["alpha beta"] * n_phrases)


def test_top_ngram_chars_at_threshold() -> None:
    text = stuffed(100, 25)  # 25 x "alphabeta" = 225 chars of 774
    fraction = 225 / len(text)
    assert TopNgramChars(2, round(fraction, 4) + 0.0001).check(make_doc(text)) is None
    detail = TopNgramChars(2, 0.20).check(make_doc(stuffed(100, 40)))
    assert "most frequent 2-gram" in detail and "[2]=0.2" in detail
    assert TopNgramChars(2, 0.20).name == "top_2gram_chars"


def test_duplicate_ngram_chars_at_threshold() -> None:
    sentence = WORDS[200:206]  # one 6-word sentence, copied
    text = " ".join(WORDS[:120] + sentence + sentence)
    repeated = sum(map(len, sentence)) - 0  # the second copy's words
    fraction = repeated / len(text)
    assert DuplicateNgramChars(5, fraction).check(make_doc(text)) is None
    assert DuplicateNgramChars(5, fraction - 0.001).check(make_doc(text)) is not None
    assert DuplicateNgramChars(7, 0.0).check(make_doc(text)) is None  # no 7-gram repeats


# --- C4 ---------------------------------------------------------------------------------------


def test_lorem_ipsum_and_curly_brace() -> None:
    assert LoremIpsum().check(make_doc("Text. LOREM Ipsum dolor sit amet.")) is not None
    assert LoremIpsum().check(make_doc("Lorem is a name; ipsum is not near it.")) is None
    assert CurlyBrace().check(make_doc("d = {'a': 1}")) == "contains '{'"
    assert CurlyBrace().check(make_doc("d = dict(a=1)")) is None


def test_min_sentences_counts_terminal_punctuation_not_dots_in_code() -> None:
    rule = MinSentences(5)
    assert rule.check(make_doc('One. Two! Three? "Four." Five...')) is None
    assert rule.check(make_doc("One. Two! Three? Use os.path.join and 3.14 here. Four")) == (
        "4 sentences < min_sentences=5"
    )
    assert rule.check(make_doc(CHINESE)) is None


def test_policy_lines_share() -> None:
    rule = PolicyLines(0.5)
    ok = "Please enable JavaScript.\nWe use cookies.\nA real line.\nAnother real line."
    assert rule.check(make_doc(ok)) is None  # 2/4 = 0.5 is allowed
    bad = "Please enable JavaScript.\nSee our Privacy Policy.\nTerms of Use apply.\nReal line."
    assert "0.750 > max_policy_line_fraction=0.5" in rule.check(make_doc(bad))


# --- FineWeb ----------------------------------------------------------------------------------


def punct_lines(n_ending: int, n_total: int) -> str:
    return "\n".join(f"line {i} ends here" + ("." if i < n_ending else "") for i in range(n_total))


def test_line_punct_ratio_at_and_under() -> None:
    rule = TerminalPunctuationLines("line_punct_ratio", 0.12, "min_line_punct_ratio")
    assert rule.check(make_doc(punct_lines(3, 25))) is None  # 0.12 is allowed
    assert "0.080 < min_line_punct_ratio=0.12" in rule.check(make_doc(punct_lines(2, 25)))
    assert rule.check(make_doc(CHINESE.replace("。", "。\n"))) is None


def test_short_line_ratio() -> None:
    rule = ShortLineRatio(0.67, 30)
    long = "a line that is longer than thirty characters"
    assert rule.check(make_doc(f"short\nshort too\n{long}")) is None  # 2/3 = 0.667
    assert rule.check(make_doc(f"a\nb\nc\n{long}")) is not None  # 3/4


def test_char_duplicates_ratio_and_new_line_ratio() -> None:
    text = "x" * 990 + "\nabcdefghij\nabcdefghij"  # 10 repeated of 1010 characters
    assert CharDuplicatesRatio(0.01).check(make_doc(text)) is None
    assert CharDuplicatesRatio(0.0099).check(make_doc(text)) is not None
    assert NewLineRatio(0.3).check(make_doc("a b c\nd e f g\nh i j")) is None  # 2/10
    assert NewLineRatio(0.3).check(make_doc("a\nb\nc d\ne")) is not None  # 3/5


# --- CJK, the whole default set ---------------------------------------------------------------


@pytest.mark.parametrize("text", [CHINESE, JAPANESE + CHINESE])
def test_cjk_text_passes_the_new_default_rules(curate_cfg: CurateConfig, text: str) -> None:
    cfg = all_on(curate_cfg)
    new = [f for f in build_filters(cfg) if f.name in new_rule_names(cfg)]
    assert {f.check(make_doc(text)) for f in new if f.name != "curly_brace"} == {None}


def all_on(cfg: CurateConfig) -> CurateConfig:
    """Every rule on at its published threshold, including the ones params.yaml turns off."""
    rep = cfg.gopher_repetition.model_copy(update={"max_duplicate_ngram_char_fraction": {
        5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}})
    fw = cfg.fineweb.model_copy(update={"max_char_duplicates_ratio": 0.01, "max_new_line_ratio": 0.3})
    c4 = cfg.c4.model_copy(update={"curly_brace": True, "min_terminal_punct_line_fraction": 0.5})
    return cfg.model_copy(update={"gopher_repetition": rep, "fineweb": fw, "c4": c4})


def new_rule_names(cfg: CurateConfig) -> set[str]:
    off = cfg.model_copy(update={f: getattr(cfg, f).model_copy(update={"enabled": False})
                                 for f in ("gopher_repetition", "c4", "fineweb")})
    return {f.name for f in build_filters(cfg)} - {f.name for f in build_filters(off)}


# --- switches ---------------------------------------------------------------------------------


def names(cfg: CurateConfig) -> list[str]:
    """Every step that can drop a document: each shard's filters, then the corpus-wide ones."""
    return [f.name for f in build_filters(cfg)] + corpus_steps(cfg, ["crawl"])


def test_default_order_and_names(curate_cfg: CurateConfig) -> None:
    steps = names(curate_cfg)
    assert steps.index("top_word_fraction") < steps.index("lorem_ipsum") < steps.index(
        "line_punct_ratio") < steps.index("duplicate_paragraphs") < steps.index("exact_duplicate")
    assert "curly_brace" not in steps and "c4_terminal_punct_lines" not in steps
    assert "duplicate_5gram_chars" not in steps and "char_duplicates_ratio" not in steps
    assert {"top_2gram_chars", "top_3gram_chars", "top_4gram_chars", "min_sentences"} <= set(steps)
    assert len(steps) == len(set(steps))  # a drop reason names one rule


def test_every_switch_off_leaves_extraction_and_language_id_only(curate_cfg: CurateConfig) -> None:
    """The raw variant of an ablation: no rule, no dedup, no classifier."""
    off = curate_cfg.model_copy(update={
        **{f: getattr(curate_cfg, f).model_copy(update={"enabled": False})
           for f in ("filters", "gopher_repetition", "c4", "fineweb", "link_lists", "near_dedup",
                     "quality")},
        "exact_dedup": False})
    assert names(off) == ["empty", "language"]
    assert "top_word_fraction" in names(curate_cfg)


def test_all_published_rules_can_be_on(curate_cfg: CurateConfig) -> None:
    steps = names(all_on(curate_cfg))
    assert {f"duplicate_{n}gram_chars" for n in range(5, 11)} <= set(steps)
    assert {"curly_brace", "c4_terminal_punct_lines", "char_duplicates_ratio", "new_line_ratio"} <= set(steps)


@pytest.mark.parametrize(
    ("section", "key", "value", "rule"),
    [
        ("gopher_repetition", "max_duplicate_paragraph_fraction", None, "duplicate_paragraphs"),
        ("gopher_repetition", "max_duplicate_paragraph_char_fraction", None, "duplicate_paragraph_chars"),
        ("gopher_repetition", "max_duplicate_line_char_fraction", None, "duplicate_line_chars"),
        ("gopher_repetition", "max_top_ngram_char_fraction", {3: 0.18, 4: 0.16}, "top_2gram_chars"),
        ("c4", "lorem_ipsum", False, "lorem_ipsum"),
        ("c4", "min_sentences", None, "min_sentences"),
        ("c4", "max_policy_line_fraction", None, "policy_lines"),
        ("fineweb", "min_line_punct_ratio", None, "line_punct_ratio"),
        ("fineweb", "max_short_line_ratio", None, "short_line_ratio"),
    ],
)
def test_each_rule_switches_off(curate_cfg: CurateConfig, section: str, key: str, value, rule: str) -> None:
    assert rule in names(curate_cfg)
    part = getattr(curate_cfg, section).model_copy(update={key: value})
    steps = names(curate_cfg.model_copy(update={section: part}))
    assert rule not in steps and len(steps) == len(names(curate_cfg)) - 1


@pytest.mark.parametrize("section", ["gopher_repetition", "c4", "fineweb"])
def test_each_family_switches_off(curate_cfg: CurateConfig, section: str) -> None:
    part = getattr(curate_cfg, section).model_copy(update={"enabled": False})
    off = names(curate_cfg.model_copy(update={section: part}))
    assert len(off) < len(names(curate_cfg))
    assert "exact_duplicate" in off and "top_word_fraction" in off


# --- URL blocklist ----------------------------------------------------------------------------


@pytest.fixture
def blocklist(tmp_path: Path) -> Path:
    path = tmp_path / "blocked.txt"
    path.write_text("# spam farms\nexample.com   # and every subdomain\n\nSpam.Org.\n", encoding="utf-8")
    return path


def test_blocklist_reads_domains_and_skips_comments(blocklist: Path) -> None:
    assert read_blocklist(blocklist) == {"example.com", "spam.org"}


@pytest.mark.parametrize(
    ("url", "dropped"),
    [
        ("https://example.com/a", True),
        ("http://news.a.EXAMPLE.com:8080/x?y=1", True),
        ("https://spam.org", True),
        ("https://notexample.com/", False),
        ("https://example.com.evil.net/", False),
        ("https://example.org/", False),
        (None, False),
    ],
)
def test_blocklist_matches_host_and_subdomains(blocklist: Path, url: str | None, dropped: bool) -> None:
    detail = UrlBlocklist(read_blocklist(blocklist)).check(make_doc("text", url))
    assert (detail is not None) == dropped, detail


def test_blocklist_wired_and_missing_file_names_path(curate_cfg: CurateConfig, blocklist: Path,
                                                      tmp_path: Path) -> None:
    assert "url_blocklist" not in names(curate_cfg)
    assert "url_blocklist" in names(curate_cfg.model_copy(update={"url_blocklist": str(blocklist)}))
    missing = tmp_path / "nope" / "blocked.txt"
    cfg = curate_cfg.model_copy(update={"url_blocklist": str(missing)})
    with pytest.raises(DataError, match=str(missing)):
        build_filters(cfg)
    (tmp_path / "in.jsonl").write_text('{"text": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="url_blocklist"):
        curate(cfg, {"crawl": [tmp_path / "in.jsonl"]}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- the bundled sample -----------------------------------------------------------------------

# Before these rules, curate kept 270 of the sample's 290 articles (0.931); with params.yaml's
# defaults it keeps 246 (0.848): see docs/LOG.md. A drop below 0.8 means a rule misfires on prose.
MIN_ARTICLE_KEPT = 0.8


def test_sample_keeps_articles_and_drops_spam(curate_cfg: CurateConfig, tmp_path: Path) -> None:
    data = restore(tmp_path / "data")
    result = curate(curate_cfg, {"crawl": [data / "crawl"]}, tmp_path / "out")
    truth = {t["url"]: t["kind"] for t in json.loads((data / "manifest.json").read_text())["crawl_truth"]}
    kept = Counter(truth[u] for u in pq.read_table(result.documents, columns=["url"]).column("url").to_pylist())
    total = Counter(truth.values())
    assert kept["article"] / total["article"] >= MIN_ARTICLE_KEPT, kept
    for kind in ("spam", "boilerplate", "non_english", "exact_duplicate", "non_html"):
        assert kept[kind] == 0, kind
    dropped = result.stats["dropped"]
    assert set(new_rule_names(curate_cfg)) <= set(dropped)  # every rule reports, even at 0


# --- link farms ---------------------------------------------------------------------------


def test_a_line_listing_bare_urls_is_a_link_farm() -> None:
    from danlu.curate.filters.links import LinkLists

    rule = LinkLists(max_urls_per_line=4, max_url_char_fraction=0.3)
    prose = "We make rubber processing aids for the whole industry. " * 8
    farm = prose + "\nhttp://a.cn | http://www.a.cn | http://m.a.cn | http://wap.a.cn | http://b.a.cn"
    assert rule.check(make_doc(farm)) == "a line with 5 URLs > max_urls_per_line=4"
    four = prose + "\nhttp://a.cn | http://www.a.cn | http://m.a.cn | http://wap.a.cn"
    assert rule.check(make_doc(four)) is None
    references = prose + "".join(f"\n[{i}] See https://example.org/paper/{i}" for i in range(6))
    assert rule.check(make_doc(references)) is None  # one URL a line, in prose: kept
    listing = "Links:\n" + "\n".join(f"www.site{i}.example/page" for i in range(6))
    assert rule.check(make_doc(listing)).startswith("URL characters ")
    one_long = "Sign the petition, please:\nhttps://www.openpetition.de/petition/online/" + "x" * 80
    assert rule.check(make_doc(one_long)) is None  # a single link in a short post


def test_link_lists_switch_off(curate_cfg: CurateConfig) -> None:
    assert "link_lists" in names(curate_cfg)
    off = curate_cfg.model_copy(update={
        "link_lists": curate_cfg.link_lists.model_copy(update={"enabled": False})})
    assert "link_lists" not in names(off)


def test_the_real_crawls_link_farm_is_dropped(shared_data: Path, tmp_path: Path) -> None:
    """The one page of the Common Crawl excerpt that passed every other rule lists its
    network's hosts (http://ffp5727.cn | http://www.ffp5727.cn | ...)."""
    import pyarrow.parquet as pq

    from danlu.config import load_config
    from danlu.curate.run import curate
    from danlu.curate.stage import settings

    cfg = load_config(Path(__file__).resolve().parents[2] / "params.yaml",
                      ["curate.quality.enabled=false"])
    result = curate(settings(cfg), {"crawl": [shared_data / "resiliparse-warc"]}, tmp_path / "out")
    dropped = [r for f in sorted((tmp_path / "out" / "dropped").glob("*.parquet"))
               for r in pq.read_table(f).to_pylist()]
    farm = [r for r in dropped if r["url"] == "http://037426.cn/"]
    assert [r["reason"] for r in farm] == ["link_lists"]
    assert result.metrics()["kept"] == 0
