"""Fine-tuning fixtures: small conversation and preference files made in code, and each
section of the repo's params.yaml with test-sized overrides."""

import json
from pathlib import Path

import pytest

QUESTIONS = ["str.split", "str.join", "os.path.join", "len", "sorted", "zip", "map", "open",
             "range", "print", "dict.get", "list.append"]


def conversation(i: int) -> dict:
    name = QUESTIONS[i % len(QUESTIONS)]
    return {"id": f"c{i}", "messages": [
        {"role": "user", "content": f"What does {name} do?"},
        {"role": "assistant", "content": f"{name} is a Python function number {i}."}]}


@pytest.fixture
def conversations_file(tmp_path: Path) -> Path:
    path = tmp_path / "conversations.jsonl"
    rows = [json.dumps(conversation(i)) for i in range(24)] + ["{broken"]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def preferences_file(tmp_path: Path) -> Path:
    """Pairs a reward model learns fast: the chosen reply answers, the rejected says 'Yes.'"""
    path = tmp_path / "preferences.jsonl"
    rows = []
    for i in range(48):
        conv = conversation(i)
        rows.append({"id": f"p{i}", "prompt": conv["messages"][:1],
                     "chosen": conv["messages"][1]["content"], "rejected": "Yes."})
    rows.append({"id": "same", "prompt": "Hi", "chosen": "Hello.", "rejected": "Hello."})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def prompts_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "messages": conversation(i)["messages"][:1]})
                            + "\n" for i in range(4)))
    return path


@pytest.fixture
def section(repo_root: Path, tmp_path: Path):
    """section("finetune", "max_steps=3", ...) -> that params.yaml section, overridden."""
    from danlu.config.load import load_config

    def make(name: str, *overrides: str):
        cfg = load_config(repo_root / "params.yaml", [f"{name}.{o}" for o in overrides])
        return getattr(cfg, name)

    return make
