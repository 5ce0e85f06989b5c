import json

import pytest
from tokenizers import Tokenizer

from danlu.tokens.chat import SPECIAL_TOKENS
from danlu.tokenizer.report import (
    report_markdown,
    token_bytes,
    tokenizer_report,
    vocabulary_stats,
    write_report,
)

CRAWL = [f"The king and the queen of the river city had {n} music seasons." for n in range(20)]


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))


def test_token_bytes_inverts_the_byte_level_alphabet():
    assert token_bytes("Ġthe") == b" the"
    assert token_bytes("Ċ") == b"\n"
    assert token_bytes("æĹ¥") == "日".encode()


def test_vocabulary_stats_add_up(tokenizer):
    stats = vocabulary_stats(tokenizer)
    assert stats["size"] == tokenizer.get_vocab_size() == 600
    # 256 byte entries, the special tokens, one entry per merge.
    assert stats["merges"] == 600 - 256 - len(SPECIAL_TOKENS)
    assert stats["special_tokens"] == SPECIAL_TOKENS
    assert sum(stats["share_by_class"].values()) == pytest.approx(1.0)
    learned = 1 - len(SPECIAL_TOKENS) / 600
    assert sum(stats["share_by_length"].values()) == pytest.approx(learned)
    assert stats["share_by_length"]["1"] == pytest.approx(256 / 600)
    # 128 of the 256 single bytes are not UTF-8 alone; merges add more pieces of CJK and emoji.
    assert stats["share_by_class"]["partial_utf8"] >= 128 / 600
    assert stats["share_by_class"]["word"] > 0.1
    assert stats["share_by_class"]["word_piece"] > 0
    assert stats["share_by_class"]["digits"] >= 10 / 600
    longest = stats["longest"]
    assert [e["bytes"] for e in longest] == sorted((e["bytes"] for e in longest), reverse=True)
    assert longest[0]["bytes"] == len(token_bytes(tokenizer.id_to_token(longest[0]["id"])))


def test_report_bytes_per_token_per_source(tokenizer, tmp_path):
    held_out = {"crawl": CRAWL, "code": ["x = 3.14159;\n" * 5, "bad \ud800 surrogate"]}
    report = tokenizer_report(tokenizer, held_out, train_seconds=1.23456)
    assert report["train_seconds"] == 1.235
    crawl = report["held_out"]["sources"]["crawl"]
    assert crawl["documents"] == 20
    assert crawl["bytes"] == sum(len(t.encode()) for t in held_out["crawl"])
    ids = [tokenizer.encode(t, add_special_tokens=False).ids for t in held_out["crawl"]]
    assert crawl["tokens"] == sum(map(len, ids))
    assert crawl["bytes_per_token"] == pytest.approx(crawl["bytes"] / crawl["tokens"])
    # Trained on this kind of text, the tokenizer compresses it better than the code lines.
    assert crawl["bytes_per_token"] > report["held_out"]["sources"]["code"]["bytes_per_token"]
    total = report["held_out"]["all"]
    assert total["tokens"] == crawl["tokens"] + report["held_out"]["sources"]["code"]["tokens"]

    json_path, md_path = write_report(report, tmp_path)
    assert json.loads(json_path.read_text()) == json.loads(json.dumps(report))
    markdown = md_path.read_text()
    assert markdown == report_markdown(report)
    assert "| crawl | 20 |" in markdown.replace("`", "")
    assert f"{total['bytes_per_token']:.3f} bytes per token" in markdown
    # Every table row has as many cells as its header, whatever the tokens hold.
    for block in markdown.split("\n\n"):
        rows = [r for r in block.splitlines() if r.startswith("|")]
        cells = {len(r.replace("\\|", "").split("|")) for r in rows}
        assert len(cells) <= 1, block


def test_empty_source_does_not_divide_by_zero(tokenizer):
    report = tokenizer_report(tokenizer, {"empty": []}, train_seconds=0.0)
    assert report["held_out"]["all"]["bytes_per_token"] == 0.0
    report_markdown(report)
