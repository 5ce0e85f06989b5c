"""Read the evaluation inputs: held-out passages and chat prompts with references (JSONL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from danlu.errors import DataError
from danlu.tokenizer.chat import ROLES


def jsonl_records(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a bad line names the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                kind = type(record).__name__
                raise DataError(f"{path}:{number}: expected a JSON object, got {kind}")
            yield number, record


def read_heldout(path: Path) -> list[dict]:
    """Held-out passages `{"id", "text"}`: text the models never trained on."""
    passages = []
    for number, record in jsonl_records(path):
        if not isinstance(record.get("text"), str):
            raise DataError(f'{path}:{number}: expected a string "text" field')
        passages.append({"id": record.get("id", f"line-{number}"), "text": record["text"]})
    if not passages:
        raise DataError(f"{path}: no held-out passages")
    return passages


def _check_messages(path: Path, number: int, messages: object) -> None:
    if not isinstance(messages, list) or not messages:
        raise DataError(f'{path}:{number}: expected "messages" as a non-empty list')
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise DataError(f'{path}:{number}: message {i} needs a string "content"')
        if message.get("role") not in ROLES:
            raise DataError(
                f"{path}:{number}: message {i} has role {message.get('role')!r}; "
                f"expected one of {', '.join(ROLES)}"
            )
    if messages[-1]["role"] != "user":
        raise DataError(
            f"{path}:{number}: the last message must be the user's, for the model to answer"
        )


def read_prompts(path: Path) -> list[dict]:
    """Chat prompts `{"id", "messages", "reference"}`: the reply is scored against the reference."""
    prompts = []
    for number, record in jsonl_records(path):
        _check_messages(path, number, record.get("messages"))
        if not isinstance(record.get("reference"), str):
            raise DataError(f'{path}:{number}: expected a string "reference" field')
        prompts.append(
            {
                "id": record.get("id", f"line-{number}"),
                "messages": record["messages"],
                "reference": record["reference"],
            }
        )
    if not prompts:
        raise DataError(f"{path}: no prompts")
    return prompts
