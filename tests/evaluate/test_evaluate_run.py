import json
import math
from pathlib import Path

import numpy as np
import pytest

from danlu.config.evaluate import DecontaminateConfig, EvaluateConfig, GateConfig
from danlu.evaluate import run as run_module
from danlu.model.scoring import unigram_metrics
from danlu.evaluate.run import OUTPUT_FILES, evaluate
from danlu.evaluate.suite import ModelEntry, flat_metrics, model_metric, summary_table
from danlu.evaluate.task import load_task
from danlu.tracking.tracker import NullTracker


def sentences(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words = "the a cat dog sat ran on under mat house red blue big small tree".split()
    return [" ".join(rng.choice(words, size=int(rng.integers(4, 9)))) + "." for _ in range(count)]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path: Path, rows: list[dict]) -> None:
    write(path, "".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    """One task of each kind, on the tiny model's words."""
    root = tmp_path_factory.mktemp("tasks")
    texts = sentences(12, seed=3)
    jsonl(root / "text.jsonl", [{"id": f"t{n}", "text": t, "src": "ab"[n % 2]}
                                for n, t in enumerate(texts)])
    jsonl(root / "mc.jsonl", [{"q": t.split()[0], "c": ["cat sat", "dog ran", "the mat"],
                               "g": n % 3} for n, t in enumerate(texts)])
    jsonl(root / "cls.jsonl", [{"t": t, "l": "pos" if n % 2 else "neg"}
                               for n, t in enumerate(texts)])
    jsonl(root / "gen.jsonl", [{"p": t, "r": t} for t in texts[:3]])
    files = {
        "lm.yaml": "kind: perplexity\ndata: text.jsonl\ngroup: src\n",
        "mc.yaml": "kind: choice\ndata: mc.jsonl\ncontext: '{q}'\nchoices: c\ngold: g\n",
        "cls.yaml": ("kind: classify\ndata: cls.jsonl\ncontext: '{t} |'\nlabel: l\nnum_fewshot: 1\n"
                     "labels: {neg: bad, pos: good}\n"),
        "gen.yaml": ("kind: generate\ndata: gen.jsonl\nprompt: '{p}'\nreference: r\n"
                     "max_new_tokens: 4\nmetrics: [bleu, rouge_l, token_f1]\n"),
    }
    return [load_task(write(root / name, text)) for name, text in files.items()]


SETTINGS = EvaluateConfig(tasks=["*.yaml"], batch_size=3, max_new_tokens=4, num_samples=2,
                          decontaminate=DecontaminateConfig(enabled=True, ngram=13,
                                                            clean_only=False),
                          gate=GateConfig(metric="core", higher_is_better=True, margin=0.0),
                          cost_per_hour=0)


def run(tasks, models, out_dir, **kwargs):
    return evaluate(tasks, models, out_dir, settings=SETTINGS, context_length=16, seed=0,
                    dirty=kwargs.pop("dirty", {}), **kwargs)


def two_models(model_dir: Path) -> list[ModelEntry]:
    return [ModelEntry("base", "base", model_dir, "a"), ModelEntry("chat (dpo)", "chat",
                                                                   model_dir, "b")]


def test_every_kind_scored_for_every_model_and_written_whole(tasks, model_dir, tmp_path):
    tracker = NullTracker()
    counts = np.ones(500, dtype=np.int64)
    result = run(tasks, two_models(model_dir), tmp_path / "out", tracker=tracker,
                 unigram=lambda tok, texts: unigram_metrics(counts, tok, texts))
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [t["name"] for t in results["tasks"]] == ["lm", "mc", "cls", "gen"]
    by_name = {t["name"]: t for t in results["tasks"]}
    for task in results["tasks"]:
        assert set(task["metrics"]) >= {"base", "chat (dpo)"}
        # the same weights under two labels: the same numbers
        assert task["metrics"]["base"] == task["metrics"]["chat (dpo)"]
    lm = by_name["lm"]["metrics"]["base"]
    assert lm["perplexity"] == pytest.approx(math.exp(lm["loss"]))
    assert {"bits_per_byte.a", "bits_per_byte.b"} <= set(lm)
    assert "unigram baseline" in by_name["lm"]["metrics"]
    mc = by_name["mc"]["metrics"]["base"]
    assert 0 <= mc["acc"] <= 1 and mc["centered"] == pytest.approx((mc["acc_norm"] - 1 / 3) / (2 / 3))
    assert set(by_name["cls"]["metrics"]["base"]) == {"acc", "macro_f1", "centered", "too_long"}
    assert mc["too_long"] == 0
    assert by_name["gen"]["signatures"]["bleu"].startswith("nrefs:1")
    core = np.mean([by_name["mc"]["metrics"]["base"]["centered"],
                    by_name["cls"]["metrics"]["base"]["centered"]])
    assert results["aggregate"]["base"]["core"] == pytest.approx(core)
    assert model_metric(results, "base", "core") == pytest.approx(core)
    assert model_metric(results, "base", "mc.acc") == mc["acc"]
    assert math.isnan(model_metric(results, "base", "nope.acc"))

    values = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert values == result.metrics() == flat_metrics(results)
    assert values["chat.mc.acc_norm"] == mc["acc_norm"] and values["base.core"] == pytest.approx(core)
    assert "unigram.lm.bits_per_byte" in values
    rows = [json.loads(line) for line in (tmp_path / "out" / "rows.jsonl").read_text().splitlines()]
    assert {(r["task"], r["model"]) for r in rows if r["task"] != "lm"} == \
        {(t, m) for t in ("mc", "cls", "gen") for m in ("base", "chat (dpo)")}
    assert len(results["samples"]["gen / base"]) == 2  # num_samples

    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(set(OUTPUT_FILES) - {"losses.png"})  # no curves were given
    report = (tmp_path / "out" / "report.md").read_text()
    assert "losses.png" not in report  # no loss curves were given
    assert "tasks.png" in report
    assert tracker.metrics == []  # the runner logs them, once
    assert len(tracker.artifacts) == len(OUTPUT_FILES) - 1  # all but the absent loss plot
    table = summary_table(results)
    assert table.splitlines()[0].split()[-3:] == ["base", "chat", "(dpo)"]


def test_evaluation_is_deterministic(tasks, model_dir, tmp_path):
    first = run(tasks, two_models(model_dir)[:1], tmp_path / "a")
    second = run(tasks, two_models(model_dir)[:1], tmp_path / "b")
    assert first.metrics() == second.metrics()
    for name in ("rows.jsonl", "results.json", "tasks.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_clean_only_scores_the_items_without_overlap(tasks, model_dir, tmp_path):
    mc = tasks[1]
    dirty = {mc.name: [n < 4 for n in range(len(mc.items))]}
    settings = SETTINGS.model_copy(update={"decontaminate": SETTINGS.decontaminate.model_copy(
        update={"clean_only": True})})
    result = evaluate([mc], two_models(model_dir)[:1], tmp_path / "out", settings=settings,
                      context_length=16, seed=0, dirty=dirty)
    (task,) = result.results["tasks"]
    assert (task["items"], task["dirty"], task["scored"]) == (12, 4, 8)
    assert result.values["mc.dirty"] == 4


def test_gate_decisions_are_kept_in_the_results(tasks, model_dir, tmp_path):
    seen = []

    def gate(results):
        seen.append(results["aggregate"]["base"]["core"])
        return [{"name": "danlu-base", "candidate": "2", "champion": "1", "metric": "core",
                 "candidate_score": seen[0], "champion_score": 0.0, "promoted": False,
                 "reason": "does not beat"}]

    result = run(tasks[1:2], two_models(model_dir)[:1], tmp_path / "out", gate=gate)
    assert result.results["gate"][0]["reason"] == "does not beat" and len(seen) == 1
    assert "does not beat" in (tmp_path / "out" / "report.md").read_text()


def test_a_failure_leaves_the_previous_outputs_whole(tasks, model_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    run(tasks[1:2], two_models(model_dir)[:1], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("danlu.evaluate.card.render_card", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        run(tasks[1:2], two_models(model_dir)[:1], out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_item_whose_choice_outgrows_the_context_is_left_out(model_dir, tmp_path):
    long_choice = " ".join(["house"] * 40)
    jsonl(tmp_path / "mc.jsonl", [{"q": "the cat", "c": ["sat", "ran"], "g": 0},
                                  {"q": "the dog", "c": ["sat", long_choice], "g": 1},
                                  {"q": "a bird", "c": ["sang", "ran"], "g": 0}])
    task = load_task(write(tmp_path / "mc.yaml", "kind: choice\ndata: mc.jsonl\n"
                           "context: '{q}'\nchoices: c\ngold: g\n"))
    result = run([task], two_models(model_dir)[:1], tmp_path / "out")
    metrics = result.results["tasks"][0]["metrics"]["base"]
    assert metrics["too_long"] == 1
    rows = [json.loads(line) for line in (tmp_path / "out" / "rows.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["1", "3"]  # scored on the two that fit


def test_a_missing_model_folder_is_named(tasks, tmp_path):
    from danlu.errors import DataError

    with pytest.raises(DataError, match="no-model"):
        run(tasks[1:2], [ModelEntry("x", "base", tmp_path / "no-model", "x")], tmp_path / "out")
