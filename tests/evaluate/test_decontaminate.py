import hashlib
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from danlu.curate.output import DOCUMENTS_SCHEMA
from danlu.errors import ConfigError, DataError
from danlu.evaluate.decontaminate import (NgramIndex, dirty_items, document_texts,
                                          finetune_texts, training_index, window_hashes,
                                          word_hashes)

DOCUMENT = ("The river Vltava flows north through Bohemia and joins the Elbe at Mělník, "
            "after passing under the Charles Bridge in the old town of Prague, where tourists "
            "gather every summer evening to watch the boats.")
# A test item copied from the middle of the document, with other case and punctuation.
COPIED = ("QUESTION: the Elbe at Mělník; after passing under the CHARLES bridge -- in the old "
          "town of Prague?")
PARAPHRASE = ("Which river runs northwards across Bohemia, meets the Elbe near Melnik and "
              "passes beneath a famous bridge in Prague?")
CHINESE = "长江是中国最长的河流，全长六千三百公里，流经十一个省份，最后注入东海。"


def texts(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{i}" for i in range(500)]
    return [" ".join(rng.choice(vocabulary, 40)) for _ in range(count)]


def reference_hash(tokens: list[str]) -> int:
    """window_hashes' rule in plain Python integers: the vectorised code must agree."""
    mask, h = (1 << 64) - 1, len(tokens)
    for token in tokens:
        word = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
        h = (h * 0x100000001B3 + word) & mask
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & mask
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & mask
    return h ^ (h >> 31)


def test_copied_item_is_dirty_and_paraphrase_is_clean():
    index = NgramIndex([DOCUMENT])
    assert dirty_items(index, [COPIED, PARAPHRASE]) == [True, False]
    # 17 words, so five 13-grams: all but the one that starts with "question" are copied.
    assert index.overlap(COPIED) == 4
    assert index.overlap(PARAPHRASE) == 0


def test_chinese_is_matched_character_by_character():
    index = NgramIndex([f"一些无关的文字。{CHINESE}另一些文字。"])
    assert index.contains_any("长江是中国最长的河流，全长六千三百公里。")
    assert not index.contains_any("黄河是中国第二长的河流，全长五千多公里。")


def test_short_items_use_min_words_grams_and_the_shortest_never_count():
    index = NgramIndex(["one two three four five six seven eight nine ten"], n=13, min_words=8)
    assert index.contains_any("One, two, three, four, five, six, seven, eight!")  # 8 words, whole
    assert index.contains_any("zero one two three four five six seven eight")  # 9: one 8-gram
    assert not index.contains_any("two four six eight ten one three five")  # same words, not a run
    assert not index.contains_any("one two three four five six seven")  # 7 words: never dirty
    # min_words = n: items shorter than n are never dirty, and the index holds one length.
    strict = NgramIndex(["one two three four five six seven eight nine ten"], n=8, min_words=8)
    assert not strict.contains_any("one two three four five six seven")
    assert len(strict) == 3 and len(index) == 3


def test_hashes_are_fixed_across_processes():
    tokens = "the quick brown fox jumps over the lazy dog again and again today".split()
    (h,) = window_hashes(word_hashes(tokens), 13)
    assert int(h) == reference_hash(tokens) == 0xE6F306558D3B4A8E
    assert window_hashes(word_hashes(tokens[:5]), 13).size == 0


def test_index_is_sorted_unique_and_independent_of_chunking(monkeypatch):
    corpus = texts(60)
    whole = NgramIndex(corpus, n=5, min_words=5)
    monkeypatch.setattr("danlu.evaluate.decontaminate.CHUNK_HASHES", 50)  # merge every text
    chunked = NgramIndex(corpus + corpus, n=5, min_words=5)
    expected = {int(h) for t in corpus for h in window_hashes(word_hashes(t.split()), 5)}
    assert np.array_equal(whole.hashes, chunked.hashes)
    assert whole.hashes.tolist() == sorted(expected)
    assert all(chunked.contains_any(t) for t in corpus)
    assert not chunked.contains_any(" ".join(corpus[0].split()[:5][::-1]))


def test_bad_lengths_and_no_training_data_are_config_errors():
    with pytest.raises(ConfigError, match="min_words 9 and n 8"):
        NgramIndex([], n=8, min_words=9)
    with pytest.raises(ConfigError, match="no curated documents folder"):
        training_index(None, iter([]))


def write_documents(folder, rows):
    folder.mkdir(parents=True)
    base = {name: None for name in DOCUMENTS_SCHEMA.names}
    table = pa.Table.from_pylist([{**base, **row} for row in rows], schema=DOCUMENTS_SCHEMA)
    pq.write_table(table, folder / "part-00000.parquet", row_group_size=1)
    pq.write_table(DOCUMENTS_SCHEMA.empty_table(), folder / "part-00001.parquet")


def test_training_index_reads_curated_parts_and_finetuning_files(tmp_path):
    write_documents(tmp_path / "documents", [{"id": "d1", "text": DOCUMENT},
                                             {"id": "d2", "text": "short filler"}])
    sft = tmp_path / "sft.jsonl"
    reply = "Paris has been the capital of France since the late tenth century under Hugh Capet"
    prompt = "Tell me in one long sentence which city has served as the capital of modern France"
    rejected = "I would rather not say anything at all about the capitals of any European country"
    sft.write_text("\n".join([
        json.dumps({"messages": [{"role": "user", "content": "Capital?"},
                                 {"role": "assistant", "content": reply}]}),
        "{not json",
        json.dumps({"messages": [{"role": "user", "content": "a reply never trained on because "
                                  "this conversation has no assistant turn at all"}]}),
    ]) + "\n")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": prompt, "chosen": "Paris.", "rejected": rejected}))
    assert list(document_texts(tmp_path / "documents")) == [DOCUMENT, "short filler"]
    tuning = list(finetune_texts([sft, pairs]))
    # every string of every JSON record (role names too); the broken line is skipped
    never = "a reply never trained on because this conversation has no assistant turn at all"
    assert tuning == ["user", "Capital?", "assistant", reply, "user", never, prompt, "Paris.",
                      rejected]

    index = training_index(tmp_path / "documents", tuning, n=13)
    items = [COPIED, f"Q: {reply.upper()}?", prompt, rejected, PARAPHRASE, never]
    # a conversation the SFT stage would reject is still counted: one item too many flagged,
    # never one too few
    assert dirty_items(index, items) == [True, True, True, True, False, True]
    assert index.texts == 2 + 9
    assert dirty_items(training_index(None, tuning, n=13), [COPIED, reply]) == [False, True]


def test_unusable_documents_folder_names_the_path(tmp_path):
    with pytest.raises(DataError, match="no .parquet parts"):
        list(document_texts(tmp_path))
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "part-00000.parquet")
    with pytest.raises(DataError, match=r"part-00000.parquet: no 'text' column \(columns: body\)"):
        list(document_texts(tmp_path))
