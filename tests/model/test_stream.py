"""Streaming a chat reply: the KV cache changes nothing, seeds reproduce, the stops hold, and
the streamed pieces are exactly the decoded reply."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from danlu.model.conversation import Conversation, trim_history
from danlu.model.saved import load_model
from danlu.model.stream import (greedy_ids, new_token_ids, prompt_ids, stream_reply,
                                text_pieces, token_picker)
from danlu.tokens.chat import END

HI = [{"role": "user", "content": "hi"}]
QUESTION = [{"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What does textwrap.dedent do?"}]


@pytest.fixture(scope="module")
def loaded(lively_model_dir: Path):
    return load_model(lively_model_dir)


def test_greedy_is_the_same_with_and_without_the_cache(loaded):
    model, tok = loaded
    cached = greedy_ids(model, tok, QUESTION, 12, use_cache=True)
    assert len(cached) == 12 and len(set(cached)) > 6  # no early stop, no single token
    assert greedy_ids(model, tok, QUESTION, 12, use_cache=False) == cached


def test_a_seed_reproduces_a_sampled_reply(loaded):
    model, tok = loaded

    def sampled(seed: int) -> str:
        return "".join(stream_reply(model, tok, HI, max_new_tokens=8, temperature=1.0,
                                    top_p=0.95, seed=seed))

    assert sampled(1) == sampled(1)
    assert len({sampled(seed) for seed in range(4)}) > 1


def test_greedy_at_temperature_zero_and_max_new_tokens(loaded):
    model, tok = loaded
    text = "".join(stream_reply(model, tok, HI, max_new_tokens=5, temperature=0.0, top_p=0.9))
    ids = greedy_ids(model, tok, HI, 5)
    assert len(ids) == 5
    assert text == tok.decode(ids, skip_special_tokens=True)


def test_top_p_keeps_the_most_likely_tokens():
    import torch

    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    narrow = token_picker(1.0, 0.5, seed=0)
    assert {narrow(logits) for _ in range(50)} == {0}
    wide = token_picker(1.0, 0.7, seed=0)
    assert {wide(logits) for _ in range(200)} == {0, 1}


def test_streamed_pieces_join_to_the_decoded_reply(loaded):
    model, tok = loaded
    pieces = list(stream_reply(model, tok, QUESTION, max_new_tokens=20, temperature=1.0,
                               top_p=1.0, seed=3))
    ids = list(new_token_ids(model, tok, prompt_ids(tok, QUESTION), max_new_tokens=20,
                             pick=token_picker(1.0, 1.0, seed=3)))
    assert "".join(pieces) == tok.decode(ids, skip_special_tokens=True)


def test_a_character_split_over_tokens_is_never_shown_in_halves(loaded):
    _, tok = loaded
    text = "naïve 你好 wörld"
    ids = tok.encode(text, add_special_tokens=False)
    assert len(ids) > len(text.split())  # the tiny tokenizer spells the CJK by bytes
    pieces = list(text_pieces(tok, ids))
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)


def test_a_reply_stops_at_end(lively_model_dir: Path):
    model, tok = load_model(lively_model_dir)
    end = tok.convert_tokens_to_ids(END)
    calls = []

    def end_on_third_token(module, args, output):
        calls.append(1)
        if len(calls) == 3:
            output = output.clone()
            output[..., -1, end] = output.max() + 100
        return output

    handle = model.lm_head.register_forward_hook(end_on_third_token)
    try:
        ids = greedy_ids(model, tok, HI, 10)
        calls.clear()
        text = "".join(stream_reply(model, tok, HI, max_new_tokens=10, temperature=0.0,
                                    top_p=1.0))
    finally:
        handle.remove()
    assert len(ids) == 3 and ids[-1] == end
    assert text == tok.decode(ids[:2])


def test_a_reply_stops_when_the_context_is_full(loaded, caplog):
    model, tok = loaded
    n_prompt = len(prompt_ids(tok, QUESTION))
    with caplog.at_level(logging.WARNING, logger="danlu.chat"):
        ids = greedy_ids(model, tok, QUESTION, 1000)
    assert len(ids) == model.config.max_position_embeddings - n_prompt
    assert not caplog.records


def test_a_prompt_longer_than_the_context_keeps_its_end(loaded, caplog):
    model, tok = loaded
    long = [{"role": "user", "content": "the quick brown fox " * 40}]
    assert len(prompt_ids(tok, long)) > model.config.max_position_embeddings
    with caplog.at_level(logging.WARNING, logger="danlu.chat"):
        ids = greedy_ids(model, tok, long, 5)
    assert len(ids) == 5
    assert "only its last 59 are read" in caplog.text


def test_trim_history_drops_whole_turns_from_the_oldest(loaded):
    _, tok = loaded
    system = {"role": "system", "content": "Be brief."}
    turns = [{"role": r, "content": f"{r} turn {i} " * 3}
             for i in range(4) for r in ("user", "assistant")]
    messages = [system, *turns, {"role": "user", "content": "last"}]
    kept = trim_history(tok, messages, 40)
    assert kept[0] == system and kept[-1] == messages[-1]
    assert kept[1]["role"] == "user" and kept[1:] == messages[-len(kept) + 1:]
    assert len(prompt_ids(tok, kept)) <= 40 < len(prompt_ids(tok, messages))
    assert trim_history(tok, messages, 10) == [system, messages[-1]]


def test_a_conversation_keeps_its_history_until_reset(loaded):
    model, tok = loaded
    chat = Conversation(model, tok, max_new_tokens=3, temperature=0.0, top_p=1.0,
                        system="Be brief.")
    first = "".join(chat.reply("hello"))
    assert chat.history == [{"role": "user", "content": "hello"},
                            {"role": "assistant", "content": first}]
    assert chat.messages("again")[1:3] == chat.history
    for _ in range(6):  # 64 tokens of context: old turns must go
        "".join(chat.reply("tell me more about the quick brown fox"))
    assert len(prompt_ids(tok, chat.messages("and?"))) <= 64 - 3
    assert chat.history[0]["role"] == "user"
    chat.reset()
    assert chat.history == []
