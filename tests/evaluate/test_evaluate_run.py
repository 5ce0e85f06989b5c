import json
import math

import numpy as np
import pytest

from danlu.config import EvaluateConfig
from danlu.errors import ConfigError, DataError
from danlu.evaluate import run as run_module
from danlu.evaluate.run import evaluate
from danlu.tracking.tracker import NullTracker

PASSAGES = [
    {"id": "h1", "text": "the cat sat on the mat near the old house."},
    {"id": "h2", "text": "a big blue car ran quickly under the green tree | and the bird sang."},
]
PROMPTS = [
    {"id": "p1", "messages": [{"role": "user", "content": "what | sat?"}], "reference": "the cat sat"},
    {"id": "p2", "messages": [{"role": "user", "content": "a colour?"}], "reference": "red"},
]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def inputs(tmp_path):
    write_jsonl(tmp_path / "heldout.jsonl", PASSAGES)
    write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)
    cfg = EvaluateConfig(heldout="heldout.jsonl", prompts="prompts.jsonl", max_new_tokens=4, num_samples=1)
    return cfg, tmp_path


@pytest.fixture
def counts(tokenizer):
    return np.ones(len(tokenizer), dtype=np.int64)


def run(cfg, root, model_dir, counts, out_dir, **kwargs):
    return evaluate(cfg, model_dir, model_dir, counts, out_dir, context_length=16, root=root, **kwargs)


def test_evaluate_writes_metrics_report_and_samples(inputs, model_dir, counts):
    cfg, root = inputs
    tracker = NullTracker()
    result = run(cfg, root, model_dir, counts, root / "out", tracker=tracker)

    metrics = json.loads(result.metrics_path.read_text())
    assert metrics == result.metrics()
    for key in ("unigram_bpb", "base_loss", "base_perplexity", "base_bpb", "chat_loss", "chat_bpb",
                "chat_format_rate", "chat_rouge_l", "chat_token_f1", "base_beats_unigram"):
        assert isinstance(metrics[key], (int, float)) and math.isfinite(metrics[key]), key
    assert metrics["base_beats_unigram"] in (0, 1)
    assert metrics["base_perplexity"] == pytest.approx(math.exp(metrics["base_loss"]))
    assert metrics["heldout_bytes"] == sum(len(p["text"].encode()) for p in PASSAGES)

    report = result.report_path.read_text()
    assert "| unigram baseline |" in report and "what \\| sat?" in report
    samples = [json.loads(line) for line in result.samples_path.read_text().splitlines()]
    assert [s["kind"] for s in samples] == ["chat", "chat", "base"]
    assert samples[2]["id"] == "h1"

    assert tracker.metrics == []  # the runner logs them, once
    assert sorted(p.name for p, _ in tracker.artifacts) == ["metrics.json", "report.md", "samples.jsonl"]
    assert sorted(p.name for p in root.iterdir()) == ["heldout.jsonl", "out", "prompts.jsonl"]


def test_evaluation_is_deterministic(inputs, model_dir, counts):
    cfg, root = inputs
    first = run(cfg, root, model_dir, counts, root / "a")
    second = run(cfg, root, model_dir, counts, root / "b")
    assert first.metrics() == second.metrics()
    assert first.samples_path.read_text() == second.samples_path.read_text()


def test_missing_heldout_file_is_named(inputs, model_dir, counts):
    cfg, root = inputs
    (root / "heldout.jsonl").unlink()
    with pytest.raises(DataError, match="heldout.jsonl: file not found"):
        run(cfg, root, model_dir, counts, root / "out")
    assert not (root / "out").exists()


def test_malformed_line_names_file_and_line(inputs, model_dir, counts):
    cfg, root = inputs
    with (root / "prompts.jsonl").open("a") as fh:
        fh.write("\n{not json\n")
    with pytest.raises(DataError, match=r"prompts.jsonl:4: not valid JSON"):
        run(cfg, root, model_dir, counts, root / "out")


@pytest.mark.parametrize(
    "record, expected",
    [
        ({"id": "x"}, 'string "text"'),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_bad_heldout_records_are_named(inputs, model_dir, counts, record, expected):
    cfg, root = inputs
    write_jsonl(root / "heldout.jsonl", [PASSAGES[0], record])
    with pytest.raises(DataError, match=f"heldout.jsonl:2: .*{expected}"):
        run(cfg, root, model_dir, counts, root / "out")


def test_prompt_must_end_with_a_user_message(inputs, model_dir, counts):
    cfg, root = inputs
    bad = {**PROMPTS[0], "messages": [{"role": "assistant", "content": "hi"}]}
    write_jsonl(root / "prompts.jsonl", [bad])
    with pytest.raises(DataError, match="prompts.jsonl:1: the last message must be the user's"):
        run(cfg, root, model_dir, counts, root / "out")


def test_missing_model_folder_is_named(inputs, counts, tmp_path):
    cfg, root = inputs
    with pytest.raises(DataError, match="no-model: no model here"):
        run(cfg, root, tmp_path / "no-model", counts, root / "out")


def test_nothing_is_left_when_a_step_fails(inputs, model_dir, counts, monkeypatch):
    cfg, root = inputs
    out = root / "out"
    run(cfg, root, model_dir, counts, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken_report(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(run_module, "render_report", broken_report)
    with pytest.raises(RuntimeError, match="disk full"):
        run(cfg, root, model_dir, counts, root / "fresh")
    with pytest.raises(RuntimeError, match="disk full"):
        run(cfg, root, model_dir, counts, out)
    assert not (root / "fresh").exists()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the old result stays whole
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_context_longer_than_the_model_is_refused(inputs, model_dir, counts):
    cfg, root = inputs
    with pytest.raises(ConfigError, match="longer than"):
        evaluate(cfg, model_dir, model_dir, counts, root / "out", context_length=65, root=root)
