import json
from pathlib import Path

import pytest

from danlu.errors import DataError
from danlu.finetune.formats import Conversation, read_sft_data
from danlu.records import Quarantined, iter_records, reason_counts, write_quarantine

USER = {"role": "user", "content": "What does str.split do?"}
REPLY = {"role": "assistant", "content": "It splits a string."}
GOOD = {"messages": [USER, REPLY]}
UNKNOWN = "unknown format: expected messages, conversations or instruction/output"


def line(row) -> str:
    return row if isinstance(row, str) else json.dumps(row)


def write_jsonl(folder: Path, rows: list, name: str = "data.jsonl") -> Path:
    path = folder / name
    path.write_text("".join(line(r) + "\n" for r in rows))
    return path


def test_each_format_becomes_chat_messages(tmp_path: Path):
    path = write_jsonl(tmp_path, [
        {"id": "m1", "messages": [{"role": "system", "content": "Be brief."}, USER, REPLY]},
        {"id": 7, "system": "Be kind.", "conversations": [
            {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello."},
            {"from": "user", "value": "Bye"}, {"from": "assistant", "value": "Bye."}]},
        {"id": "", "instruction": "Translate.", "input": "chat", "output": "cat",
         "system": "Be exact."},  # an empty id is no id
        {"instruction": "Add 2.", "input": " ", "output": "4", "history": [["Add 1.", "3"]]},
    ])
    data = read_sft_data(path)
    assert data.quarantined == []
    assert data.formats == {"messages": 1, "sharegpt": 1, "alpaca": 2}
    assert data.conversations == [
        Conversation("m1", [{"role": "system", "content": "Be brief."}, USER, REPLY]),
        Conversation("7", [{"role": "system", "content": "Be kind."},
                           {"role": "user", "content": "Hi"},
                           {"role": "assistant", "content": "Hello."},
                           {"role": "user", "content": "Bye"},
                           {"role": "assistant", "content": "Bye."}]),
        Conversation("data.jsonl:3", [{"role": "system", "content": "Be exact."},
                                      {"role": "user", "content": "Translate.\n\nchat"},
                                      {"role": "assistant", "content": "cat"}]),
        # a blank input adds nothing; history turns come before the instruction
        Conversation("data.jsonl:4", [{"role": "user", "content": "Add 1."},
                                      {"role": "assistant", "content": "3"},
                                      {"role": "user", "content": "Add 2."},
                                      {"role": "assistant", "content": "4"}]),
    ]


def test_trailing_user_turn_is_kept_and_empty_system_dropped(tmp_path: Path):
    messages = [{"role": "system", "content": " "}, USER, REPLY, {"role": "user", "content": "More?"}]
    data = read_sft_data(write_jsonl(tmp_path, [{"messages": messages}]))
    assert data.conversations[0].messages == messages[1:]


@pytest.mark.parametrize("row,reason", [
    ("{not json", "not valid JSON (Expecting property name enclosed in double quotes)"),
    ("[1, 2]", "expected a JSON object (got array)"),
    ({"text": "plain"}, UNKNOWN),
    ({"prompt": "Hi", "chosen": "a", "rejected": "b"},
     "preference pair: expected an SFT conversation, found chosen/rejected"),
    ({"messages": []}, "bad field: 'messages' must be a non-empty list"),
    ({"messages": [USER, {"role": "tool", "content": "{}"}]},
     "bad role: message 2 has role 'tool'; expected system, user, assistant"),
    ({"messages": [{"role": "user"}, REPLY]}, "bad message: message 1 needs a string 'content'"),
    ({"messages": [{"role": "user", "content": " \n"}, REPLY]},
     "empty turn: message 1 (user) has empty content"),
    ({"messages": [USER, {"role": "assistant", "content": ""}]},
     "empty turn: message 2 (assistant) has empty content"),
    ({"messages": [USER]}, "no assistant reply to learn"),
    ({"conversations": [{"from": "human", "value": "Hi"}, {"from": "observation", "value": "x"}]},
     "bad role: message 2 has from 'observation'; expected human, user, gpt, assistant, system"),
    ({"conversations": [{"from": "human", "value": "Hi"}]}, "no assistant reply to learn"),
    ({"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}],
      "system": 3}, "bad field: 'system' must be a string, got number"),
    ({"instruction": "Name a colour.", "input": "", "output": "  "}, "empty output"),
    ({"instruction": " ", "output": "Red."}, "empty instruction"),
    ({"instruction": "Name a colour.", "input": 3, "output": "Red."},
     "bad field: 'input' must be a string, got number"),
    ({"instruction": "Name a colour.", "output": None}, "bad field: 'output' must be a string, got null"),
    ({"instruction": "Again.", "output": "Blue.", "history": [["Name a colour."]]},
     "bad field: 'history' must be a list of [instruction, response] pairs"),
])
def test_bad_record_is_quarantined_with_file_line_and_reason(tmp_path: Path, row, reason):
    path = write_jsonl(tmp_path, [GOOD, "", line(row)])
    data = read_sft_data(path)
    assert data.quarantined == [Quarantined(str(path), 3, reason, line(row))]
    assert [c.id for c in data.conversations] == ["data.jsonl:1"]


def test_bad_utf8_and_bom_and_long_raw(tmp_path: Path):
    path = tmp_path / "mixed.jsonl"
    long_row = json.dumps({"messages": [USER], "pad": "x" * 3000})
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n\xff{}\n" + long_row.encode())
    data = read_sft_data(path)
    assert len(data.conversations) == 1  # the byte-order mark does not spoil line 1
    bad_utf8, long = data.quarantined
    assert (bad_utf8.line, bad_utf8.reason) == (2, "not valid UTF-8 (invalid start byte at byte 0)")
    assert (long.line, long.reason, long.raw) == (3, "no assistant reply to learn", long_row[:2000])


def test_json_array_counts_items(tmp_path: Path):
    path = tmp_path / "demo.json"
    path.write_text(json.dumps([{"instruction": "Hi", "output": "Hello."}, "oops", GOOD], indent=2))
    data = read_sft_data(path)
    assert [c.id for c in data.conversations] == ["demo.json:1", "demo.json:3"]
    assert data.quarantined == [
        Quarantined(str(path), 2, "expected a JSON object (got string)", '"oops"')]


def test_broken_json_array_quarantines_the_whole_file(tmp_path: Path):
    broken = tmp_path / "broken.json"
    broken.write_text('[{"messages": []},\n')
    good = write_jsonl(tmp_path, [GOOD])
    data = read_sft_data([broken, good])
    assert len(data.conversations) == 1
    [row] = data.quarantined
    assert (row.file, row.line) == (str(broken), 0)
    assert row.reason == "not valid JSON (Expecting value at line 2 column 1)"


def test_json_file_holding_json_lines(tmp_path: Path):
    path = write_jsonl(tmp_path, [GOOD, "{", GOOD], name="lines.json")
    data = read_sft_data(path)
    assert [c.id for c in data.conversations] == ["lines.json:1", "lines.json:3"]
    assert [(q.line, q.reason) for q in data.quarantined] == [
        (2, "not valid JSON (Expecting property name enclosed in double quotes)")]


def test_folder_reads_its_data_files_sorted(tmp_path: Path):
    write_jsonl(tmp_path, [{"id": "b", **GOOD}], name="b.jsonl")
    (tmp_path / "a.json").write_text(json.dumps([{"id": "a", **GOOD}]))
    (tmp_path / "notes.txt").write_text("not data")
    assert [c.id for c in read_sft_data(str(tmp_path)).conversations] == ["a", "b"]


def test_saved_hf_dataset_rows_are_records(tmp_path: Path):
    import datasets

    rows = [{"instruction": "Hi", "input": None, "output": "Hello."},
            {"instruction": "Bye", "input": "now", "output": ""}]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"))
    data = read_sft_data(tmp_path / "ds")
    assert data.conversations == [Conversation("ds:1", [{"role": "user", "content": "Hi"},
                                                        {"role": "assistant", "content": "Hello."}])]
    assert [(q.file, q.line, q.reason) for q in data.quarantined] == [
        (str(tmp_path / "ds"), 2, "empty output")]
    assert json.loads(data.quarantined[0].raw) == rows[1]


def test_saved_dataset_dict_uses_train_split(tmp_path: Path):
    import datasets

    split = datasets.Dataset.from_list([{"id": "t1", **GOOD}])
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(tmp_path / "dd"))
    assert [c.id for c in read_sft_data(tmp_path / "dd").conversations] == ["t1"]
    datasets.DatasetDict({"test": split}).save_to_disk(str(tmp_path / "no-train"))
    no_train = r"no-train: saved DatasetDict has no 'train' split \(splits: test\)"
    with pytest.raises(DataError, match=no_train):
        read_sft_data(tmp_path / "no-train")


def test_bad_paths_are_errors_naming_them(tmp_path: Path):
    with pytest.raises(DataError, match=f"{tmp_path / 'none.jsonl'}: no such file or folder"):
        read_sft_data(tmp_path / "none.jsonl")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"notes\.txt: expected a \.jsonl or \.json file"):
        read_sft_data(tmp_path / "notes.txt")
    with pytest.raises(DataError, match="folder holds no .jsonl or .json files"):
        read_sft_data(tmp_path)
    with pytest.raises(DataError, match="no input paths given"):
        read_sft_data([])


def test_nothing_usable_names_paths_count_and_common_reasons(tmp_path: Path):
    path = write_jsonl(tmp_path, ["{", "{", {"messages": [USER]}, {"text": "x"}, "", {"q": 1}])
    with pytest.raises(DataError) as err:
        read_sft_data(path)
    assert str(err.value) == (
        f"no usable conversations in {path}: 5 records quarantined; most common reasons: "
        "'not valid JSON' x2; 'unknown format' x2; 'no assistant reply to learn' x1")


def test_write_quarantine_and_reason_counts(tmp_path: Path):
    rows = [Quarantined("a.jsonl", 2, "not valid JSON (Expecting value)", "{"),
            Quarantined("a.jsonl", 5, "not valid JSON (Extra data)", "{}}"),
            Quarantined("b.json", 1, "bad role: message 2 has role 'tool'", "é")]
    out = tmp_path / "out" / "quarantine.jsonl"
    write_quarantine(out, rows)
    assert [json.loads(r) for r in out.read_text(encoding="utf-8").splitlines()] == [
        {"file": r.file, "line": r.line, "reason": r.reason, "raw": r.raw} for r in rows]
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind
    assert reason_counts(rows) == {"not valid JSON": 2, "bad role": 1}


def test_iter_records_yields_records_with_their_place(tmp_path: Path):
    path = write_jsonl(tmp_path, ["", GOOD, "7"])
    good, bad = iter_records(path)
    assert (good.file, good.line, good.data, good.id) == (str(path), 2, GOOD, "data.jsonl:2")
    assert bad == Quarantined(str(path), 3, "expected a JSON object (got number)", "7")


# --- the real datasets in ../shared/data --------------------------------------------------------

ALPACA_LIBRE = {  # file: (lines, kept, quarantined by reason kind), as observed in the source
    "alpaca_libre_tasks_v1.jsonl": (2375, 2138, {"empty output": 237}),
    "alpaca_libre_tasks_v2.jsonl": (2294, 2229, {"empty output": 51, "not valid JSON": 14}),
    "alpaca_libre_tasks_v3.jsonl": (1205, 1199, {"empty output": 6}),
}


@pytest.mark.parametrize("name", sorted(ALPACA_LIBRE))
def test_alpaca_libre_every_line_is_kept_or_quarantined(shared_data: Path, name: str):
    path = shared_data / "alpaca-libre" / name
    lines, kept, reasons = ALPACA_LIBRE[name]
    data = read_sft_data(path)
    assert (len(data.conversations), reason_counts(data.quarantined)) == (kept, reasons)
    assert data.formats == {"alpaca": kept}
    text = path.read_text(encoding="utf-8").split("\n")[:lines]
    blank = {n for n, t in enumerate(text, start=1) if not t.strip()}
    kept_lines = {int(c.id.rsplit(":", 1)[1]) for c in data.conversations}
    bad_lines = {q.line for q in data.quarantined}
    assert len(text) == lines and not (kept_lines & bad_lines or kept_lines & blank)
    assert kept_lines | bad_lines | blank == set(range(1, lines + 1))


def test_alpaca_libre_malformed_lines_are_the_known_fourteen(shared_data: Path):
    data = read_sft_data(shared_data / "alpaca-libre")
    assert (len(data.conversations), len(data.quarantined)) == (5566, 308)
    broken = [(Path(q.file).name, q.line) for q in data.quarantined
              if q.reason.startswith("not valid JSON")]
    assert broken == [("alpaca_libre_tasks_v2.jsonl", n)
                      for n in [2279, *range(2281, 2292), 2293, 2294]]


def test_llamafactory_alpaca_demo(shared_data: Path):
    data = read_sft_data(shared_data / "llamafactory-demo" / "alpaca_en_demo.json")
    assert (len(data.conversations), data.quarantined, data.formats) == (999, [], {"alpaca": 999})
    first = data.conversations[0]
    assert first.id == "alpaca_en_demo.json:1"
    assert first.messages[0] == {"role": "user", "content": "Describe a process of making crepes."}
    assert first.messages[1]["content"].startswith("Making crepes is an easy and delicious process!")


def test_llamafactory_folder_sets_aside_what_is_not_sft(shared_data: Path):
    data = read_sft_data(shared_data / "llamafactory-demo")  # wiki_demo.txt is not read
    assert len(data.conversations) == 999
    assert reason_counts(data.quarantined) == {"unknown format": 300, "preference pair": 300}
