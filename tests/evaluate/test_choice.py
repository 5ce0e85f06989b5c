"""Multiple-choice scoring: the shared-context path against the plain full-row one, and the
metrics on hand-made log-likelihoods. Parity with lm-eval itself: test_lm_eval_parity.py."""

from __future__ import annotations

import random

import pytest

from danlu.errors import ConfigError, DataError
from danlu.evaluate.choice import (ChoiceRequest, centered_accuracy, choice_metrics,
                                   loglikelihoods, scored_pairs)

MAX_LENGTH = 24  # short enough that the long contexts below are left-truncated
# words the fixture tokenizer was trained on, so that most are single tokens
WORDS = "the a cat dog sat ran on under mat house red blue big small tree car river".split()


def sentences(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) + "."
            for _ in range(count)]


def made_requests(count: int, seed: int) -> list[ChoiceRequest]:
    """Contexts of 1 to 6 sentences (some past MAX_LENGTH, some ending in a space), each with
    1-4 continuations of 1-5 words (single tokens among them)."""
    rng = random.Random(seed)
    words = " ".join(sentences(50, seed=seed)).split()
    requests = []
    for i in range(count):
        context = " ".join(sentences(rng.randint(1, 6), seed=seed + i))
        if i % 4 == 0:
            context += " "
        continuations = tuple(" " + " ".join(rng.choice(words) for _ in range(rng.randint(1, 5)))
                              for _ in range(rng.randint(1, 4)))
        requests.append(ChoiceRequest(context, continuations))
    return requests


def by_hand(model, tokenizer, context: str, continuation: str) -> float:
    """The continuation's log-probability from one unpadded forward on <|bos|> text, by hand."""
    import torch

    context_ids = tokenizer.encode(context, add_special_tokens=False)
    cont_ids = tokenizer.encode(context + continuation, add_special_tokens=False)[len(context_ids):]
    ids = torch.tensor([[tokenizer.bos_token_id, *context_ids, *cont_ids]])
    with torch.no_grad():
        log_probs = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    start = 1 + len(context_ids)
    return sum(float(log_probs[start + t - 1, token]) for t, token in enumerate(cont_ids))


@pytest.mark.parametrize("batch_size", [1, 3])
def test_shared_context_equals_full_rows(model, tokenizer, batch_size):
    requests = made_requests(14, seed=batch_size)
    pairs = scored_pairs(tokenizer, requests, MAX_LENGTH)
    # the cases worth comparing are all there: single tokens, truncation, uneven contexts
    assert any(len(cont) == 1 for row in pairs for _, cont in row)
    assert any(len(cont) > 1 for row in pairs for _, cont in row)
    assert any(prefix[0] != tokenizer.bos_token_id for row in pairs for prefix, _ in row)
    assert len({len(row[0][0]) for row in pairs}) > 5
    shared = loglikelihoods(model, tokenizer, requests, batch_size=batch_size,
                            max_length=MAX_LENGTH)
    plain = loglikelihoods(model, tokenizer, requests, batch_size=batch_size,
                           max_length=MAX_LENGTH, share_context=False)
    assert [len(row) for row in shared] == [len(r.continuations) for r in requests]
    for got, expected in zip(shared, plain):
        assert got == pytest.approx(expected, abs=1e-4)


def test_scores_are_the_log_probabilities_of_bos_text(model, tokenizer):
    requests = [ChoiceRequest("the cat sat on", (" the mat", " a")),
                ChoiceRequest("a dog ran ", ("quickly", "under the big tree"))]
    scores = loglikelihoods(model, tokenizer, requests, batch_size=2, max_length=64)
    # the trailing space of "a dog ran " moves to the continuation, as lm-eval moves it
    expected = [[by_hand(model, tokenizer, "the cat sat on", c) for c in (" the mat", " a")],
                [by_hand(model, tokenizer, "a dog ran", c)
                 for c in (" quickly", " under the big tree")]]
    for got, want in zip(scores, expected):
        assert got == pytest.approx(want, abs=1e-4)
    assert all(score < 0 for row in scores for score in row)


def test_results_keep_the_input_order(model, tokenizer):
    requests = made_requests(9, seed=5)
    scores = loglikelihoods(model, tokenizer, requests, batch_size=4, max_length=MAX_LENGTH)
    order = list(range(len(requests)))
    random.Random(0).shuffle(order)
    shuffled = loglikelihoods(model, tokenizer, [requests[i] for i in order], batch_size=4,
                              max_length=MAX_LENGTH)
    for position, i in enumerate(order):
        assert shuffled[position] == pytest.approx(scores[i], abs=1e-4)
    alone = loglikelihoods(model, tokenizer, requests[3:4], batch_size=1, max_length=MAX_LENGTH)
    assert alone[0] == pytest.approx(scores[3], abs=1e-4)


def test_a_context_longer_than_max_length_keeps_its_last_tokens(model, tokenizer):
    tail = " ".join(sentences(5, seed=9))
    assert len(tokenizer.encode(tail, add_special_tokens=False)) > MAX_LENGTH
    long_context = " ".join(sentences(8, seed=3)) + " " + tail
    request = ChoiceRequest(long_context, (" and", " quickly under the tree"))
    [pairs] = scored_pairs(tokenizer, [request], MAX_LENGTH)
    for prefix, cont in pairs:
        assert len(prefix) + len(cont) == MAX_LENGTH + 1
    # what lies beyond the window cannot change the score
    other = ChoiceRequest("a green car " * 10 + tail, request.continuations)
    [[first, second]] = loglikelihoods(model, tokenizer, [request], batch_size=1,
                                       max_length=MAX_LENGTH)
    [[other_first, other_second]] = loglikelihoods(model, tokenizer, [other], batch_size=1,
                                                   max_length=MAX_LENGTH)
    assert second == pytest.approx(other_second, abs=1e-5)
    assert first == pytest.approx(other_first, abs=1e-5)


def test_an_empty_context_is_conditioned_on_bos(model, tokenizer):
    [[score]] = loglikelihoods(model, tokenizer, [ChoiceRequest("", ("the cat sat",))],
                               batch_size=1, max_length=64)
    assert score == pytest.approx(by_hand(model, tokenizer, "", "the cat sat"), abs=1e-4)


def test_a_prompt_learning_model_is_scored_in_full_rows(fresh_model, tokenizer):
    import torch
    from peft import PromptTuningConfig, get_peft_model

    peft_model = get_peft_model(fresh_model, PromptTuningConfig(task_type="CAUSAL_LM",
                                                                num_virtual_tokens=3)).eval()
    requests = [ChoiceRequest("the cat sat on", (" the mat", " a", " under the old tree"))]
    with pytest.raises(ConfigError, match="prompt-learning"):
        loglikelihoods(peft_model, tokenizer, requests, batch_size=2, max_length=64,
                       share_context=True)
    [scores] = loglikelihoods(peft_model, tokenizer, requests, batch_size=2, max_length=64)
    # oracle: the base model reading the virtual tokens' embeddings, then the row
    base = peft_model.get_base_model()
    for continuation, score in zip(requests[0].continuations, scores):
        [(prefix, cont)] = scored_pairs(tokenizer, [ChoiceRequest("the cat sat on",
                                                                  (continuation,))], 64)[0]
        ids = torch.tensor([[*prefix, *cont]])
        with torch.no_grad():
            embeds = torch.cat([peft_model.get_prompt(1), base.get_input_embeddings()(ids)], 1)
            log_probs = torch.log_softmax(base(inputs_embeds=embeds).logits[0, 3:], dim=-1)
        want = sum(float(log_probs[len(prefix) + t - 1, tok]) for t, tok in enumerate(cont))
        assert score == pytest.approx(want, abs=1e-4)


def test_bad_requests_are_named(model, tokenizer):
    good = ChoiceRequest("the cat", (" sat",))
    with pytest.raises(DataError, match="item 1: no choices"):
        loglikelihoods(model, tokenizer, [good, ChoiceRequest("the dog", ())], batch_size=1,
                       max_length=64)
    with pytest.raises(DataError, match="item 0, choice 1: the continuation '' has no tokens"):
        loglikelihoods(model, tokenizer, [ChoiceRequest("the cat", (" sat", ""))],
                       batch_size=1, max_length=64)
    with pytest.raises(ConfigError, match="batch_size"):
        loglikelihoods(model, tokenizer, [good], batch_size=0, max_length=64)


def test_acc_acc_norm_and_acc_bytes_on_hand_made_scores():
    lls = [[-2.2, -3.0],  # per char: -1.1 vs -1.0; per byte: -0.55 vs -1.0
           [-4.0, -3.0, -6.0],  # per char and byte: -4, -1.5, -0.75
           [-1.0, -1.0]]  # a tie: the first choice, as numpy's argmax
    choices = [["éé", "abc"], ["a", "bb", "cccccccc"], ["x", "y"]]
    metrics = choice_metrics(lls, [1, 2, 0], choices)
    assert metrics["pred"] == [0, 1, 0]
    assert metrics["pred_norm"] == [1, 2, 0]
    assert metrics["pred_bytes"] == [0, 2, 0]
    assert metrics["acc"] == pytest.approx(1 / 3)
    assert metrics["acc_norm"] == pytest.approx(1.0)
    assert metrics["acc_bytes"] == pytest.approx(2 / 3)
    assert metrics["items"] == 3


def test_bad_items_are_named_in_metrics():
    with pytest.raises(DataError, match="item 1: gold 2 is not a choice index"):
        choice_metrics([[-1.0, -2.0], [-1.0, -2.0]], [0, 2], [["a", "b"], ["a", "b"]])
    with pytest.raises(DataError, match="item 0: no choices"):
        choice_metrics([[]], [0], [[]])
    with pytest.raises(DataError, match="item 0: 1 scores for 2 choices"):
        choice_metrics([[-1.0]], [0], [["a", "b"]])


def test_centered_accuracy_puts_chance_at_zero():
    assert centered_accuracy(0.25, [4, 4]) == pytest.approx(0.0)
    assert centered_accuracy(1.0, [4, 2]) == pytest.approx(1.0)
    # chance over 2- and 4-choice items is (1/2 + 1/4) / 2 = 0.375
    assert centered_accuracy(0.6875, [2, 4]) == pytest.approx(0.5)
    assert centered_accuracy(0.0, [2]) == pytest.approx(-1.0)
    with pytest.raises(DataError, match="at least 2 choices"):
        centered_accuracy(0.5, [1, 4])
