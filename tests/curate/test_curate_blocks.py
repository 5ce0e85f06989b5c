"""danlu's extractor: resiliparse's minimal HTML cut into blocks, their features, the shipped
logistic regression (JSON, no pickle), its training with a held-out split, and real gold pages."""

from __future__ import annotations

import json

import numpy as np
import pytest

from danlu import block_train
from danlu.block_train import (THRESHOLDS, GoldPage, PageBlocks, choose_threshold, fit, is_held_out,
                               labels, load_gold, quality, train)
from danlu.curate.blocks import (FEATURES, Block, BlockModel, blocks, extract_main_text, features,
                                 render, select, shipped_model)

TEASERS = "".join(f"<li><a href='/story/{i}'>Another story number {i}</a></li>" for i in range(8))
PAGE = (
    "<html><body><nav><ul><li><a href='/'>Home</a></li><li><a href='/news'>News</a></li></ul></nav>"
    "<main><article><h1>How bees find their way home</h1>"
    + "".join(f"<p>Paragraph {i}: honey bees use the position of the sun, polarised light and "
              "landmarks to navigate between the hive and the flowers they visit.</p>" for i in range(5))
    + "<p>Share this: <a href='/fb'>Facebook</a> <a href='/tw'>Twitter</a> <a href='/m'>Mail</a></p>"
    + f"<h3>Read more</h3><ul>{TEASERS}</ul>"
    + "</article></main><footer>Copyright 2024 Example Media. All rights reserved.</footer></body></html>"
)


def test_blocks_are_block_elements_and_br_lines_with_their_link_share():
    bs = blocks("<h2>Title &amp; more</h2>\n\n<p>one <a href='x'>linked</a><br>\ntwo</p>\n\n"
                "loose line\nsecond loose\n<ul>\n  <li><a href='y'>all link</a></li>\n</ul>\n"
                "<pre>keep\n  this</pre>")
    assert [(b.text, b.tag, b.first_in_block) for b in bs] == [
        ("Title & more", "h2", True), ("one linked", "p", True), ("two", "p", False),
        ("loose line", "", True), ("second loose", "", True), ("all link", "li", True),
        ("keep this", "pre", True)]
    assert [b.link_chars for b in bs] == [0, 6, 0, 0, 0, 8, 0]


def test_features_are_one_finite_row_per_block_and_read_the_cues():
    long_share = "A long paragraph that mentions sharing once " + "and goes on with ordinary words " * 5
    bs = [Block("Home", "li", 4, True), Block("A long sentence of ordinary words, ending well.", "p", 0, True),
          Block("Copyright 2024, all rights reserved", "", 0, True),
          Block("By Jane Doe, October 12, 2017", "", 0, True), Block("Photo: Getty Images", "", 0, True),
          Block("Read more", "h3", 0, True), Block("Share on Facebook", "li", 17, True),
          Block(long_share, "p", 0, True), Block("1998 – 2024", "h1", 0, True)]
    x = features(bs)
    assert x.shape == (9, len(FEATURES)) and np.isfinite(x).all()
    col = {name: i for i, name in enumerate(FEATURES)}

    def column(name: str) -> list[float]:
        return x[:, col[name]].tolist()

    assert column("link_density")[:3] == [1.0, 0.0, 0.0]
    assert column("ends_sentence")[:3] == [0.0, 1.0, 0.0]
    assert column("log_words")[:3] == pytest.approx(np.log1p([1, 8, 5]).tolist())
    assert column("punct_per_word")[:3] == pytest.approx([0.0, 2 / 8, 1 / 5])
    assert column("digit_ratio")[2] == pytest.approx(4 / len("Copyright 2024, all rights reserved"))
    assert column("upper_start_ratio")[:4] == pytest.approx([1.0, 1 / 8, 1 / 5, 4 / 6])
    assert column("cue_legal") == [0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert column("cue_date") == [0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert column("cue_byline") == [0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert column("cue_caption") == [0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert column("cue_related") == [0, 0, 0, 0, 0, 1, 0, 0, 0]
    assert column("cue_social") == [0, 0, 0, 0, 0, 0, 1, 0, 0]  # not in a long paragraph
    assert column("no_letters") == [0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert column("tag_li") == [1, 0, 0, 0, 0, 0, 1, 0, 0] and column("tag_h1")[-1] == 1
    assert features([]).shape == (0, len(FEATURES))


def test_features_place_each_block_against_the_long_paragraphs_and_count_cjk_words():
    prose = ("An ordinary sentence with enough plain words to count as part of a long paragraph " * 2).strip()
    chinese = "这是一个很长的中文段落没有空格但是它的字数足够多所以应该被当作一个长段落来计算" * 2
    bs = [Block("Menu", "li", 4, True), Block(prose, "p", 0, True), Block("Read more", "h3", 0, True),
          Block("A teaser", "li", 8, True), Block(chinese, "p", 0, True), Block("Imprint", "", 0, True)]
    x = features(bs)
    col = {name: i for i, name in enumerate(FEATURES)}
    words = [1, prose.count(" ") + 1, 2, 2, 1 + len(chinese) / 1.5, 1]  # a CJK character: 1/1.5 word
    assert x[:, col["log_words"]] == pytest.approx(np.log1p(words))
    long_words = [0, words[1], 0, 0, words[4], 0]
    before = np.cumsum(long_words) - long_words
    assert x[:, col["long_words_before"]] == pytest.approx(np.log1p(before))
    assert x[:, col["long_words_after"]] == pytest.approx(np.log1p(sum(long_words) - before - long_words))
    assert x[:, col["to_nearest_long"]] == pytest.approx(np.log1p([1, 0, 1, 1, 0, 1]))
    assert x[:, col["after_cue"]].tolist() == [0, 0, 1, 1, 1, 1]  # from "Read more" on
    assert x[:, col["before_last_long"]].tolist() == [1, 1, 1, 1, 1, 0]


def test_cues_stay_on_their_block_when_lowercasing_changes_lengths_and_korean_is_spaced():
    x = features([Block("İSTANBUL İZMİR İNEBOLU İĞNEADA İSKENDERUN", "p", 0, True), Block("ab share", "li", 0, True),
                  Block("Menü", "li", 0, True)])
    assert x[:, FEATURES.index("cue_social")].tolist() == [0, 1, 0]  # "İ".lower() is 2 characters
    korean = "안녕하세요 여러분 오늘은 정말 좋은 날입니다"  # Korean puts spaces between words
    assert features([Block(korean, "p", 0, True)])[0, FEATURES.index("log_words")] == pytest.approx(np.log1p(6))


def test_keep_is_the_score_against_the_threshold():
    rng = np.random.default_rng(1)
    x = rng.normal(scale=3, size=(2000, len(FEATURES)))
    for threshold in (0.0, 0.3, 0.6, 1.0):
        model = BlockModel(rng.normal(size=len(FEATURES)), rng.normal(size=len(FEATURES)),
                           rng.uniform(0.5, 2, size=len(FEATURES)), threshold)
        assert (model.keep(x) == (model.scores(x) >= threshold)).all()


def test_comment_sections_and_figure_captions_are_not_rendered():
    paragraph = "<p>" + "Honey bees navigate by the sun and by landmarks near the hive. " * 4 + "</p>"
    page = ("<html><body><article>" + paragraph * 3
            + "<figure><img src='b.jpg'><figcaption>A bee on a flower, Getty Images</figcaption></figure>"
            + "<p class='wp-caption-text'>Another caption under a picture</p>" + paragraph
            + "</article><section id='comments' class='comments'><h3>3 comments</h3>"
            + "<div class='comment'><p>Great article, thanks for writing it up for us all!</p></div>"
            + "</section></body></html>")
    text = render(page, main_content=True)
    assert "Honey bees navigate" in text
    for left_out in ("Getty Images", "Another caption", "Great article"):
        assert left_out not in text


def test_the_shipped_model_keeps_the_article_and_drops_menus_teasers_and_footer():
    text = extract_main_text(PAGE)
    assert all(f"Paragraph {i}: honey bees" in text for i in range(5))
    for boilerplate in ("Another story number", "Facebook", "All rights reserved", "News"):
        assert boilerplate not in text
    assert text == extract_main_text(PAGE)  # deterministic


def test_a_page_without_main_content_is_read_whole_and_an_empty_page_is_empty():
    assert extract_main_text("<html><body></body></html>") == ""
    bare = "<div>" + " ".join(["Plain words in a bare div make a sentence."] * 8) + "</div>"
    assert "Plain words in a bare div" in extract_main_text(bare)


def test_the_model_is_json_and_refuses_other_features(tmp_path):
    model = shipped_model()
    data = json.loads(json.dumps(model.to_json()))
    again = BlockModel.from_json(data)
    x = features(blocks(render(PAGE, main_content=True)))
    assert np.allclose(again.scores(x), model.scores(x), atol=1e-4)
    with pytest.raises(ValueError, match="retrain with danlu.block_train"):
        BlockModel.from_json({**data, "features": data["features"][:-1]})


def test_fit_learns_a_separable_rule_and_the_threshold_selects():
    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(400), rng.normal(size=(400, len(FEATURES) - 1))])
    y = (x[:, 1] > 0).astype(np.float64)
    model = fit(x, y, np.ones(400))
    assert ((model.scores(x) >= 0.5) == (y == 1)).mean() > 0.97
    keep_all = BlockModel(np.zeros(len(FEATURES)), np.zeros(len(FEATURES)), np.ones(len(FEATURES)), 0.5)
    assert select("<p>a<br>b</p>", keep_all) == "a\nb"


def test_labels_come_from_the_gold_snippets_and_the_article_body():
    bs = [Block("The main story text is here.", "p", 0, True), Block("Subscribe now", "p", 0, True),
          Block("Unrelated line", "", 0, True)]
    snippets = GoldPage("trafilatura-eval", "u", "", ["main story text"], ["Subscribe now"], "")
    assert labels(snippets, bs).tolist() == [1, 0, -1]
    body = GoldPage("aeb", "id", "", [], [], "Intro. The main story text is here. More.")
    assert labels(body, bs).tolist() == [1, 0, 0]


def test_the_held_out_half_is_stable_and_about_half():
    keys = [f"https://example.com/{i}" for i in range(2000)]
    share = sum(map(is_held_out, keys)) / len(keys)
    assert 0.45 < share < 0.55
    assert [is_held_out(k) for k in keys[:50]] == [is_held_out(k) for k in keys[:50]]


def _snippets_found(pages: list[GoldPage], extract) -> tuple[int, int]:
    """(main-text snippets found, boilerplate snippets kept) over the pages."""
    found = kept = 0
    for page in pages:
        text = " ".join(extract(page.html).split())
        found += sum(" ".join(s.split()) in text for s in page.with_)
        kept += sum(" ".join(s.split()) in text for s in page.without)
    return found, kept


@pytest.fixture(scope="module")
def gold(shared_data) -> list[GoldPage]:
    return load_gold(shared_data, limit=160)


def test_on_real_held_out_pages_it_keeps_far_less_boilerplate_than_resiliparse(gold):
    from resiliparse.extract.html2text import extract_plain_text

    held_out = [p for p in gold if p.held_out and p.dataset == "trafilatura-eval"]
    found, kept = _snippets_found(held_out, extract_main_text)  # the shipped model
    base_found, base_kept = _snippets_found(
        held_out, lambda h: extract_plain_text(h, main_content=True, alt_texts=False))
    assert kept < 0.6 * base_kept
    assert found > 0.9 * base_found


def test_training_on_the_other_half_learns_to_drop_boilerplate(gold):
    model = train(gold)  # the held-out half is left out
    held_out = [p for p in gold if p.held_out and p.dataset == "trafilatura-eval"]
    keep_all = BlockModel(np.zeros(len(FEATURES)), np.zeros(len(FEATURES)), np.ones(len(FEATURES)), 0.0)
    found, kept = _snippets_found(held_out, lambda h: extract_main_text(h, model))
    all_found, all_kept = _snippets_found(held_out, lambda h: extract_main_text(h, keep_all))
    assert kept < 0.7 * all_kept and found > 0.85 * all_found


def test_the_threshold_is_the_best_one_in_cross_validation(monkeypatch):
    items = [PageBlocks(GoldPage("aeb", f"page-{i}", "", [], [], ""), [], np.zeros((0, 1)), np.zeros(0))
             for i in range(40)]
    fitted = []
    monkeypatch.setattr(block_train, "fit_pages", lambda train: fitted.append(len(train)) or None)
    # snippet F1 peaks at 0.55, AEB F1 falls slowly: their sum is best at 0.55
    monkeypatch.setattr(block_train, "quality",
                        lambda scored, model, t: (1 - abs(t - 0.55), 0.9 - 0.1 * t))
    assert choose_threshold(items, folds=4) == 0.55
    assert len(fitted) == 4 and sum(fitted) == 3 * len(items)  # every page left out once
    assert 0.55 in THRESHOLDS


def test_quality_scores_the_kept_blocks_of_each_gold_set():
    snippets = GoldPage("trafilatura-eval", "u", "", ["main story"], ["Subscribe now"], "")
    body = GoldPage("aeb", "id", "", [], [], "The main story text is here.")
    bs = [Block("The main story text is here.", "p", 0, True), Block("Subscribe now", "p", 0, True)]
    x = np.zeros((2, len(FEATURES)))
    x[:, FEATURES.index("log_words")] = [1.0, -1.0]
    model = BlockModel(np.eye(len(FEATURES))[FEATURES.index("log_words")] * 10, np.zeros(len(FEATURES)),
                       np.ones(len(FEATURES)), 0.5)
    items = [PageBlocks(snippets, bs, x, labels(snippets, bs)), PageBlocks(body, bs, x, labels(body, bs))]
    assert quality(items, model, 0.5) == (1.0, 1.0)  # the first block only: all found, none leaked
    snippet_f1, aeb_f1 = quality(items, model, 0.0)  # both blocks
    assert snippet_f1 == pytest.approx(2 / 3) and aeb_f1 == pytest.approx(2 * 0.75 / 1.75)  # 6 of 8 words


def test_quality_reads_the_whole_page_when_no_main_block_is_kept():
    body = GoldPage("aeb", "id", "", [], [], "The main story text is here.")
    menu = [Block("Home News Sport", "li", 15, True)]
    whole = [Block("The main story text is here.", "p", 0, True)]
    x_menu, x_whole = np.zeros((1, len(FEATURES))), np.zeros((1, len(FEATURES)))
    x_menu[0, FEATURES.index("log_words")], x_whole[0, FEATURES.index("log_words")] = -1.0, 1.0
    model = BlockModel(np.eye(len(FEATURES))[FEATURES.index("log_words")] * 10, np.zeros(len(FEATURES)),
                       np.ones(len(FEATURES)), 0.5)
    item = PageBlocks(body, menu, x_menu, labels(body, menu), (whole, x_whole))
    assert quality([item], model, 0.5) == (0.0, 1.0)  # no trafilatura-eval page; the body found
