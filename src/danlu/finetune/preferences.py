"""Preference pairs (prompt, chosen, rejected) for reward models and DPO, from TRL's explicit and
implicit-prompt records, LLaMA-Factory's ShareGPT pairs and Alpaca-style pairs. Inputs and the
quarantine are those of formats.py: a bad record is set aside with its reason, never raised."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from danlu.finetune.formats import (SHAREGPT_ROLES, alpaca_prompt, chat_messages,
                                    sharegpt_messages, text_field)
from danlu.records import Quarantined, Record, Rejected, json_type, read_kept

SIDES = ("chosen", "rejected")
UNKNOWN_PAIR = ("unknown format: expected prompt/chosen/rejected, chosen/rejected conversations, "
                "conversations/chosen/rejected or instruction/chosen/rejected")


@dataclass(frozen=True)
class PreferencePair:
    id: str
    prompt: list[dict]  # chat messages ending with the user's turn
    chosen: str
    rejected: str
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)
    raw: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class PreferenceData:
    pairs: list[PreferencePair]
    quarantined: list[Quarantined]
    formats: dict[str, int]  # records kept per detected format


def read_preference_data(paths: Path | str | Iterable[Path | str], root: Path | None = None
                         ) -> PreferenceData:
    """Every record of the inputs, kept as a PreferencePair or quarantined with a reason."""
    def parse(item: Record) -> tuple[str, PreferencePair]:
        kind, prompt, chosen, rejected = preference_pair(item.data)
        return kind, PreferencePair(item.id, prompt, chosen, rejected, item.file, item.line,
                                    item.raw)

    pairs, quarantined, formats = read_kept(paths, root, "preference pairs", parse)
    return PreferenceData(pairs, quarantined, formats)


def preference_pair(data: dict) -> tuple[str, list[dict], str, str]:
    """(format, prompt, chosen, rejected) of one record; Rejected says why it is unusable."""
    if not all(side in data for side in SIDES):
        raise Rejected(UNKNOWN_PAIR)
    if "conversations" in data:
        kind, prompt = "sharegpt", sharegpt_messages(data)
        chosen, rejected = (_sharegpt_reply(data, side) for side in SIDES)
    elif "instruction" in data:
        kind, prompt = "alpaca", alpaca_prompt(data)
        chosen, rejected = (text_field(data, side) for side in SIDES)
    elif "prompt" in data:
        kind, prompt = "explicit", _explicit_prompt(data["prompt"])
        chosen, rejected = (_explicit_reply(data, side) for side in SIDES)
    elif isinstance(data["chosen"], list) and isinstance(data["rejected"], list):
        kind = "implicit"
        prompt, chosen, rejected = _split_common_prompt(data["chosen"], data["rejected"])
    else:
        raise Rejected(UNKNOWN_PAIR)
    _require_user_last(prompt)
    for side, text in zip(SIDES, (chosen, rejected)):
        if not text.strip():
            raise Rejected(f"empty {side}")
    if chosen == rejected:
        raise Rejected("identical chosen and rejected")
    return kind, prompt, chosen, rejected


def _explicit_prompt(value: object) -> list[dict]:
    """TRL's prompt: a string (one user message) or chat messages."""
    if isinstance(value, str):
        if not value.strip():
            raise Rejected("empty prompt")
        return [{"role": "user", "content": value}]
    return chat_messages(value, "prompt", label="prompt message")


def _explicit_reply(data: dict, side: str) -> str:
    """TRL's chosen/rejected: a string, or a list holding the one assistant message."""
    reply = data[side]
    if isinstance(reply, str):
        return reply
    if (isinstance(reply, list) and len(reply) == 1 and isinstance(reply[0], dict)
            and reply[0].get("role") == "assistant" and isinstance(reply[0].get("content"), str)):
        return reply[0]["content"]
    raise Rejected(f"bad reply: '{side}' must be a string or a list of one assistant message, "
                   f"got {json_type(reply)}")


def _sharegpt_reply(data: dict, side: str) -> str:
    """LLaMA-Factory's chosen/rejected: one `{"from": "gpt", "value"}` turn."""
    reply = data[side]
    if not isinstance(reply, dict) or not isinstance(reply.get("value"), str):
        raise Rejected(f"bad reply: '{side}' must be an object with a string 'value'")
    name = reply.get("from")
    if not isinstance(name, str) or SHAREGPT_ROLES.get(name) != "assistant":
        raise Rejected(f"bad role: '{side}' is from {name!r}; expected gpt or assistant")
    return reply["value"]


def _split_common_prompt(chosen: list, rejected: list) -> tuple[list[dict], str, str]:
    """TRL's implicit prompt: the shared opening of two conversations, then one reply each."""
    chosen = chat_messages(chosen, "chosen", label="chosen message")
    rejected = chat_messages(rejected, "rejected", label="rejected message")
    if chosen == rejected:
        raise Rejected("identical chosen and rejected")
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    if shared == 0:
        raise Rejected("no common prompt: chosen and rejected differ from their first message")
    prompt = chosen[:shared]
    _require_user_last(prompt)  # before the replies: a prompt ending in a reply explains more
    for side, messages in zip(SIDES, (chosen, rejected)):
        rest = messages[shared:]
        if len(rest) != 1 or rest[0]["role"] != "assistant":
            raise Rejected(f"bad reply: '{side}' must continue the common prompt with exactly one "
                           f"assistant message, got roles {[m['role'] for m in rest]}")
    return prompt, chosen[shared]["content"], rejected[shared]["content"]


def _require_user_last(prompt: list[dict]) -> None:
    if not prompt or prompt[-1]["role"] != "user":
        last = prompt[-1]["role"] if prompt else "nothing"
        raise Rejected(f"prompt does not end with a user message (it ends with {last})")
