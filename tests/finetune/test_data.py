import json
from pathlib import Path

import pytest

from danlu.errors import DataError
from danlu.finetune.data import (collate, encode_examples, read_conversations, shuffled_batches,
                                 split_examples)
from danlu.tokens.chat import IGNORE_INDEX

CONV = {"id": "c1", "messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What does str.split do?"},
    {"role": "assistant", "content": "It splits a string."},
]}


@pytest.fixture(scope="module")
def tok(tiny_tokenizer_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))


def write(tmp_path: Path, rows: list) -> Path:
    path = tmp_path / "conv.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_labels_cover_exactly_the_assistant_reply_and_its_end(tok):
    [ex] = encode_examples(tok, [CONV], max_length=256)
    assert ex.input_ids == tok.apply_chat_template(CONV["messages"], tokenize=True)["input_ids"]
    learned = [i for i, label in zip(ex.input_ids, ex.labels) if label != IGNORE_INDEX]
    assert tok.decode(learned) == "\nIt splits a string.<|end|>"
    assert all(label in (IGNORE_INDEX, i) for i, label in zip(ex.input_ids, ex.labels))


def test_collate_shifts_and_pads(tok):
    short = {"id": "c2", "messages": [{"role": "user", "content": "Hi"},
                                      {"role": "assistant", "content": "Hello."}]}
    a, b = encode_examples(tok, [CONV, short], max_length=256)
    x, y = collate([a, b], pad_id=tok.pad_token_id)
    assert x.shape == y.shape == (2, len(a.input_ids) - 1)
    assert x[0].tolist() == a.input_ids[:-1] and y[0].tolist() == a.labels[1:]
    n = len(b.input_ids) - 1
    assert (x[1, n:] == tok.pad_token_id).all() and (y[1, n:] == IGNORE_INDEX).all()


def test_truncation_drops_conversations_with_nothing_left_to_learn(tok):
    assert encode_examples(tok, [CONV], max_length=8) == []


def test_split_is_deterministic_and_nonempty(tok):
    convs = [{**CONV, "id": f"c{i}"} for i in range(40)]
    exs = encode_examples(tok, convs, max_length=256)
    train, val = split_examples(exs, 0.2, seed=3)
    assert (train, val) == split_examples(exs, 0.2, seed=3)
    assert train and val and {e.id for e in train}.isdisjoint({e.id for e in val})
    # an example keeps its side when others join (the split is by id, not position)
    more = encode_examples(tok, [{**CONV, "id": f"c{i}"} for i in range(80)], max_length=256)
    assert {e.id for e in val} <= {e.id for e in split_examples(more, 0.2, seed=3)[1]}
    assert split_examples(exs, 0.2, seed=4) != (train, val)


def test_batches_are_seeded(tok):
    exs = encode_examples(tok, [{**CONV, "id": f"c{i}"} for i in range(6)], max_length=256)
    a = [next(g)[0].tolist() for g in [shuffled_batches(exs, 2, 0, seed=1)] for _ in range(5)]
    b = [next(g)[0].tolist() for g in [shuffled_batches(exs, 2, 0, seed=1)] for _ in range(5)]
    assert a == b


@pytest.mark.parametrize("row,match", [
    ("{not json", r"conv\.jsonl:1: not valid JSON"),
    ({"id": "x"}, r'conv\.jsonl:1: expected "messages" as a non-empty list'),
    ({"messages": [{"role": "robot", "content": "x"}]}, r"conv\.jsonl:1: message 0 has role 'robot'"),
    ({"messages": [{"role": "user", "content": "x"}]}, r"conv\.jsonl:1: conversation has no assistant"),
])
def test_bad_records_name_file_and_line(tmp_path: Path, row, match):
    with pytest.raises(DataError, match=match):
        read_conversations(write(tmp_path, [row]))


def test_missing_file_names_the_path(tmp_path: Path):
    with pytest.raises(DataError, match=f"{tmp_path / 'none.jsonl'}: file not found"):
        read_conversations(tmp_path / "none.jsonl")
