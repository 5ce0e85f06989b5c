import gzip
import json
from pathlib import Path

import pytest

from danlu.errors import ConfigError, DataError
from danlu.evaluate.task import load_task, task_files, task_folders


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path: Path, rows: list[dict]) -> Path:
    return write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


MC = [{"q": f"question {n}", "opts": [f"a{n}", f"b{n}", f"c{n}"], "answer": n % 3}
      for n in range(6)]


def test_choice_task_reads_fields_through_templates(tmp_path):
    jsonl(tmp_path / "mc.jsonl", MC)
    task = load_task(write(tmp_path / "mc.yaml", 'kind: choice\ndata: mc.jsonl\n'
                           'context: "Q: {q}\\nA:"\nchoices: opts\ngold: answer\n'))
    assert (task.name, task.kind, len(task.items)) == ("mc", "choice", 6)
    item = task.items[1]
    assert item.context == "Q: question 1\nA:"
    assert item.choices == ("a1", "b1", "c1") and item.gold == 1
    assert item.id == "2"  # no id field: the line number
    assert task.chance == pytest.approx(1 / 3)
    assert item.texts == ("question 1", "a1", "b1", "c1")  # its own strings, for decontamination


def test_gold_may_be_the_choice_text(tmp_path):
    jsonl(tmp_path / "mc.jsonl", [{"q": "x", "opts": ["yes", "no"], "answer": "no"}])
    task = load_task(write(tmp_path / "t.yaml", "kind: choice\ndata: mc.jsonl\ncontext: '{q}'\n"
                           "choices: opts\ngold: answer\n"))
    assert task.items[0].gold == 1


def test_few_shot_examples_are_other_items_and_deterministic(tmp_path):
    jsonl(tmp_path / "mc.jsonl", MC)
    spec = ('kind: choice\ndata: mc.jsonl\ncontext: "Q: {q}\\nA:"\nchoices: opts\ngold: answer\n'
            'num_fewshot: 2\n')
    first = load_task(write(tmp_path / "a.yaml", spec))
    again = load_task(write(tmp_path / "b.yaml", spec))
    for item, same in zip(first.items, again.items, strict=True):
        assert item.context == same.context
        assert len(item.shots) == 2
        assert all(f"Q: question {n}\nA:" != ctx for ctx, _ in item.shots
                   for n in [int(item.id) - 1])  # never itself
        # each example shows its gold answer after the delimiter, then the separator
        ctx, answer = item.shots[0]
        assert item.context.startswith(f"{ctx} {answer}\n\n")
        assert item.context.endswith(f"Q: question {int(item.id) - 1}\nA:")
    assert len({i.shots for i in first.items}) > 1  # not the same examples for every item


def test_classify_task_from_a_tsv_with_label_words_and_fewshot_file(tmp_path):
    write(tmp_path / "dev.tsv", "label\tcontent\n0\tawful \"film\"\n1\tlovely\n")
    with gzip.open(tmp_path / "train.tsv.gz", "wt", encoding="utf-8") as fh:
        fh.write("label\tsentence\n1\tgreat\n0\tbad\n1\tfine\n")
    task = load_task(write(tmp_path / "sst.yaml", (
        "kind: classify\ndata: dev.tsv\nfewshot_data: train.tsv.gz\ncolumns: [label, text]\n"
        "num_fewshot: 2\ncontext: \"Review: {text}\\nSentiment:\"\nlabel: label\n"
        "labels: {'0': negative, '1': positive}\n")))
    assert [i.gold for i in task.items] == [0, 1]
    assert task.items[0].choices == ("negative", "positive")
    assert task.items[0].context.endswith('Review: awful "film"\nSentiment:')  # quotes kept
    assert task.items[0].context.count("Sentiment: ") == 2  # two examples with their label word


def test_unknown_label_names_the_record(tmp_path):
    write(tmp_path / "d.csv", "label,text\nham,hi\nmaybe,hmm\n")
    path = write(tmp_path / "t.yaml", "kind: classify\ndata: d.csv\ncontext: '{text}'\n"
                 "label: label\nlabels: {ham: 'no', spam: 'yes'}\n")
    with pytest.raises(DataError, match=r"d.csv:3: label 'maybe' is not one of ham, spam"):
        load_task(path)


def test_generate_task_from_line_aligned_files_and_env_paths(tmp_path, monkeypatch):
    for lang, lines in {"de": ["ein Hund", "eine Katze"], "en": ["a dog", "a cat"]}.items():
        with gzip.open(tmp_path / f"t.{lang}.gz", "wt", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    monkeypatch.setenv("MY_DATA", str(tmp_path))
    task = load_task(write(tmp_path / "tasks" / "mt.yaml", (
        "kind: generate\ndata: {de: '${MY_DATA}/t.de.gz', en: '${MY_DATA}/t.en.gz'}\n"
        "prompt: \"German: {de}\\nEnglish:\"\nreference: en\nstop: [\"\\n\"]\nmetrics: [bleu]\n")))
    assert [i.references for i in task.items] == [("a dog",), ("a cat",)]
    assert task.items[1].context == "German: eine Katze\nEnglish:"
    assert task.chance is None


def test_env_default_and_missing_variable(tmp_path, monkeypatch):
    jsonl(tmp_path / "p.jsonl", [{"text": "hello"}])
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    ok = write(tmp_path / "ok.yaml", "kind: perplexity\ndata: ${NOT_SET_ANYWHERE:-p.jsonl}\n")
    assert load_task(ok).items[0].context == "hello"
    bad = write(tmp_path / "bad.yaml", "kind: perplexity\ndata: ${NOT_SET_ANYWHERE}/p.jsonl\n")
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE"):
        load_task(bad)


def test_aligned_files_of_different_lengths_are_an_error(tmp_path):
    write(tmp_path / "a.txt", "one\ntwo\n")
    write(tmp_path / "b.txt", "one\n")
    path = write(tmp_path / "t.yaml", "kind: generate\ndata: {a: a.txt, b: b.txt}\n"
                 "prompt: '{a}'\nreference: b\n")
    with pytest.raises(DataError, match="differ in length"):
        load_task(path)


@pytest.mark.parametrize("text, match", [
    ("kind: choise\ndata: d.jsonl\n", "kind"),
    ("kind: choice\ndata: d.jsonl\ncontext: '{q}'\nchoices: c\ngold: g\ncontxt: x\n", "contxt"),
    ("kind: generate\ndata: d.jsonl\nprompt: '{q}'\nreference: r\nmetrics: [bleu, meteor]\n",
     "metrics"),
    ("kind: perplexity\ndata: d.jsonl\nnum_fewshot: 2\n", "few-shot"),
    ("- just\n- a list\n", "mapping"),
    ("name: 'has a dot.'\nkind: perplexity\ndata: d.jsonl\n", "task name"),
])
def test_bad_task_files_are_config_errors_naming_the_file(tmp_path, text, match):
    jsonl(tmp_path / "d.jsonl", [{"q": "x", "text": "y", "c": ["a", "b"], "g": 0, "r": "z"}])
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError, match=match) as info:
        load_task(path)
    assert "bad.yaml" in str(info.value)


def test_template_naming_a_missing_field(tmp_path):
    jsonl(tmp_path / "d.jsonl", [{"question": "x", "c": ["a", "b"], "g": 0}])
    path = write(tmp_path / "t.yaml", "kind: choice\ndata: d.jsonl\ncontext: '{query}'\n"
                 "choices: c\ngold: g\n")
    with pytest.raises(DataError, match=r"d.jsonl:1: .*'query'.*fields: question, c, g"):
        load_task(path)


@pytest.mark.parametrize("row, match", [
    ({"q": "x", "c": ["only one"], "g": 0}, "at least two"),
    ({"q": "x", "c": ["a", "b"], "g": 5}, "outside the 2 choices"),
    ({"q": "x", "c": ["a", "b"], "g": "c"}, "not one of the choices"),
])
def test_bad_choice_records(tmp_path, row, match):
    jsonl(tmp_path / "d.jsonl", [row])
    path = write(tmp_path / "t.yaml", "kind: choice\ndata: d.jsonl\ncontext: '{q}'\n"
                 "choices: c\ngold: g\n")
    with pytest.raises(DataError, match=match):
        load_task(path)


def test_limit_and_unknown_format(tmp_path):
    jsonl(tmp_path / "mc.jsonl", MC)
    path = write(tmp_path / "mc.yaml", "kind: choice\ndata: mc.jsonl\ncontext: '{q}'\n"
                 "choices: opts\ngold: answer\nlimit: 4\n")
    assert len(load_task(path).items) == 4
    assert len(load_task(path, limit=2).items) == 2
    write(tmp_path / "x.parquet", "")
    odd = write(tmp_path / "odd.yaml", "kind: perplexity\ndata: x.parquet\n")
    with pytest.raises(DataError, match="unknown task data format .parquet"):
        load_task(odd)


def test_task_files_expand_globs_and_refuse_empty_ones(tmp_path):
    a = write(tmp_path / "tasks" / "a.yaml", "")
    b = write(tmp_path / "tasks" / "b.yaml", "")
    single = write(tmp_path / "other.yaml", "")
    assert task_files(["tasks/*.yaml", "other.yaml", "tasks/a.yaml"], tmp_path) == [a, b, single]
    with pytest.raises(ConfigError, match="matches no task file"):
        task_files(["nowhere/*.yaml"], tmp_path)
    assert task_folders(["tasks/*.yaml", "other.yaml"], tmp_path) == [tmp_path / "tasks", single]


def test_a_gold_answer_that_reads_as_a_number_is_the_choice_text(tmp_path):
    jsonl(tmp_path / "d.jsonl", [{"q": "1 + 1", "c": ["1", "2", "3"], "g": "2"},
                                 {"q": "x", "c": ["a", "b"], "g": "1"}])
    task = load_task(write(tmp_path / "t.yaml", "kind: choice\ndata: d.jsonl\ncontext: '{q}'\n"
                           "choices: c\ngold: g\n"))
    assert [i.gold for i in task.items] == [1, 1]  # "2" is the text of choice 1; "1" an index


def test_a_limit_keeps_the_prompts_of_a_full_run(tmp_path):
    jsonl(tmp_path / "mc.jsonl", MC)
    spec = ("kind: choice\ndata: mc.jsonl\ncontext: '{q}'\nchoices: opts\ngold: answer\n"
            "num_fewshot: 3\n")
    full = load_task(write(tmp_path / "t.yaml", spec))
    limited = load_task(tmp_path / "t.yaml", limit=2)
    assert [i.context for i in limited.items] == [i.context for i in full.items[:2]]


def test_a_byte_order_mark_does_not_stick_to_the_first_column(tmp_path):
    (tmp_path / "d.tsv").write_bytes("\ufeffQuality\ttext\n1\tfine\n".encode("utf-8"))
    task = load_task(write(tmp_path / "t.yaml", "kind: classify\ndata: d.tsv\ncontext: '{text}'\n"
                           "label: Quality\nlabels: {0: bad, 1: good}\n"))
    assert task.items[0].gold == 1  # numeric YAML keys are read as the data's text


def test_unquoted_yes_and_no_labels_are_explained(tmp_path):
    jsonl(tmp_path / "d.jsonl", [{"t": "x", "l": "yes"}])
    path = write(tmp_path / "t.yaml", "kind: classify\ndata: d.jsonl\ncontext: '{t}'\n"
                 "label: l\nlabels: {yes: yes, no: no}\n")
    with pytest.raises(ConfigError, match="quote each label"):
        load_task(path)


def test_line_aligned_files_split_on_newlines_only(tmp_path):
    write(tmp_path / "a.txt", "one\u2028still one\r\ntwo\n")
    write(tmp_path / "b.txt", "1\n2\n")
    task = load_task(write(tmp_path / "t.yaml", "kind: generate\ndata: {a: a.txt, b: b.txt}\n"
                           "prompt: '{a}'\nreference: b\n"))
    assert [i.context for i in task.items] == ["one\u2028still one", "two"]


def test_a_classification_task_s_chance_is_its_most_common_label(tmp_path):
    jsonl(tmp_path / "d.jsonl", [{"t": str(n), "l": "ham" if n % 8 else "spam"} for n in range(16)])
    task = load_task(write(tmp_path / "t.yaml", "kind: classify\ndata: d.jsonl\ncontext: '{t}'\n"
                           "label: l\nlabels: {ham: 'no', spam: 'yes'}\n"))
    assert task.chance == 14 / 16  # always "ham", not a coin's 0.5
