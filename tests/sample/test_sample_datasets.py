"""The sample's JSONL files and manifest: schemas, determinism, and no evaluation text in training text."""

from __future__ import annotations

import re

from sample_reading import digest_of_tree, page_html, read_jsonl, visible_text


def test_two_builds_are_byte_identical(built_sample, fresh_build, tmp_path):
    fresh_build(tmp_path / "again")
    assert digest_of_tree(tmp_path / "again") == digest_of_tree(built_sample.root)
    print(f"\nsample build took {built_sample.seconds:.1f}s")


def test_manifest_lists_every_other_file_with_hash_and_size(built_sample):
    listed = built_sample.manifest["files"]
    on_disk = digest_of_tree(built_sample.root)
    assert set(on_disk) == set(listed) | {"manifest.json"}
    for name, entry in listed.items():
        assert entry["sha256"] == on_disk[name]
        assert entry["size"] == (built_sample.root / name).stat().st_size
    expected = {
        "crawl/crawl-00001.warc.gz", "crawl/crawl-00009.warc.gz", "reference/reference.jsonl",
        "sft/conversations.jsonl", "eval/tasks/heldout.jsonl", "eval/prompts.jsonl",
    }  # fmt: skip
    assert expected <= set(listed)
    assert sum(entry["size"] for entry in listed.values()) < 4_000_000


def test_reference_documents(built_sample):
    rows = read_jsonl(built_sample.root / "reference" / "reference.jsonl")
    assert 150 <= len(rows) <= 400 and len(rows) == built_sample.manifest["counts"]["reference"]
    assert len({row["id"] for row in rows}) == len(rows)
    for row in rows:
        assert set(row) == {"id", "title", "text", "source"} and row["source"] == "python-docs"
        assert row["title"].strip() and len(row["text"]) >= 300


def test_sft_conversations(built_sample):
    rows = read_jsonl(built_sample.root / "sft" / "conversations.jsonl")
    assert 1500 <= len(rows) <= 3000 and len(rows) == built_sample.manifest["counts"]["sft"]
    assert len({row["id"] for row in rows}) == len(rows)
    with_system = two_turn = 0
    for row in rows:
        assert set(row) == {"id", "messages"}
        roles = [message["role"] for message in row["messages"]]
        with_system += roles[0] == "system"
        body = roles[1:] if roles[0] == "system" else roles
        assert body == ["user", "assistant"] * (len(body) // 2) and body
        two_turn += len(body) == 4
        for message in row["messages"]:
            content = message["content"]
            assert content and content == content.strip() and "\n" not in content
            assert "  " not in re.sub(r"`[^`]*`", "x", content)  # code spans may hold '  ' (a default value)
        assert all(len(m["content"]) <= 420 for m in row["messages"] if m["role"] == "assistant")
    assert with_system > 0.1 * len(rows) and two_turn > 0.05 * len(rows)


def test_eval_sets(built_sample):
    heldout = read_jsonl(built_sample.root / "eval" / "tasks" / "heldout.jsonl")
    assert 40 <= len(heldout) <= 80
    for row in heldout:
        assert set(row) == {"id", "text"} and 500 <= len(row["text"]) <= 3000
    prompts = read_jsonl(built_sample.root / "eval" / "prompts.jsonl")
    assert 40 <= len(prompts) <= 80
    for row in prompts:
        assert set(row) == {"id", "messages", "reference"} and row["reference"].strip()
        assert [m["role"] for m in row["messages"]] == ["user"] and row["messages"][0]["content"].strip()


def test_heldout_text_never_appears_in_training_text(built_sample, responses):
    root = built_sample.root
    training = [row["text"] for row in read_jsonl(root / "reference" / "reference.jsonl")]
    training += [m["content"] for row in read_jsonl(root / "sft" / "conversations.jsonl") for m in row["messages"]]
    training += [visible_text(page_html(r)) for r in responses.values() if r.http_content_type == "text/html"]
    corpus = "\n".join(" ".join(text.split()) for text in training)
    for row in read_jsonl(root / "eval" / "tasks" / "heldout.jsonl"):
        assert " ".join(row["text"].split())[:200] not in corpus, row["id"]
    for row in read_jsonl(root / "eval" / "prompts.jsonl"):
        assert row["reference"] not in corpus, row["id"]


def test_prompts_ask_about_modules_that_sft_never_mentions(built_sample):
    heldout_modules = built_sample.manifest["sources"]["heldout_modules"]
    questions = " ".join(
        m["content"]
        for row in read_jsonl(built_sample.root / "sft" / "conversations.jsonl")
        for m in row["messages"]
        if m["role"] == "user"
    )
    for module in heldout_modules:
        assert f"`{module}." not in questions and f"`{module}`" not in questions
    prompt_rows = read_jsonl(built_sample.root / "eval" / "prompts.jsonl")
    prompts = " ".join(row["messages"][0]["content"] for row in prompt_rows)
    assert any(module in prompts for module in heldout_modules)
