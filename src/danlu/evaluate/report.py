"""The evaluation report card in Markdown: held-out metrics, chat compliance and a few samples."""

from __future__ import annotations

import re
from collections.abc import Sequence

# Characters that Markdown (GitHub flavour) would read as markup or as a table cell boundary.
MARKDOWN_SPECIAL = "\\`*_[]<>|#~"
# Long samples would drown the tables; the full text is in samples.jsonl.
SAMPLE_CHARS = 300
# Control characters from a half-trained model's byte soup would garble the file: show them as �.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

LM_ROWS = {"unigram": "unigram baseline", "base": "base model", "chat": "chat model"}


def escape_markdown(text: str, max_chars: int = SAMPLE_CHARS) -> str:
    """Text as it reads, safe inside a table cell: markup escaped, newlines as <br>."""
    if len(text) > max_chars:
        text = text[:max_chars].rstrip() + "…"
    text = CONTROL.sub("\ufffd", text.replace("\r\n", "\n"))
    for char in MARKDOWN_SPECIAL:
        text = text.replace(char, "\\" + char)
    return text.replace("\n", "<br>")


def _table(header: Sequence[str], align: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _lm_section(language_model: dict[str, dict]) -> list[str]:
    rows = [
        [
            LM_ROWS.get(name, escape_markdown(name)),
            f"{m['loss']:.4f}",
            f"{m['perplexity']:.2f}",
            f"{m['bits_per_byte']:.4f}",
            str(int(m["tokens"])),
        ]
        for name, m in language_model.items()
    ]
    any_metrics = next(iter(language_model.values()))
    lines = [
        "## Held-out language modelling",
        "",
        f"{int(any_metrics['bytes'])} bytes of held-out text. Bits per byte compares across "
        "tokenizers; loss and perplexity are per token of each model's own tokenizer.",
        "",
        *_table(
            ["model", "loss (nats/token)", "perplexity", "bits per byte", "tokens"],
            ["---", "---:", "---:", "---:", "---:"],
            rows,
        ),
    ]
    if "base" in language_model and "unigram" in language_model:
        base = language_model["base"]["bits_per_byte"]
        unigram = language_model["unigram"]["bits_per_byte"]
        verdict = "beats" if base < unigram else "does NOT beat"
        lines += [
            "",
            f"The base model {verdict} the unigram baseline "
            f"({base:.4f} vs {unigram:.4f} bits per byte).",
        ]
    return lines


def _chat_section(
    summary: dict[str, float], samples: Sequence[dict], num_samples: int
) -> list[str]:
    ended = sum(1 for s in samples if s["ended_with_end_token"])
    lines = [
        "## Chat",
        "",
        *_table(
            ["metric", "value"],
            ["---", "---:"],
            [
                [
                    "replies ending with `<\\|end\\|>`",
                    f"{ended}/{len(samples)} ({summary['format_rate']:.1%})",
                ],
                ["mean ROUGE-L F1", f"{summary['rouge_l']:.4f}"],
                ["mean token F1", f"{summary['token_f1']:.4f}"],
            ],
        ),
    ]
    shown = samples[:num_samples]
    if shown:
        rows = [
            [
                escape_markdown(str(s["id"])),
                escape_markdown(s["prompt"]),
                escape_markdown(s["reply"]),
                "yes" if s["ended_with_end_token"] else "no",
                f"{s['rouge_l']:.3f}",
            ]
            for s in shown
        ]
        lines += [
            "",
            f"### Chat samples ({len(shown)} of {len(samples)})",
            "",
            *_table(["id", "prompt", "reply", "ended", "ROUGE-L"], ["---"] * 4 + ["---:"], rows),
        ]
    return lines


def _base_section(samples: Sequence[dict], num_samples: int) -> list[str]:
    shown = samples[:num_samples]
    if not shown:
        return []
    rows = [
        [escape_markdown(str(s[key])) for key in ("id", "prompt", "continuation")] for s in shown
    ]
    return [
        f"## Base model continuations ({len(shown)})",
        "",
        *_table(["id", "prompt", "continuation"], ["---"] * 3, rows),
    ]


def render_report(
    language_model: dict[str, dict],
    chat_summary: dict[str, float],
    chat_samples: Sequence[dict],
    base_samples: Sequence[dict],
    *,
    num_samples: int,
) -> str:
    """The whole report; `language_model` maps unigram/base/chat to their held-out metrics."""
    sections = [
        ["# danlu evaluation report"],
        _lm_section(language_model),
        _chat_section(chat_summary, chat_samples, num_samples),
        _base_section(base_samples, num_samples),
    ]
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"
