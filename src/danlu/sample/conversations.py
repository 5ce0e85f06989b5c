"""Chat data from stdlib docstrings: SFT conversations, and held-out prompts with reference answers."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from danlu.sample.sources import ApiEntry

SYSTEM_PROMPTS = (
    "You are a helpful assistant for Python programmers.",
    "You answer questions about the Python standard library concisely.",
    "You are danlu, a small assistant trained on Python documentation. Answer briefly.",
)
DESCRIBE = {
    "function": (
        "What does `{name}` do?", "Explain `{name}`.", "What is `{name}` for?",
        "Can you tell me what `{name}` does?", "Briefly describe `{name}`.",
        "In Python, what does the {where} function `{short}` do?",
    ),
    "class": (
        "What is `{name}`?", "What is the {where} class `{short}` used for?", "Describe the class `{name}`.",
        "Explain what a `{name}` object is.", "What is `{name}` for?",
    ),
    "method": (
        "What does the method `{name}` do?", "Explain `{name}()`.", "What does calling `{name}` do?",
        "What is the `{name}` method for?",
    ),
}  # fmt: skip
SIGNATURE_QUESTIONS = (
    "What is the signature of `{name}`?", "How do I call `{name}`?", "What arguments does `{name}` take?",
    "Show me the parameters of `{name}`.",
)  # fmt: skip
SIGNATURE_ANSWERS = ("`{name}{signature}`", "The signature is `{name}{signature}`.", "Call it as `{name}{signature}`.")
MODULE_QUESTIONS = (
    "Which module provides `{short}`?", "Where does `{short}` live in the standard library?",
    "What do I import to use `{short}`?", "Which standard library module has `{short}`?",
)  # fmt: skip
MODULE_ANSWERS = (
    "`{short}` is in the `{module}` module: `from {module} import {short}`.",
    "It is provided by `{module}`; import it with `from {module} import {short}`.",
    "The `{module}` module. Use `from {module} import {short}`.",
)
FOLLOW_UPS = {"signature": ("And what is its signature?", "How do I call it?"), "module": ("Which module is it in?",)}
DESCRIBE_SHARE = 0.7  # of entries that get a "what does X do" conversation
SIGNATURE_SHARE = 0.2
MODULE_SHARE = 0.3
SYSTEM_SHARE = 0.25
TWO_TURN_SHARE = 0.2


def _fill(template: str, entry: ApiEntry) -> str:
    where = "built-in" if entry.module == "builtins" else f"`{entry.module}`"
    return template.format(
        name=entry.name, short=entry.short, module=entry.module, where=where, signature=entry.signature
    )


def describe_turn(entry: ApiEntry, rng: random.Random) -> tuple[str, str]:
    return _fill(rng.choice(DESCRIBE[entry.kind]), entry), entry.summary


def signature_turn(entry: ApiEntry, rng: random.Random, question: str | None = None) -> tuple[str, str]:
    return question or _fill(rng.choice(SIGNATURE_QUESTIONS), entry), _fill(rng.choice(SIGNATURE_ANSWERS), entry)


def module_turn(entry: ApiEntry, rng: random.Random, question: str | None = None) -> tuple[str, str]:
    return question or _fill(rng.choice(MODULE_QUESTIONS), entry), _fill(rng.choice(MODULE_ANSWERS), entry)


def _messages(turns: list[tuple[str, str]], rng: random.Random) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": rng.choice(SYSTEM_PROMPTS)}] if rng.random() < SYSTEM_SHARE else []
    for question, answer in turns:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return messages


def _unique_short_names(entries: list[ApiEntry]) -> set[str]:
    """Names that one module alone provides, so "which module has X" has one right answer."""
    counts = Counter(entry.short for entry in entries if entry.kind != "method")
    return {name for name, count in counts.items() if count == 1}


def sft_conversations(entries: list[ApiEntry], rng: random.Random) -> list[dict]:
    unique = _unique_short_names(entries)
    conversations: list[list[tuple[str, str]]] = []
    for entry in entries:
        has_module = entry.short in unique and entry.module != "builtins"
        if rng.random() < DESCRIBE_SHARE:
            turns = [describe_turn(entry, rng)]
            follow = [k for k, ok in (("signature", entry.signature), ("module", has_module)) if ok]
            if follow and rng.random() < TWO_TURN_SHARE:
                kind = rng.choice(follow)
                question = rng.choice(FOLLOW_UPS[kind])
                follow_up = signature_turn if kind == "signature" else module_turn
                turns.append(follow_up(entry, rng, question))
            conversations.append(turns)
        if entry.signature and rng.random() < SIGNATURE_SHARE:
            conversations.append([signature_turn(entry, rng)])
        if has_module and rng.random() < MODULE_SHARE:
            conversations.append([module_turn(entry, rng)])
    rng.shuffle(conversations)
    seen, unique_conversations = set(), []
    for turns in conversations:
        if turns[0] not in seen:
            seen.add(turns[0])
            unique_conversations.append(turns)
    return [
        {"id": f"sft-{number:05d}", "messages": _messages(turns, rng)}
        for number, turns in enumerate(unique_conversations, start=1)
    ]


def eval_prompts(
    entries: list[ApiEntry], is_trained: Callable[[str], bool], rng: random.Random, limit: int
) -> list[dict]:
    """Describe and signature prompts about held-out APIs whose answers never appear in training text."""
    candidates = [entry for entry in entries if not is_trained(entry.summary)]
    picked = rng.sample(candidates, min(limit, len(candidates)))
    prompts = []
    for number, entry in enumerate(sorted(picked, key=lambda e: e.name), start=1):
        if entry.signature and rng.random() < SIGNATURE_SHARE:
            question, answer = signature_turn(entry, rng)
            answer = f"{entry.name}{entry.signature}"
        else:
            question, answer = describe_turn(entry, rng)
        messages = [{"role": "user", "content": question}]
        prompts.append({"id": f"prompt-{number:03d}", "messages": messages, "reference": answer})
    return prompts
