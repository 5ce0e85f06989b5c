import struct

import numpy as np
import pytest

from danlu.errors import DataError
from danlu.tokens.shards import (
    HEADER_SIZE,
    MAGIC,
    check_shards,
    iter_documents,
    open_shard,
    unigram_counts,
    write_shard,
    write_shards,
)

DOCS = [[5, 6, 7], [], [9] * 10, list(range(1, 100))]


def test_round_trip(tmp_path):
    path = write_shard(tmp_path / "a.bin", iter(DOCS), vocab_size=512, bos_id=0)
    shard = open_shard(path, check_ids=True)
    assert shard.tokens.dtype == np.dtype("<u2")
    assert shard.num_docs == len(DOCS)
    assert shard.num_tokens == sum(len(d) + 1 for d in DOCS)
    for i, doc in enumerate(DOCS):
        assert shard.document(i).tolist() == [0, *doc]
    assert shard.offsets[-1] == shard.num_tokens
    assert [d.tolist() for d in iter_documents([path, path])] == [[0, *d] for d in DOCS + DOCS]
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


def test_numpy_documents_and_empty_shard(tmp_path):
    path = write_shard(tmp_path / "a.bin", [np.array([3, 4], dtype=np.int32)], vocab_size=512, bos_id=1)
    assert open_shard(path).document(0).tolist() == [1, 3, 4]
    empty = open_shard(write_shard(tmp_path / "e.bin", [], vocab_size=512, bos_id=0))
    assert (empty.num_tokens, empty.num_docs) == (0, 0)


def test_uint32_when_vocab_exceeds_uint16(tmp_path):
    big = [[70_000, 65_536, 1]]
    shard = open_shard(write_shard(tmp_path / "big.bin", big, vocab_size=70_001, bos_id=0), check_ids=True)
    assert shard.tokens.dtype == np.dtype("<u4")
    assert shard.document(0).tolist() == [0, *big[0]]
    assert open_shard(write_shard(tmp_path / "edge.bin", [[65_535]], vocab_size=65_536, bos_id=0)).tokens.dtype == np.dtype("<u2")


def test_id_outside_vocab_is_refused_on_write(tmp_path):
    with pytest.raises(DataError, match="bad.bin.*512"):
        write_shard(tmp_path / "bad.bin", [[1, 512]], vocab_size=512, bos_id=0)
    assert not list(tmp_path.iterdir())


def _corrupt(path, offset, data):
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))


@pytest.fixture
def shard_path(tmp_path):
    return write_shard(tmp_path / "s.bin", DOCS, vocab_size=512, bos_id=0)


def test_wrong_magic(shard_path):
    _corrupt(shard_path, 0, b"NOTTOKEN")
    with pytest.raises(DataError, match=r"s\.bin.*magic"):
        open_shard(shard_path)


def test_wrong_version(shard_path):
    _corrupt(shard_path, 8, struct.pack("<I", 99))
    with pytest.raises(DataError, match=r"s\.bin.*version 99"):
        open_shard(shard_path)


@pytest.mark.parametrize("code", [3, 4])
def test_wrong_dtype(shard_path, code):
    _corrupt(shard_path, 12, struct.pack("<I", code))
    with pytest.raises(DataError, match=r"s\.bin.*dtype code"):
        open_shard(shard_path)


def test_truncated_file(shard_path):
    raw = shard_path.read_bytes()
    shard_path.write_bytes(raw[:-5])
    with pytest.raises(DataError, match=r"s\.bin.*truncated"):
        open_shard(shard_path)
    shard_path.write_bytes(raw[:20])
    with pytest.raises(DataError, match=r"s\.bin.*truncated.*header"):
        open_shard(shard_path)


def test_broken_index_and_missing_bos(shard_path):
    raw = shard_path.read_bytes()
    index_start = len(raw) - 8 * (len(DOCS) + 1)
    _corrupt(shard_path, index_start + 8, struct.pack("<Q", 2))  # doc 1 starts inside doc 0
    with pytest.raises(DataError, match=r"s\.bin.*BOS"):
        open_shard(shard_path)
    _corrupt(shard_path, index_start + 8, struct.pack("<Q", 0))
    with pytest.raises(DataError, match=r"s\.bin.*strictly increasing"):
        open_shard(shard_path)


def test_check_ids_scans_tokens(shard_path):
    _corrupt(shard_path, HEADER_SIZE + 2, struct.pack("<H", 600))  # doc 0's first id > vocab
    open_shard(shard_path)  # the cheap checks pass
    with pytest.raises(DataError, match=r"s\.bin.*600"):
        open_shard(shard_path, check_ids=True)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.bin.*not found"):
        open_shard(tmp_path / "nope.bin")


def test_magic_is_at_the_start(shard_path):
    assert shard_path.read_bytes()[:8] == MAGIC


def test_write_shards_rolls_over_at_document_boundaries(tmp_path):
    docs = [[7] * 9 for _ in range(7)]  # 10 tokens each with BOS
    paths = write_shards(tmp_path, "train", docs, 512, bos_id=0, max_tokens=25)
    assert [p.name for p in paths] == ["train-00000.bin", "train-00001.bin", "train-00002.bin"]
    assert [open_shard(p).num_docs for p in paths] == [3, 3, 1]
    assert [p.name for p in write_shards(tmp_path, "val", [], 512, bos_id=0, max_tokens=25)] == ["val-00000.bin"]


def test_unigram_counts(tmp_path):
    a = write_shard(tmp_path / "a.bin", [[1, 2, 2]], vocab_size=512, bos_id=0)
    b = write_shard(tmp_path / "b.bin", [[2], [511]], vocab_size=512, bos_id=0)
    counts = unigram_counts([a, b], 512)
    assert counts.shape == (512,) and counts.dtype == np.int64
    assert counts[[0, 1, 2, 511]].tolist() == [3, 1, 3, 1]
    assert counts.sum() == 8  # 4 + 4 tokens, BOS included


def test_check_shards_summary_and_counts(tmp_path):
    paths = write_shards(tmp_path, "train", [[7] * 9 for _ in range(7)], 512, bos_id=0, max_tokens=25)
    summary = check_shards(paths, 512, bos_id=0, documents=7, tokens=70)
    assert (summary.shards, summary.documents, summary.tokens) == (3, 7, 70)
    with pytest.raises(DataError, match=r"train-00000.bin .. train-00002.bin.*70 tokens, 71"):
        check_shards(paths, 512, tokens=71)
    with pytest.raises(DataError, match=r"7 documents, 8"):
        check_shards(paths, 512, documents=8)


def test_check_shards_refuses_empty_shard(tmp_path):
    good = write_shard(tmp_path / "a.bin", [[1, 2]], vocab_size=512, bos_id=0)
    empty = write_shard(tmp_path / "empty.bin", [], vocab_size=512, bos_id=0)
    with pytest.raises(DataError, match=r"empty\.bin.*empty"):
        check_shards([good, empty], 512)
    with pytest.raises(DataError, match="no token shards"):
        check_shards([], 512)


def test_check_shards_refuses_other_vocab_or_bos(shard_path):
    with pytest.raises(DataError, match=r"s\.bin.*vocab_size 512.*1024"):
        check_shards([shard_path], 1024)
    with pytest.raises(DataError, match=r"s\.bin.*BOS id 0.*3"):
        check_shards([shard_path], 512, bos_id=3)


def test_check_shards_scans_every_id(shard_path):
    _corrupt(shard_path, HEADER_SIZE + 2, struct.pack("<H", 512))
    with pytest.raises(DataError, match=r"s\.bin.*token id 512 is not below vocab_size 512"):
        check_shards([shard_path], 512)


def test_uint16_dtype_for_a_uint32_vocab_is_refused(tmp_path):
    path = write_shard(tmp_path / "big.bin", [[70_000]], vocab_size=70_001, bos_id=0)
    _corrupt(path, 12, struct.pack("<I", 2))
    with pytest.raises(DataError, match=r"big\.bin.*dtype code 2 \(uint16\).*uint32"):
        open_shard(path)
