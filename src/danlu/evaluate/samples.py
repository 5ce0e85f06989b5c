"""Greedy samples: chat replies scored against references, and base-model continuations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from danlu.errors import DataError
from danlu.evaluate.lm import text_token_ids
from danlu.model.generate import greedy_continuation, special_token_id
from danlu.evaluate.similarity import rouge_l_f1, token_f1
from danlu.tokens.chat import BOS, END, EOS

# How much of a held-out passage the base model is shown before it continues on its own.
PROMPT_WORDS = 8


def chat_samples(
    model: Any, tokenizer: Any, prompts: Sequence[dict], *, max_new_tokens: int
) -> list[dict]:
    """Answer each prompt's messages greedily; score the reply against the prompt's reference."""
    end_id = special_token_id(tokenizer, END)
    eos_id = special_token_id(tokenizer, EOS)
    if not getattr(tokenizer, "chat_template", None):
        raise DataError("the chat model's tokenizer has no chat template; save it with CHAT_TEMPLATE")
    samples = []
    for prompt in prompts:
        rendered = tokenizer.apply_chat_template(
            prompt["messages"], add_generation_prompt=True, tokenize=False
        )
        # The template writes <|bos|> as text; encoding adds nothing more, so ids match training.
        prompt_ids = tokenizer.encode(rendered, add_special_tokens=False)
        stop_ids = [end_id, eos_id]
        new_ids = greedy_continuation(
            model, prompt_ids, max_new_tokens=max_new_tokens, stop_ids=stop_ids
        )
        reply = tokenizer.decode(new_ids, skip_special_tokens=True).strip()
        reference = prompt.get("reference", "")
        samples.append(
            {
                "id": prompt.get("id"),
                "prompt": prompt["messages"][-1]["content"],
                "reply": reply,
                "reference": reference,
                "ended_with_end_token": bool(new_ids) and new_ids[-1] == end_id,
                "new_tokens": len(new_ids),
                "rouge_l": rouge_l_f1(reply, reference),
                "token_f1": token_f1(reply, reference),
            }
        )
    return samples


def base_samples(
    model: Any,
    tokenizer: Any,
    prompts_texts: Sequence[str],
    *,
    max_new_tokens: int,
    prompt_words: int = PROMPT_WORDS,
) -> list[dict]:
    """Continue the first `prompt_words` words of each passage, as the base model saw documents."""
    bos_id = special_token_id(tokenizer, BOS)
    eos_id = special_token_id(tokenizer, EOS)
    samples = []
    for text in prompts_texts:
        prompt = " ".join(text.split()[:prompt_words])
        # A base model ends a document by starting the next one, so <|bos|> stops it too.
        new_ids = greedy_continuation(
            model,
            [bos_id, *text_token_ids(tokenizer, prompt)],
            max_new_tokens=max_new_tokens,
            stop_ids=[eos_id, bos_id],
        )
        continuation = tokenizer.decode(new_ids, skip_special_tokens=True)
        samples.append({"prompt": prompt, "continuation": continuation})
    return samples


def chat_summary(samples: Sequence[dict]) -> dict[str, float]:
    """Share of replies closed by <|end|>, and mean ROUGE-L and token F1 against the references."""
    if not samples:
        raise DataError("no chat samples to summarize")
    count = len(samples)
    return {
        "format_rate": sum(s["ended_with_end_token"] for s in samples) / count,
        "rouge_l": sum(s["rouge_l"] for s in samples) / count,
        "token_f1": sum(s["token_f1"] for s in samples) / count,
    }
