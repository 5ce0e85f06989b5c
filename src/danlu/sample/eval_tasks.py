"""The sample's evaluation tasks, one of each kind, made from its own held-out text and prompts
(never from training text): the files `evaluate.tasks` points at by default.

- heldout (perplexity): the held-out passages.
- cloze (choice): a passage cut after some words; the true next words against three spans of
  other passages, HellaSwag-style.
- statements (classify): a held-out question with its own answer or another question's; is the
  answer correct, yes or no (label words).
- replies (generate): the held-out chat prompts, answered in the chat template, scored against
  their references.

A pure function of the held-out passages and prompts, so the tasks follow the sample's bytes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 20240305
CLOZE_CUTS = (24, 60)  # words of context before each cut, where a passage is long enough
CLOZE_ANSWER_WORDS = 6
CLOZE_CHOICES = 4

TASK_FILES = {
    "heldout.yaml": """\
# Held-out passages of the sample's sources: loss, perplexity and bits per byte.
kind: perplexity
data: heldout.jsonl
text: "{text}"
""",
    "cloze.yaml": """\
# Which words come next in a held-out passage? The true ones against spans of other passages.
kind: choice
data: cloze.jsonl
context: "{context}"
choices: choices
gold: gold
""",
    "statements.yaml": """\
# Does the answer fit the question? Held-out API entries, half with another entry's answer.
kind: classify
data: statements.jsonl
context: "Question: {question}\\nAnswer: {answer}\\nIs the answer correct?"
label: label
labels: {"yes": "yes", "no": "no"}
""",
    "replies.yaml": """\
# Held-out chat prompts, answered in the chat template, scored against the reference reply.
kind: generate
data: replies.jsonl
prompt: "{question}"
reference: reference
chat: true
max_new_tokens: 48
metrics: [rouge_l, token_f1, bleu, chrf]
""",
}


def cloze_items(passages: list[dict], rng: random.Random) -> list[dict]:
    words = [p["text"].split() for p in passages]
    items = []
    for index, (passage, text) in enumerate(zip(passages, words, strict=True)):
        others = [w for i, w in enumerate(words) if i != index and len(w) > CLOZE_ANSWER_WORDS]
        for cut in CLOZE_CUTS:
            if len(text) < cut + CLOZE_ANSWER_WORDS:
                continue
            answer = " ".join(text[cut : cut + CLOZE_ANSWER_WORDS])
            distractors: list[str] = []
            while len(distractors) < CLOZE_CHOICES - 1:
                other = rng.choice(others)
                start = rng.randrange(len(other) - CLOZE_ANSWER_WORDS)
                span = " ".join(other[start : start + CLOZE_ANSWER_WORDS])
                if span != answer and span not in distractors:
                    distractors.append(span)
            gold = rng.randrange(CLOZE_CHOICES)
            choices = distractors[:gold] + [answer] + distractors[gold:]
            items.append({"id": f"{passage['id']}-{cut}", "context": " ".join(text[:cut]),
                          "choices": choices, "gold": gold})
    return items


def statement_items(prompts: list[dict], rng: random.Random) -> list[dict]:
    """Each prompt twice: with its own reference (yes) and with another one's (no)."""
    order = list(range(len(prompts)))
    rng.shuffle(order)
    # shifting the shuffled order by one gives every prompt another prompt's answer
    wrong = {order[i]: order[(i + 1) % len(order)] for i in range(len(order))}
    items = []
    for index, prompt in enumerate(prompts):
        question = prompt["messages"][-1]["content"]
        items.append({"id": f"{prompt['id']}-yes", "question": question,
                      "answer": prompt["reference"], "label": "yes"})
        items.append({"id": f"{prompt['id']}-no", "question": question,
                      "answer": prompts[wrong[index]]["reference"], "label": "no"})
    return items


def write_eval_tasks(tasks: Path, passages: list[dict], prompts: list[dict]) -> dict[str, int]:
    """Write the task files and their data into the folder `tasks`; -> items per task."""
    rng = random.Random(SEED)
    data = {
        "heldout.jsonl": passages,
        "cloze.jsonl": cloze_items(passages, rng),
        "statements.jsonl": statement_items(prompts, rng),
        "replies.jsonl": [{"id": p["id"], "question": p["messages"][-1]["content"],
                           "reference": p["reference"]} for p in prompts],
    }
    tasks.mkdir(parents=True, exist_ok=True)
    for name, rows in data.items():
        (tasks / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                  encoding="utf-8")
    for name, text in TASK_FILES.items():
        (tasks / name).write_text(text, encoding="utf-8")
    return {name.split(".")[0]: len(rows) for name, rows in data.items()}
