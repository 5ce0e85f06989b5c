"""A chat reply, token by token: the chat template, one forward per token over the KV cache,
greedy or temperature + nucleus (top-p) sampling, and text pieces as soon as they are whole.

The loop calls the model's forward itself (not `generate`), so a reply streams: a plain causal
LM, a merged LoRA model, or a peft prompt-learning model. For the last, peft's own forward
would add the virtual tokens again at every cached step (and its generate() fails or drifts:
peft #2123, #1391, #2821), so the first step puts them in once through the base model (as
embeddings, or as prefix keys and values) and later steps continue on the base model's cache.
Greedy decoding without the cache (`greedy_ids(..., use_cache=False)`) recomputes the whole
sequence through the model's own forward each step: cached and uncached replies must agree,
and a test says so for every method."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from danlu.tokens.chat import END, EOS

log = logging.getLogger("danlu.chat")

REPLACEMENT = "\ufffd"  # what a decode shows for the first bytes of a character not yet whole


def prompt_ids(tokenizer: Any, messages: Sequence[dict[str, str]]) -> list[int]:
    """The conversation rendered with the chat template, ending in the assistant's marker."""
    return list(tokenizer.apply_chat_template(list(messages), add_generation_prompt=True,
                                              return_dict=False))


def context_length(model: Any) -> int:
    """Tokens a sequence may hold: the model's positions, less a prompt-learning adapter's
    virtual tokens (they take places in the same attention window)."""
    n_ctx = int(model.config.max_position_embeddings)
    peft_config = getattr(model, "active_peft_config", None)
    if peft_config is not None and getattr(peft_config, "is_prompt_learning", False):
        n_ctx -= int(peft_config.num_virtual_tokens)
    return n_ctx


def reply_room(n_ctx: int, max_new_tokens: int) -> int:
    """Places kept free for the reply when a prompt must be cut: all it asks for, but never
    more than half the context (a reply with nothing left to answer is no reply)."""
    return max(1, min(max_new_tokens, n_ctx // 2))


def stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """The ids that end a reply: generation_config.eos_token_id (<|end|> and <|eos|> in a danlu
    model folder), or the tokenizer's <|end|> and <|eos|> when the model names none."""
    config = getattr(model, "generation_config", None)
    ids = getattr(config, "eos_token_id", None)
    if ids is None:
        ids = tokenizer.convert_tokens_to_ids([END, EOS])
    return {int(i) for i in ([ids] if isinstance(ids, int) else ids)}


def stream_reply(model: Any, tokenizer: Any, messages: Sequence[dict[str, str]], *,
                 max_new_tokens: int, temperature: float, top_p: float,
                 seed: int | None = None) -> Iterator[str]:
    """Text pieces of the assistant's reply to `messages`; joined, they equal the decode of all
    the new ids (special tokens skipped). Greedy when temperature == 0."""
    pick = token_picker(temperature, top_p, seed)
    tokens = new_token_ids(model, tokenizer, prompt_ids(tokenizer, messages),
                           max_new_tokens=max_new_tokens, pick=pick, use_cache=True)
    return text_pieces(tokenizer, tokens)


def greedy_ids(model: Any, tokenizer: Any, messages: Sequence[dict[str, str]],
               max_new_tokens: int, use_cache: bool = True) -> list[int]:
    """The new ids of a greedy reply, the stop token included when one was reached."""
    return list(new_token_ids(model, tokenizer, prompt_ids(tokenizer, messages),
                              max_new_tokens=max_new_tokens, pick=token_picker(0.0, 1.0),
                              use_cache=use_cache))


def token_picker(temperature: float, top_p: float, seed: int | None = None
                 ) -> Callable[[Any], int]:
    """logits -> the next id: argmax at temperature 0, else a draw from the smallest set of
    most likely tokens whose probability reaches top_p, with a generator of its own."""
    import torch

    if temperature < 0 or not 0 < top_p <= 1:
        raise ValueError(f"temperature={temperature}, top_p={top_p}: "
                         "expected temperature >= 0 and 0 < top_p <= 1")
    if temperature == 0:
        return lambda logits: int(logits.argmax())
    generator = torch.Generator(device="cpu")
    if seed is None:
        generator.seed()  # a fresh generator's default seed is a constant: draw a random one
    else:
        generator.manual_seed(seed)

    def pick(logits) -> int:
        probs = torch.softmax(logits.float().cpu() / temperature, dim=-1)
        sorted_probs, order = probs.sort(descending=True)
        # keep a token while the mass before it is below top_p: the first is always kept
        keep = (sorted_probs.cumsum(-1) - sorted_probs) < top_p
        choice = torch.multinomial(sorted_probs * keep, 1, generator=generator)
        return int(order[choice])

    return pick


def new_token_ids(model: Any, tokenizer: Any, prompt: list[int], *, max_new_tokens: int,
                  pick: Callable[[Any], int], use_cache: bool = True,
                  stops: set[int] | None = None) -> Iterator[int]:
    """New ids one at a time, until a stop id (yielded; default: stop_ids(model, tokenizer)),
    max_new_tokens, or a full context."""
    import torch

    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens}: expected at least 1")
    n_ctx = context_length(model)
    if len(prompt) >= n_ctx:
        keep = n_ctx - reply_room(n_ctx, max_new_tokens)
        log.warning("the prompt has %d tokens and the context %d: only its last %d are read",
                    len(prompt), n_ctx, keep)
        prompt = prompt[-keep:]
    stops = stops if stops is not None else stop_ids(model, tokenizer)
    device = next(model.parameters()).device
    sequence = torch.tensor([prompt], dtype=torch.long, device=device)
    step_input, past = sequence, None
    for _ in range(min(max_new_tokens, n_ctx - len(prompt))):
        # no_grad per step, not around the loop: a generator suspended inside the context
        # would leave gradients off in its caller's code
        with torch.no_grad():
            if use_cache and past is None:
                stepper, out = _first_cached_step(model, step_input)
                past = out.past_key_values
            elif use_cache:
                out = stepper(input_ids=step_input, past_key_values=past, use_cache=True)
                past = out.past_key_values
            else:
                out = model(input_ids=sequence, use_cache=False)
            token = pick(out.logits[0, -1])
        yield token
        if token in stops:
            return
        step_input = torch.tensor([[token]], dtype=torch.long, device=device)
        if not use_cache:
            sequence = torch.cat([sequence, step_input], dim=1)


def _first_cached_step(model: Any, ids: Any) -> tuple[Any, Any]:
    """(the module later steps call, the first step's output) for the prompt `ids`."""
    import torch

    config = getattr(model, "active_peft_config", None)
    if config is None or not getattr(config, "is_prompt_learning", False):
        return model, model(input_ids=ids, use_cache=True)
    base = model.get_base_model()
    prompt = model.get_prompt(batch_size=ids.size(0))
    if str(config.peft_type).endswith("PREFIX_TUNING"):
        return base, base(input_ids=ids, past_key_values=prompt, use_cache=True)
    embeds = base.get_input_embeddings()(ids)
    inputs = torch.cat([prompt.to(embeds.dtype), embeds], dim=1)
    return base, base(inputs_embeds=inputs, use_cache=True)


def text_pieces(tokenizer: Any, tokens: Iterable[int]) -> Iterator[str]:
    """The growing decode of `tokens`, as the suffix each new id adds. A decode that ends in
    U+FFFD waits for the rest of its character; what is left at the end is given whole."""
    ids: list[int] = []
    shown = ""
    for token in tokens:
        ids.append(token)
        text = tokenizer.decode(ids, skip_special_tokens=True)
        if len(text) > len(shown) and not text.endswith(REPLACEMENT):
            yield text[len(shown):]
            shown = text
    text = tokenizer.decode(ids, skip_special_tokens=True)
    if len(text) > len(shown):
        yield text[len(shown):]
