"""Shared fixtures: the project's params and the real datasets in ../shared/data (by path, never copied)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DANLU_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real test datasets; tests that need them skip on a clone without ../shared/data."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (set DANLU_SHARED_DATA); CI has them")
    return SHARED_DATA


@pytest.fixture(scope="module")
def prefect():
    """Prefect's test harness (a temporary server) for a module's flow runs."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


TEXTS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "def add(a, b):\n    return a + b\n",
    "Python's str.split splits a string into a list of words.",
    "What does textwrap.dedent do? It removes common leading whitespace.",
] * 40


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    """A small trained byte-level BPE tokenizer with danlu's special tokens and chat template."""
    from danlu.tokenizer.train import save_tokenizer, train_bpe

    folder = tmp_path_factory.mktemp("tiny-tokenizer")
    save_tokenizer(train_bpe(TEXTS, 400, 2), folder, model_max_length=64)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer_dir: Path) -> Path:
    """A randomly initialised tiny Llama saved as danlu saves models (with its tokenizer)."""
    from transformers import AutoTokenizer

    from danlu.model.llama import build_model, llama_config
    from danlu.model.saved import generation_ids, save_model

    tok = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
    ids = generation_ids(tok)
    config = llama_config("tiny", vocab_size=len(tok), context_length=64,
                          bos_id=ids["bos_token_id"], eos_id=ids["eos_token_id"][1],
                          pad_id=ids["pad_token_id"])
    folder = tmp_path_factory.mktemp("tiny-model")
    save_model(build_model(config, seed=0), tok, folder)
    return folder


@pytest.fixture(scope="session")
def lively_model_dir(tmp_path_factory, tiny_model_dir: Path) -> Path:
    """The tiny model with seeded noise on every weight, so that its greedy replies vary from
    token to token (the freshly initialised one repeats a single token), saved the same way."""
    import torch

    from danlu.model.saved import load_model, save_model

    model, tok = load_model(tiny_model_dir)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.1)
    folder = tmp_path_factory.mktemp("lively-model")
    save_model(model, tok, folder)
    return folder


STAGE_TEXTS = [
    "The quick brown fox jumps over the lazy dog while the cat sleeps in the sun.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n",
    "Python's str.split splits a string into a list of words, by whitespace by default.",
    "What does textwrap.dedent do? It removes common leading whitespace from every line.",
]


@pytest.fixture(scope="module")
def tokenizer_stage_project(tmp_path_factory, repo_root: Path, tiny_tokenizer_dir: Path):
    """make(name): a project (the repo's params.yaml) whose outputs/tokenizer holds the tiny
    tokenizer, token shards of English text and stats.json, as the tokenizer stage leaves them."""
    import json
    import shutil

    import numpy as np
    from transformers import AutoTokenizer

    from danlu.tokens.chat import BOS
    from danlu.tokens.shards import write_shards

    def make(name: str) -> Path:
        root = tmp_path_factory.mktemp(name)
        shutil.copy(repo_root / "params.yaml", root / "params.yaml")
        stage = root / "outputs" / "tokenizer"
        shutil.copytree(tiny_tokenizer_dir, stage / "tokenizer")
        tok = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
        bos = tok.convert_tokens_to_ids(BOS)
        rng = np.random.default_rng(0)
        docs = [tok.encode(" ".join(rng.choice(STAGE_TEXTS, 3))) for _ in range(300)]
        write_shards(stage / "shards", "train", docs[:270], len(tok), bos_id=bos, max_tokens=5000)
        write_shards(stage / "shards", "val", docs[270:], len(tok), bos_id=bos, max_tokens=10**6)
        val_bytes = sum(len(tok.decode(d).encode()) for d in docs[270:])
        (stage / "stats.json").write_text(json.dumps(
            {"val_bytes": val_bytes, "val_tokens": sum(len(d) for d in docs[270:])}))
        heldout = root / "data" / "eval" / "tasks" / "heldout.jsonl"  # params' train.heldout
        heldout.parent.mkdir(parents=True)
        heldout.write_text("".join(json.dumps({"text": t}) + "\n" for t in STAGE_TEXTS[:4]))
        return root

    return make


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """What ran, by area of the code (tests mirror src/), after the dots: passed, skipped
    (the reasons are in pytest's short summary above) and failed."""
    from collections import Counter, defaultdict

    areas: dict[str, Counter] = defaultdict(Counter)
    for outcome in ("passed", "skipped", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            parts = getattr(report, "nodeid", "").split("::")[0].split("/")
            if len(parts) < 2:
                continue
            area = parts[1] if len(parts) > 2 else "pipeline, cli, config, layers"
            areas[area][outcome] += 1
    if not areas:
        return
    terminalreporter.section("danlu tests by area")
    terminalreporter.write_line(f"{'area':32} {'passed':>7} {'skipped':>8} {'failed':>7}")
    for area in sorted(areas):
        c = areas[area]
        terminalreporter.write_line(
            f"{area:32} {c['passed']:>7} {c['skipped']:>8} {c['failed'] + c['error']:>7}")
