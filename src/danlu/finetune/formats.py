"""SFT conversations from OpenAI-chat, ShareGPT and Alpaca records, read from JSONL files, JSON
arrays, saved Hugging Face datasets or folders of files. A bad record is quarantined with its
file, line and reason, never raised: one broken line must not stop a run, nor vanish unseen.

A conversation may end with a user turn once it has an assistant reply: the labels mask that
turn anyway, and trimming it would edit the data without a trace."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from danlu.records import Quarantined, Record, Rejected, json_type, read_kept
from danlu.tokens.chat import ROLES

CHAT_ROLES = {role: role for role in ROLES}
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system"}
UNKNOWN_SFT = "unknown format: expected messages, conversations or instruction/output"


@dataclass(frozen=True)
class Conversation:
    id: str
    messages: list[dict]
    # where it was read: a quarantine after encoding (over length) names the record
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)
    raw: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class SftData:
    conversations: list[Conversation]
    quarantined: list[Quarantined]
    formats: dict[str, int]  # records kept per detected format


def read_sft_data(paths: Path | str | Iterable[Path | str], root: Path | None = None
                  ) -> SftData:
    """Every record of the inputs, kept as a Conversation or quarantined with a reason."""
    def parse(item: Record) -> tuple[str, Conversation]:
        kind, messages = sft_messages(item.data)
        return kind, Conversation(item.id, messages, item.file, item.line, item.raw)

    conversations, quarantined, formats = read_kept(paths, root, "conversations", parse)
    return SftData(conversations, quarantined, formats)


def sft_messages(data: dict) -> tuple[str, list[dict]]:
    """(format, chat messages) of one SFT record; Rejected says why it cannot be learned from."""
    if "chosen" in data and "rejected" in data:  # else a DPO file read as SFT would half-pass
        raise Rejected("preference pair: expected an SFT conversation, found chosen/rejected")
    if "messages" in data:
        kind, messages = "messages", chat_messages(data["messages"])
    elif "conversations" in data:
        kind, messages = "sharegpt", sharegpt_messages(data)
    elif "instruction" in data and "output" in data:
        prompt = alpaca_prompt(data)
        output = text_field(data, "output")
        if not output.strip():
            raise Rejected("empty output")
        kind, messages = "alpaca", [*prompt, {"role": "assistant", "content": output}]
    else:
        raise Rejected(UNKNOWN_SFT)
    if not any(m["role"] == "assistant" for m in messages):
        raise Rejected("no assistant reply to learn")
    return kind, messages


def chat_messages(value: object, field: str = "messages", label: str = "message") -> list[dict]:
    """OpenAI-style `{"role", "content"}` messages, checked."""
    return _turns(value, field, label, "role", "content", CHAT_ROLES)


def sharegpt_messages(data: dict) -> list[dict]:
    """A ShareGPT record's turns as chat messages, its top-level "system" first."""
    turns = _turns(data["conversations"], "conversations", "message", "from", "value",
                   SHAREGPT_ROLES)
    return [*system_message(data), *turns]


def alpaca_prompt(data: dict) -> list[dict]:
    """An Alpaca record's system, history and instruction (+ input) as chat messages."""
    instruction = text_field(data, "instruction")
    if not instruction.strip():
        raise Rejected("empty instruction")
    extra = text_field(data, "input", required=False)
    user = instruction + ("\n\n" + extra if extra.strip() else "")
    return [*system_message(data), *_history(data.get("history")),
            {"role": "user", "content": user}]


def system_message(data: dict) -> list[dict]:
    system = text_field(data, "system", required=False)
    return [{"role": "system", "content": system}] if system.strip() else []


def text_field(data: dict, key: str, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise Rejected(f"bad field: '{key}' must be a string, got {json_type(value)}")
    return value


def _turns(value: object, field: str, label: str, role_key: str, content_key: str,
           roles: dict[str, str]) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise Rejected(f"bad field: '{field}' must be a non-empty list")
    out = []
    for i, turn in enumerate(value, start=1):
        if not isinstance(turn, dict) or not isinstance(turn.get(content_key), str):
            raise Rejected(f"bad message: {label} {i} needs a string '{content_key}'")
        name = turn.get(role_key)
        role = roles.get(name) if isinstance(name, str) else None
        if role is None:
            raise Rejected(f"bad role: {label} {i} has {role_key} {name!r}; "
                           f"expected {', '.join(roles)}")
        if not turn[content_key].strip():
            if role == "system":  # an empty system prompt says nothing; drop it, not the record
                continue
            raise Rejected(f"empty turn: {label} {i} ({role}) has empty content")
        out.append({"role": role, "content": turn[content_key]})
    return out


def _history(value: object) -> list[dict]:
    """LLaMA-Factory's Alpaca "history": earlier [instruction, response] pairs, oldest first."""
    if value is None:
        return []
    pairs_ok = isinstance(value, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(t, str) and t.strip() for t in p)
        for p in value)
    if not pairs_ok:
        raise Rejected("bad field: 'history' must be a list of [instruction, response] pairs")
    return [{"role": role, "content": text}
            for pair in value for role, text in zip(("user", "assistant"), pair)]
