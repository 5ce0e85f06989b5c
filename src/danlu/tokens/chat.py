"""The special tokens and the chat format every danlu tokenizer and model shares.

A conversation renders as
    <|bos|><|system|>\\n...<|end|>\\n<|user|>\\n...<|end|>\\n<|assistant|>\\n...<|end|>\\n
Role markers are single special tokens, so the tokenization of a conversation is the
concatenation of its parts and the assistant's tokens can be masked exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

BOS = "<|bos|>"
EOS = "<|eos|>"
PAD = "<|pad|>"
END = "<|end|>"
ROLES = ("system", "user", "assistant")
ROLE_TOKENS = {role: f"<|{role}|>" for role in ROLES}
SPECIAL_TOKENS = [BOS, EOS, PAD, END, *ROLE_TOKENS.values()]

IGNORE_INDEX = -100

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('unknown role ' + message['role'] + '; use system, user or assistant') }}"
    "{% endif %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def messages_problem(messages: object, *, last_role: str | None = None) -> str | None:
    """What is wrong with a list of chat messages, or None when it is well formed."""
    if not isinstance(messages, list) or not messages:
        return 'expected "messages" as a non-empty list'
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            return f'message {i} needs a string "content"'
        if message.get("role") not in ROLES:
            return (f"message {i} has role {message.get('role')!r}; "
                    f"expected one of {', '.join(ROLES)}")
    if last_role and messages[-1]["role"] != last_role:
        return f"the last message must be the {last_role}'s"
    return None


def encode_conversation(
    tokenizer: Any, messages: Sequence[dict[str, str]]
) -> tuple[list[int], list[int]]:
    """Token ids of a conversation and labels that are IGNORE_INDEX outside assistant replies.

    The ids equal `tokenizer.apply_chat_template(messages)`; an assistant reply is learned
    with its closing <|end|>, so the model learns when to stop.
    """
    def ids(text: str) -> list[int]:
        # verbose=False: callers truncate to their own max length; the warning is noise.
        return tokenizer.encode(text, add_special_tokens=False, verbose=False)

    bos_id, end_id = tokenizer.convert_tokens_to_ids([BOS, END])
    newline = ids("\n")
    input_ids: list[int] = [bos_id]
    labels: list[int] = [IGNORE_INDEX]
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ROLE_TOKENS:
            raise ValueError(f"message {i}: unknown role {role!r}; use one of {', '.join(ROLES)}")
        role_id = tokenizer.convert_tokens_to_ids(ROLE_TOKENS[role])
        body = ids("\n" + message["content"]) + [end_id]
        input_ids += [role_id, *body, *newline]
        learned = body if role == "assistant" else [IGNORE_INDEX] * len(body)
        labels += [IGNORE_INDEX, *learned, *[IGNORE_INDEX] * len(newline)]
    return input_ids, labels
