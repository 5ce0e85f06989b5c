"""Read the evaluation inputs: held-out passages and chat prompts with references (JSONL)."""

from __future__ import annotations

from pathlib import Path

from danlu.errors import DataError
from danlu.jsonl import jsonl_records
from danlu.tokens.chat import messages_problem


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


def read_prompts(path: Path) -> list[dict]:
    """Chat prompts `{"id", "messages", "reference"}`: the reply is scored against the reference."""
    prompts = []
    for number, record in jsonl_records(path):
        problem = messages_problem(record.get("messages"), last_role="user")
        if problem:
            raise DataError(f"{path}:{number}: {problem}")
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
