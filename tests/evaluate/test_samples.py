import pytest
import torch

from danlu.errors import DataError
from danlu.evaluate import samples as samples_module
from danlu.evaluate.samples import base_samples, chat_samples, chat_summary
from danlu.evaluate.lm import text_token_ids
from danlu.evaluate.similarity import rouge_l_f1, token_f1
from danlu.tokens.chat import BOS, END, EOS, ROLE_TOKENS, encode_conversation

PROMPT = {
    "id": "p1",
    "messages": [{"role": "user", "content": "where is the cat?"}],
    "reference": "the cat sat on the mat",
}


class ScriptedHead(torch.nn.Module):
    """An lm_head that makes token script[k] the argmax at generation step k (the last repeats)."""

    def __init__(self, script: list[int], vocab_size: int):
        super().__init__()
        self.script, self.vocab_size, self.calls = script, vocab_size, 0

    def forward(self, hidden):
        token = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        logits = torch.zeros(*hidden.shape[:-1], self.vocab_size)
        logits[..., token] = 10.0
        return logits


def scripted(model, tokenizer, script):
    model.lm_head = ScriptedHead(script, len(tokenizer))
    return model


def test_generation_stops_at_end_token(fresh_model, tokenizer):
    end = tokenizer.convert_tokens_to_ids(END)
    words = text_token_ids(tokenizer, "the cat sat on the mat")
    model = scripted(fresh_model, tokenizer, [*words, end, *words])
    (sample,) = chat_samples(model, tokenizer, [PROMPT], max_new_tokens=40)
    assert sample["ended_with_end_token"] is True
    assert sample["new_tokens"] == len(words) + 1
    assert sample["reply"] == "the cat sat on the mat"
    assert sample["rouge_l"] == pytest.approx(1.0) and sample["token_f1"] == pytest.approx(1.0)
    assert sample["id"] == "p1" and sample["prompt"] == "where is the cat?"


def test_reply_cut_by_max_new_tokens_did_not_end(fresh_model, tokenizer):
    (cat,) = text_token_ids(tokenizer, " cat")
    model = scripted(fresh_model, tokenizer, [cat])
    (sample,) = chat_samples(model, tokenizer, [PROMPT], max_new_tokens=5)
    assert sample["ended_with_end_token"] is False
    assert sample["new_tokens"] == 5
    assert sample["reply"] == "cat cat cat cat cat"


def test_stopping_on_eos_is_not_chat_format(fresh_model, tokenizer):
    model = scripted(fresh_model, tokenizer, [tokenizer.convert_tokens_to_ids(EOS)])
    (sample,) = chat_samples(model, tokenizer, [PROMPT], max_new_tokens=5)
    assert sample["ended_with_end_token"] is False
    assert sample["new_tokens"] == 1 and sample["reply"] == ""


def test_prompt_is_the_training_format_plus_assistant_marker(model, tokenizer, monkeypatch):
    seen = []

    def fake_greedy(model, prompt_ids, **kwargs):
        seen.append(prompt_ids)
        return [tokenizer.convert_tokens_to_ids(END)]

    monkeypatch.setattr(samples_module, "greedy_continuation", fake_greedy)
    chat_samples(model, tokenizer, [PROMPT], max_new_tokens=5)
    conversation, _ = encode_conversation(tokenizer, PROMPT["messages"])
    assistant = tokenizer.convert_tokens_to_ids(ROLE_TOKENS["assistant"])
    assert seen == [[*conversation, assistant, *text_token_ids(tokenizer, "\n")]]


def test_random_model_samples_have_every_field(model, tokenizer):
    samples = chat_samples(model, tokenizer, [PROMPT, {**PROMPT, "id": "p2"}], max_new_tokens=4)
    assert [s["id"] for s in samples] == ["p1", "p2"]
    assert all(0 < s["new_tokens"] <= 4 for s in samples)
    summary = chat_summary(samples)
    assert set(summary) == {"format_rate", "rouge_l", "token_f1"}
    assert all(0.0 <= v <= 1.0 for v in summary.values())


def test_base_samples_continue_the_first_words(fresh_model, tokenizer):
    words = text_token_ids(tokenizer, " and the dog")
    model = scripted(fresh_model, tokenizer, [*words, tokenizer.convert_tokens_to_ids(BOS)])
    passage = "one two three four five six seven eight nine ten"
    (sample,) = base_samples(model, tokenizer, [passage], max_new_tokens=10, prompt_words=3)
    assert sample == {"prompt": "one two three", "continuation": " and the dog"}


def test_token_f1_and_rouge_l():
    assert token_f1("The cat.", "the cat") == 1.0
    assert token_f1("a b c", "a b d") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0
    assert rouge_l_f1("the cat sat", "the cat sat") == pytest.approx(1.0)
    assert rouge_l_f1("dog", "the cat sat") == 0.0
    # ROUGE-L rewards order: the longest common subsequence of "c a b" and "a b c" is "a b".
    assert rouge_l_f1("c a b", "a b c") == pytest.approx(2 / 3)


def test_tokenizer_without_chat_template_is_refused(model, tokenizer, monkeypatch):
    monkeypatch.setattr(tokenizer, "chat_template", None)
    with pytest.raises(DataError, match="no chat template"):
        chat_samples(model, tokenizer, [PROMPT], max_new_tokens=2)
