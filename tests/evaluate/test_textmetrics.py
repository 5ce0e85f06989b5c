import math
import unicodedata

import pytest
from rouge_score import rouge_scorer

from danlu.errors import ConfigError, DataError
from danlu.evaluate.similarity import exact_match, rouge_l_f1, token_f1, words
from danlu.evaluate.textmetrics import METRICS, generation_metrics, per_item_scores

# sacrebleu's README example: three replies, two reference sets.
SYSTEM = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
REFS_A = ["The dog bit the man.", "It was not unexpected.", "The man bit him first."]
REFS_B = ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."]
PER_ITEM = [[a, b] for a, b in zip(REFS_A, REFS_B)]


def rouge_score_default(prediction: str, reference: str) -> float:
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    return scorer.score(reference, prediction)["rougeL"].fmeasure


def test_words_keep_every_script_and_drop_punctuation():
    assert words("Paris, FRANCE! snake_case") == ["paris", "france", "snake", "case"]
    assert words("猫坐在垫子上。") == ["猫", "坐", "在", "垫", "子", "上"]
    assert words("고양이가 좋아") == ["고", "양", "이", "가", "좋", "아"]
    assert words("ΕΛΛΆΔΑ Ελλάδα") == ["ελλάδα", "ελλάδα"]
    # Decomposed accents and Hindi vowel signs stay inside their word.
    assert words(unicodedata.normalize("NFD", "Příliš žluťoučký")) == ["příliš", "žluťoučký"]
    assert words("हिन्दी भाषा") == ["हिन्दी", "भाषा"]


@pytest.mark.parametrize("prediction, reference", [
    ("The cat sat on the mat.", "the cat is on the mat"),
    ("Don't stop: 3.14 > 2, OK?", "don t STOP 3 14 ok"),
    ("a b c d e f", "f e d c b a"),
    ("snake_case and CamelCase", "snake case and camelcase!"),
    ("It wasn't surprising.", "No one was surprised."),
])
def test_rouge_l_equals_rouge_score_on_english(prediction, reference):
    assert rouge_l_f1(prediction, reference) == pytest.approx(
        rouge_score_default(prediction, reference), abs=1e-12)


def test_rouge_l_scores_chinese_and_greek_where_rouge_score_gives_zero():
    # 猫坐在__上 is the longest common subsequence: 4 of 6 characters each side.
    assert rouge_score_default("猫坐在垫子上", "猫坐在地毯上") == 0.0
    assert rouge_l_f1("猫坐在垫子上", "猫坐在地毯上") == pytest.approx(4 / 6)
    assert rouge_score_default("Καλημέρα κόσμε", "καλημέρα φίλε") == 0.0
    assert rouge_l_f1("Καλημέρα κόσμε", "καλημέρα φίλε") == pytest.approx(0.5)


def test_rouge_l_on_czech_matches_whole_words():
    # rouge-score cuts "žluťoučký kůň" into lu/ou/k/k; here it is two words, one shared.
    assert rouge_score_default("žluťoučký kůň", "žlutý kůň") == pytest.approx(1 / 3)
    assert rouge_l_f1("žluťoučký kůň", "žlutý kůň") == pytest.approx(0.5)
    assert rouge_l_f1(unicodedata.normalize("NFD", "Žluťoučký kůň"), "žluťoučký kůň") == 1.0


def test_exact_match_and_token_f1():
    assert exact_match("  Paris\n", "Paris") == 1.0
    assert exact_match("paris", "Paris") == 0.0
    assert exact_match("paris", "Paris", ignore_case=True) == 1.0
    # SQuAD style: "big cat" shared, 2 of 3 predicted words and 2 of 4 reference words.
    precision, recall = 2 / 3, 2 / 4
    assert token_f1("the big cat", "a big cat sat") == pytest.approx(
        2 * precision * recall / (precision + recall))
    assert token_f1("北京", "北京市") == pytest.approx(0.8)
    assert token_f1("", "") == 1.0 and rouge_l_f1("", "") == 1.0 and rouge_l_f1("x", "") == 0.0


def test_corpus_bleu_and_chrf_match_sacrebleu_readme_with_signatures():
    scores, signatures = generation_metrics(SYSTEM, PER_ITEM, ["bleu", "chrf"])
    assert scores["bleu"] == pytest.approx(48.53, abs=0.005)
    assert scores["chrf"] == pytest.approx(59.73, abs=0.005)
    assert signatures["bleu"].startswith("nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert signatures["chrf"].startswith("nrefs:2|case:mixed|eff:yes|nc:6|nw:0|space:no|")


def test_bleu_tokenizer_is_chosen_and_signed():
    scores, signatures = generation_metrics(["猫坐在垫子上"], [["猫坐在地毯上"]], ["bleu"],
                                            bleu_tokenize="zh")
    assert "tok:zh" in signatures["bleu"] and "nrefs:1" in signatures["bleu"]
    # Character n-grams shared: 猫坐在上 4/6, 猫坐 坐在 2/5, 猫坐在 1/4, and none of 3 four-grams,
    # which exp smoothing counts as 1/(2*3); BP 1.
    assert scores["bleu"] == pytest.approx(100 * (4 / 6 * 2 / 5 * 1 / 4 * 1 / 6) ** 0.25, abs=1e-9)
    # 13a sees one "word" per sentence, so nothing matches.
    assert generation_metrics(["猫坐在垫子上"], [["猫坐在地毯上"]], ["bleu"])[0]["bleu"] == 0.0


def test_identical_text_scores_full_marks():
    texts = ["The cat sat on the mat.", "Příliš žluťoučký kůň úpěl ďábelské ódy."]
    scores, signatures = generation_metrics(texts, [[t] for t in texts], METRICS)
    assert scores == pytest.approx({"bleu": 100.0, "chrf": 100.0, "rouge_l": 1.0,
                                    "exact_match": 1.0, "token_f1": 1.0})
    assert set(signatures) == {"bleu", "chrf"}
    row = per_item_scores(texts[1], [texts[1]], METRICS)
    assert row == pytest.approx({"bleu": 100.0, "chrf": 100.0, "rouge_l": 1.0,
                                 "exact_match": 1.0, "token_f1": 1.0})


def test_item_scores_take_the_best_reference_and_average_over_items():
    predictions = ["the cat sat", "a dog ran"]
    references = [["no match here", "the cat sat"], ["a bird flew"]]
    scores, _ = generation_metrics(predictions, references, ["exact_match", "rouge_l", "token_f1"])
    assert scores["exact_match"] == pytest.approx(0.5)
    assert scores["rouge_l"] == pytest.approx((1 + 1 / 3) / 2)
    assert scores["token_f1"] == pytest.approx((1 + 1 / 3) / 2)


def test_variable_reference_counts_are_signed_var():
    _, signatures = generation_metrics(["a b c d", "e f g h"], [["a b c d", "x"], ["e f g h"]],
                                       ["bleu"])
    assert "nrefs:var" in signatures["bleu"]


def test_sentence_bleu_by_hand():
    # "The man had just bitten him ." against both references: clipped n-gram matches 6/7, 2/6,
    # 1/5 and none of 4 four-grams, which sacrebleu's exp smoothing counts as 1/(2*4).
    row = per_item_scores(SYSTEM[2], PER_ITEM[2], ["bleu", "chrf"])
    expected = 100 * math.exp(sum(map(math.log, (6 / 7, 2 / 6, 1 / 5, 1 / 8))) / 4)
    assert row["bleu"] == pytest.approx(expected, abs=1e-9)
    assert 0 < row["chrf"] < 100


def test_bad_requests_raise_with_the_valid_choices():
    with pytest.raises(ConfigError, match="expected some of bleu, chrf, rouge_l"):
        generation_metrics(["a"], [["a"]], ["bleu", "meteor"])
    with pytest.raises(ConfigError, match="must be a list"):
        generation_metrics(["a"], [["a"]], "bleu")
    with pytest.raises(ConfigError, match="'13a'.*'intl'|13a, .*intl"):
        generation_metrics(["a"], [["a"]], ["bleu"], bleu_tokenize="spacy")
    with pytest.raises(DataError, match="2 predictions but 1 reference"):
        generation_metrics(["a", "b"], [["a"]], ["bleu"])
    with pytest.raises(DataError, match="item 1: references must be a non-empty list"):
        generation_metrics(["a", "b"], [["a"], "b"], ["rouge_l"])
    with pytest.raises(DataError, match="item 0: references"):
        per_item_scores("a", [], ["rouge_l"])
