import json
from collections import Counter
from pathlib import Path

import pytest

from danlu.errors import DataError
from danlu.records import Quarantined
from danlu.finetune.preferences import PreferencePair, read_preference_data

SYSTEM = {"role": "system", "content": "Be brief."}
USER = {"role": "user", "content": "Capital of France?"}
GOOD_REPLY = {"role": "assistant", "content": "Paris."}
BAD_REPLY = {"role": "assistant", "content": "Lyon."}
GOOD = {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."}


def line(row) -> str:
    return row if isinstance(row, str) else json.dumps(row)


def write_jsonl(folder: Path, rows: list, name: str = "pairs.jsonl") -> Path:
    path = folder / name
    path.write_text("".join(line(r) + "\n" for r in rows))
    return path


def test_each_format_becomes_a_pair(tmp_path: Path):
    path = write_jsonl(tmp_path, [
        {"id": "p1", **GOOD},
        {"prompt": [SYSTEM, USER], "chosen": [GOOD_REPLY], "rejected": [BAD_REPLY]},
        {"chosen": [SYSTEM, USER, GOOD_REPLY], "rejected": [SYSTEM, USER, BAD_REPLY]},
        {"system": "Be brief.", "conversations": [{"from": "human", "value": "Capital of France?"}],
         "chosen": {"from": "gpt", "value": "Paris."}, "rejected": {"from": "gpt", "value": "Lyon."}},
        {"instruction": "Name the capital.", "input": "France", "chosen": "Paris.", "rejected": "Lyon."},
    ])
    data = read_preference_data(path)
    assert data.quarantined == []
    assert data.formats == {"explicit": 2, "implicit": 1, "sharegpt": 1, "alpaca": 1}
    assert data.pairs == [
        PreferencePair("p1", [USER], "Paris.", "Lyon."),
        PreferencePair("pairs.jsonl:2", [SYSTEM, USER], "Paris.", "Lyon."),
        PreferencePair("pairs.jsonl:3", [SYSTEM, USER], "Paris.", "Lyon."),
        PreferencePair("pairs.jsonl:4", [SYSTEM, USER], "Paris.", "Lyon."),
        PreferencePair("pairs.jsonl:5", [{"role": "user", "content": "Name the capital.\n\nFrance"}],
                       "Paris.", "Lyon."),
    ]


def test_implicit_prompt_keeps_the_shared_history(tmp_path: Path):
    history = [USER, GOOD_REPLY, {"role": "user", "content": "And of Italy?"}]
    row = {"chosen": [*history, {"role": "assistant", "content": "Rome."}],
           "rejected": [*history, {"role": "assistant", "content": "Milan."}]}
    [pair] = read_preference_data(write_jsonl(tmp_path, [row])).pairs
    assert (pair.prompt, pair.chosen, pair.rejected) == (history, "Rome.", "Milan.")


UNKNOWN = ("unknown format: expected prompt/chosen/rejected, chosen/rejected conversations, "
           "conversations/chosen/rejected or instruction/chosen/rejected")


@pytest.mark.parametrize("row,reason", [
    ('{"prompt": "x",', "not valid JSON (Expecting property name enclosed in double quotes)"),
    ('"text"', "expected a JSON object (got string)"),
    ({"prompt": "Hi", "chosen": "Hello."}, UNKNOWN),
    ({"chosen": "Paris.", "rejected": "Lyon."}, UNKNOWN),
    ({**GOOD, "rejected": "Paris."}, "identical chosen and rejected"),
    ({**GOOD, "chosen": " "}, "empty chosen"),
    ({**GOOD, "rejected": ""}, "empty rejected"),
    ({**GOOD, "chosen": [{"role": "assistant", "content": ""}]}, "empty chosen"),
    ({**GOOD, "prompt": ""}, "empty prompt"),
    ({**GOOD, "prompt": [USER, GOOD_REPLY]},
     "prompt does not end with a user message (it ends with assistant)"),
    ({**GOOD, "prompt": [USER, {"role": "tool", "content": "x"}]},
     "bad role: prompt message 2 has role 'tool'; expected system, user, assistant"),
    ({**GOOD, "chosen": [GOOD_REPLY, GOOD_REPLY]},
     "bad reply: 'chosen' must be a string or a list of one assistant message, got array"),
    ({"chosen": [USER, GOOD_REPLY], "rejected": [USER, GOOD_REPLY]}, "identical chosen and rejected"),
    ({"chosen": [USER, GOOD_REPLY], "rejected": [{"role": "user", "content": "Hi"}, BAD_REPLY]},
     "no common prompt: chosen and rejected differ from their first message"),
    ({"chosen": [USER, GOOD_REPLY], "rejected": [USER, GOOD_REPLY, USER, BAD_REPLY]},
     "prompt does not end with a user message (it ends with assistant)"),
    ({"chosen": [USER, GOOD_REPLY, USER, GOOD_REPLY], "rejected": [USER, BAD_REPLY]},
     "bad reply: 'chosen' must continue the common prompt with exactly one assistant message, "
     "got roles ['assistant', 'user', 'assistant']"),
    ({"chosen": [USER, {"role": "assistant", "content": " "}], "rejected": [USER, BAD_REPLY]},
     "empty turn: chosen message 2 (assistant) has empty content"),
    ({"conversations": [{"from": "human", "value": "Hi"}], "chosen": {"from": "human", "value": "a"},
      "rejected": {"from": "gpt", "value": "b"}},
     "bad role: 'chosen' is from 'human'; expected gpt or assistant"),
    ({"conversations": [{"from": "human", "value": "Hi"}], "chosen": "a",
      "rejected": {"from": "gpt", "value": "b"}},
     "bad reply: 'chosen' must be an object with a string 'value'"),
    ({"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hey"}],
      "chosen": {"from": "gpt", "value": "a"}, "rejected": {"from": "gpt", "value": "b"}},
     "prompt does not end with a user message (it ends with assistant)"),
    ({"instruction": "Name one.", "chosen": "Red.", "rejected": None},
     "bad field: 'rejected' must be a string, got null"),
    ({"instruction": "", "chosen": "Red.", "rejected": "Blue."}, "empty instruction"),
])
def test_bad_record_is_quarantined_with_file_line_and_reason(tmp_path: Path, row, reason):
    path = write_jsonl(tmp_path, [GOOD, "", line(row)])
    data = read_preference_data(path)
    assert data.quarantined == [Quarantined(str(path), 3, reason, line(row))]
    assert [p.id for p in data.pairs] == ["pairs.jsonl:1"]


def test_saved_hf_dataset_of_pairs(tmp_path: Path):
    import datasets

    rows = [{"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."},
            {"prompt": "Capital of Spain?", "chosen": "Madrid.", "rejected": "Madrid."}]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "pairs"))
    data = read_preference_data(tmp_path / "pairs")
    assert data.pairs == [PreferencePair("pairs:1", [USER], "Paris.", "Lyon.")]
    assert [(q.line, q.reason) for q in data.quarantined] == [(2, "identical chosen and rejected")]


def test_nothing_usable_is_an_error(tmp_path: Path):
    path = write_jsonl(tmp_path, [{**GOOD, "rejected": "Paris."}, {"text": "x"}])
    with pytest.raises(DataError, match=(
            rf"no usable preference pairs in {path}: 2 records quarantined; most common reasons: "
            r"'identical chosen and rejected' x1; 'unknown format' x1")):
        read_preference_data(path)


def test_llamafactory_dpo_demo(shared_data: Path):
    data = read_preference_data(shared_data / "llamafactory-demo" / "dpo_en_demo.json")
    assert (len(data.pairs), data.quarantined, data.formats) == (300, [], {"sharegpt": 300})
    assert all(p.prompt[-1]["role"] == "user" and p.chosen != p.rejected for p in data.pairs)
    assert sum(p.prompt[0]["role"] == "system" for p in data.pairs) == 80
    # prompt lengths: 114 lone questions, 80 with a system prompt, 106 with earlier turns
    lengths = Counter(len(p.prompt) for p in data.pairs)
    assert lengths == {1: 114, 2: 80, 3: 1, 5: 57, 7: 46, 9: 1, 13: 1}
    first = data.pairs[0]
    assert first.id == "dpo_en_demo.json:1"
    assert first.prompt[0]["content"].startswith("Hi! I'd like to create a new language game")
    assert first.chosen.startswith("That sounds like a fun and engaging idea!")
