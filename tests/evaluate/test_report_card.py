from danlu.evaluate.report import escape_markdown, render_report

LM = {
    name: {"loss": loss, "perplexity": 2.0, "bits_per_byte": bpb, "tokens": 100, "bytes": 400}
    for name, loss, bpb in [("unigram", 5.0, 1.8), ("base", 3.0, 1.1), ("chat", 3.2, 1.2)]
}
SUMMARY = {"format_rate": 0.5, "rouge_l": 0.25, "token_f1": 0.3}
CHATS = [
    {"id": "p1", "prompt": "a | b?", "reply": "c|d <|end|>\nnext", "ended_with_end_token": True, "rouge_l": 0.5},
    {"id": "p2", "prompt": "x", "reply": "y", "ended_with_end_token": False, "rouge_l": 0.0},
]
BASES = [{"id": "h1", "prompt": "once upon", "continuation": " a *time*"}]


def cells(line: str) -> int:
    """Cells of a Markdown table row: pipes not escaped by a backslash, minus the outer two."""
    return sum(1 for i, c in enumerate(line) if c == "|" and (i == 0 or line[i - 1] != "\\")) - 1


def test_report_has_the_metrics_table():
    report = render_report(LM, SUMMARY, CHATS, BASES, num_samples=5)
    assert "| model | loss (nats/token) | perplexity | bits per byte | tokens |" in report
    assert "| unigram baseline | 5.0000 | 2.00 | 1.8000 | 100 |" in report
    assert "| base model | 3.0000 | 2.00 | 1.1000 | 100 |" in report
    assert "| chat model | 3.2000 | 2.00 | 1.2000 | 100 |" in report
    assert "The base model beats the unigram baseline" in report
    assert "1/2 (50.0%)" in report and "0.2500" in report and "0.3000" in report


def test_samples_are_escaped_and_keep_the_table_shape():
    report = render_report(LM, SUMMARY, CHATS, BASES, num_samples=5)
    sample_rows = [line for line in report.splitlines() if line.startswith("| p1 ")]
    assert sample_rows == [
        "| p1 | a \\| b? | c\\|d \\<\\|end\\|\\><br>next | yes | 0.500 |"
    ]
    for line in report.splitlines():
        if line.startswith("| p") or line.startswith("| h1"):
            assert cells(line) == (5 if line.startswith("| p") else 3)
    assert "a \\*time\\*" in report


def test_num_samples_limits_what_is_shown():
    report = render_report(LM, SUMMARY, CHATS, BASES, num_samples=1)
    assert "| p1 " in report and "| p2 " not in report
    assert "Chat samples (1 of 2)" in report
    none = render_report(LM, SUMMARY, CHATS, BASES, num_samples=0)
    assert "Chat samples" not in none and "continuations" not in none


def test_a_losing_base_model_is_called_out():
    losing = {**LM, "base": {**LM["base"], "bits_per_byte": 2.5}}
    assert "does NOT beat the unigram baseline" in render_report(losing, SUMMARY, CHATS, [], num_samples=1)


def test_long_samples_are_cut():
    assert escape_markdown("x" * 500, max_chars=10) == "x" * 10 + "…"


def test_control_characters_do_not_reach_the_file():
    assert escape_markdown("a\x07b\r\nc") == "a\ufffdb<br>c"
