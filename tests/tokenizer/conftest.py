"""Small corpora made in code, and one tokenizer trained on them for the whole session."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from danlu.tokenizer.train import save_tokenizer, train_bpe

WORDS = (
    "the of and to in is was for on that with as by at from his her it an were are which this "
    "be or has had first one their its new after who they have two but been other when there "
    "king queen river city music season film game team war church school house village"
).split()
EXTRAS = ["naïve café", "日本語のテキスト", "中文字符", "emoji 😀🎉", "e\u0301 combining", "x = 3.14159;", "1234567"]


def make_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(15, 60))]
        words.insert(rng.randrange(len(words)), rng.choice(EXTRAS))
        sentence = " ".join(words)
        texts.append(sentence[0].upper() + sentence[1:] + ".\n" + str(rng.randint(0, 10**6)))
    return texts


def write_documents(folder: Path, n: int = 300, seed: int = 0, files: int = 2) -> Path:
    """`files` parquet files of n documents (columns id, text, source) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = make_texts(n, seed)
    ids = [f"doc-{seed}-{i:05d}" for i in range(n)]
    sources = ["crawl" if i % 3 else "reference" for i in range(n)]
    for f in range(files):
        part = slice(f, None, files)  # interleaved, so file order is not id order
        table = pa.table({"id": ids[part], "text": texts[part], "source": sources[part]})
        pq.write_table(table, folder / f"part-{f}.parquet")
    return folder


@pytest.fixture(scope="session")
def documents_dir(tmp_path_factory) -> Path:
    return write_documents(tmp_path_factory.mktemp("documents"))


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    tokenizer = train_bpe(make_texts(400, seed=1), vocab_size=600, min_frequency=2)
    return save_tokenizer(tokenizer, tmp_path_factory.mktemp("tok") / "tokenizer", model_max_length=256)


@pytest.fixture(scope="session")
def hf_tokenizer(tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


@pytest.fixture(scope="session")
def hf_from():
    """Load a saved tokenizer folder as the other stages do."""
    from transformers import AutoTokenizer

    return lambda folder: AutoTokenizer.from_pretrained(str(folder))


@pytest.fixture(scope="session")
def documents_writer():
    """write_documents, for tests that need their own corpus."""
    return write_documents
