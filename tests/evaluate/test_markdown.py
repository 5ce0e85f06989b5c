from danlu.evaluate.markdown import escape_markdown, table


def test_escape_keeps_text_readable_and_safe_in_a_cell():
    assert escape_markdown("a | b_c *d*") == "a \\| b\\_c \\*d\\*"
    assert escape_markdown("x" * 500, max_chars=10) == "x" * 10 + "…"
    assert escape_markdown("a\x07b\r\nc") == "a\ufffdb<br>c"


def test_table_lines():
    assert table(["a", "b"], ["---", "---:"], [["1", "2"]]) == ["| a | b |", "|---|---:|",
                                                                "| 1 | 2 |"]
