"""The ablation report (danlu.ablation.report): statistics over seeds, verdicts, the Markdown
report, the CSV table and the curve plot, from results made here."""

from __future__ import annotations

import csv

import pytest

from danlu.ablation.report import (COUNTS, Stat, compare, lower_is_better, plot_curves,
                                   report_markdown, sentence, summarize, write_table_csv)
from danlu.errors import DataError

BPB = "heldout.bits_per_byte"
TOKENS = [102400, 204800, 409600]


def run(variant, seed, bpb=None, core=None, curve=None, **metrics):
    if bpb is not None:
        metrics[BPB] = bpb
    if core is not None:
        metrics["core"] = core
    return {"variant": variant, "seed": seed, "status": "ok", "failed_stage": None,
            "error": None, "metrics": metrics, "curve": curve or [], "seconds": 1.0}


def failed(variant, seed, stage="curate", error="no documents left after filtering"):
    return {"variant": variant, "seed": seed, "status": "failed", "failed_stage": stage,
            "error": error, "metrics": {}, "curve": [], "seconds": 0.5}


def curve(*values):
    return [{"tokens": t, "heldout_bits_per_byte": v} for t, v in zip(TOKENS, values)]


def stats(**by_variant):
    """variant=(mean, std, n) for the primary metric."""
    return {v: {BPB: Stat(*s)} for v, s in by_variant.items()}


def test_lower_is_better_by_name():
    assert lower_is_better(BPB) and lower_is_better("heldout.perplexity")
    assert lower_is_better("train_loss") and lower_is_better("val_bits_per_byte")
    assert not lower_is_better("core") and not lower_is_better("cloze.acc")
    assert "tokens_seen" in COUNTS and "documents_kept" in COUNTS


def test_summarize_mean_and_sample_std_over_ok_runs():
    results = [run("raw", 1, 2.0), run("raw", 2, 2.2), run("raw", 3, 2.4), failed("raw", 4),
               run("full", 1, 1.9, core=0.1)]
    summary = summarize(results, ["raw", "full", "none_ran"])
    assert list(summary) == ["raw", "full", "none_ran"]
    assert summary["raw"][BPB].mean == pytest.approx(2.2)
    assert summary["raw"][BPB].std == pytest.approx(0.2)
    assert summary["raw"][BPB].n == 3  # the failed seed does not count
    assert summary["full"][BPB] == Stat(1.9, None, 1)
    assert summary["full"]["core"].n == 1
    assert summary["none_ran"] == {}


def test_summarize_names_a_result_without_variant_or_seed():
    with pytest.raises(DataError, match="result 1 .*'seed'"):
        summarize([run("raw", 1, 2.0), {"variant": "full", "status": "ok"}], ["raw"])
    with pytest.raises(DataError, match="'variant'"):
        summarize([{"seed": 1}], ["raw"])


@pytest.mark.parametrize(("full", "verdict"), [
    ((2.40, 0.01, 3), "helps"),  # 0.1 lower bits per byte, spread 0.02
    ((2.60, 0.01, 3), "hurts"),
    ((2.49, 0.01, 3), "within spread"),
    ((2.40, None, 1), "not measurable"),
])
def test_compare_verdicts(full, verdict):
    summary = stats(raw=(2.50, 0.01, 3), full=full)
    [c] = compare(summary, ["raw", "full"], BPB, "raw")
    assert (c.variant, c.against, c.verdict) == ("full", "raw", verdict)
    assert c.difference == pytest.approx(full[0] - 2.50)
    assert c.spread == (None if full[1] is None else pytest.approx(0.02))


def test_compare_flips_the_sign_only_for_lower_is_better():
    summary = {"raw": {BPB: Stat(2.5, 0.01, 2), "core": Stat(0.10, 0.01, 2)},
               "full": {BPB: Stat(2.4, 0.01, 2), "core": Stat(0.20, 0.01, 2)}}
    [bpb] = compare(summary, ["raw", "full"], BPB, "raw")
    [core] = compare(summary, ["raw", "full"], "core", "raw")
    assert bpb.difference == pytest.approx(-0.1) and bpb.improvement == pytest.approx(0.1)
    assert core.difference == pytest.approx(0.1) and core.improvement == pytest.approx(0.1)
    assert bpb.verdict == core.verdict == "helps"


def test_compare_adds_the_step_from_the_previous_variant():
    summary = stats(raw=(2.5, 0.01, 2), filtered=(2.45, 0.01, 2), full=(2.44, 0.01, 2))
    pairs = [(c.variant, c.against, c.verdict)
             for c in compare(summary, ["raw", "filtered", "full"], BPB, "raw")]
    assert pairs == [("filtered", "raw", "helps"), ("full", "raw", "helps"),
                     ("full", "filtered", "within spread")]


def test_compare_without_ok_runs_is_not_measurable():
    summary = {"raw": {BPB: Stat(2.5, 0.01, 2)}, "full": {}}
    [c] = compare(summary, ["raw", "full"], BPB, "raw")
    assert c.verdict == "not measurable" and c.spread is None
    assert "nothing to compare" in sentence(c, summary)


@pytest.mark.parametrize(("full", "words"), [
    ((2.40, 0.01, 3), ["held-out bits per byte", "2.400 ± 0.010 against 2.500 ± 0.010",
                       "0.100 better", "more than the seeds' spread (0.020)", "it helps"]),
    ((2.60, 0.01, 3), ["0.100 worse", "it hurts"]),
    ((2.49, 0.01, 3), ["0.010 better", "within the seeds' spread (0.020)",
                       "no measurable difference"]),
    ((2.40, None, 1), ["2.400 against", "one seed of `full`", "run more seeds"]),
])
def test_sentence_says_the_verdict(full, words):
    summary = stats(raw=(2.50, 0.01, 3), full=full)
    [c] = compare(summary, ["raw", "full"], BPB, "raw")
    text = sentence(c, summary)
    assert text.startswith("`full` against `raw`: held-out bits per byte")
    for word in words:
        assert word in text


def test_sentence_with_one_seed_each():
    summary = stats(raw=(2.5, None, 1), full=(2.4, None, 1))
    [c] = compare(summary, ["raw", "full"], BPB, "raw")
    assert "one seed each: no spread to judge by; run more seeds." in sentence(c, summary)


def results_with_failures():
    raw = [run("raw", s, 2.5 + s / 100, core=0.1, tokens_seen=409600, **{"cloze.acc": 0.4})
           for s in (1, 2)]
    full = [run("full", 1, 2.30, core=0.2, tokens_seen=409600),
            failed("full", 2, "pretrain", "CUDA out of memory")]
    return raw + full + [failed("dedup", 1), failed("dedup", 2)]


def report(results, plot_file="curves.png"):
    return report_markdown("filters", results, ["raw", "full", "dedup"], primary=BPB,
                           baseline="raw", overrides={"raw": ["curate.filters.enabled=false"]},
                           tokens=409600, seeds=[1, 2], plot_file=plot_file)


def test_report_markdown_table_verdicts_and_failed_runs():
    text = report(results_with_failures())
    assert text.startswith("# Ablation: filters\n")
    assert "409,600 tokens" in text and "seeds 1, 2" in text
    assert "- `raw`: `curate.filters.enabled=false`" in text
    assert "- `full`: params.yaml as is" in text
    header = next(line for line in text.splitlines() if line.startswith("| variant"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns == ["variant", "seeds finished", f"`{BPB}` ↓", "`core` ↑", "`cloze.acc` ↑",
                       "`tokens_seen`"]
    results_table = text.split("## Results")[1].split("## Verdicts")[0]
    rows = {line.split("|")[1].strip(): line for line in results_table.splitlines()
            if line.startswith("| `")}
    assert "2.515 ± 0.007" in rows["`raw`"] and "409,600" in rows["`raw`"]
    assert "| 1 of 2 | 2.300 |" in rows["`full`"]  # the seed that finished still counts
    assert "failed" in rows["`dedup`"] and "0 of 2" in rows["`dedup`"]
    verdicts = text.split("## Verdicts")[1].split("## Failed runs")[0]
    assert "`full` against `raw`: held-out bits per byte" in verdicts
    assert "`full` against `raw`: core" in verdicts
    assert "`dedup` against `full`" in verdicts and "no run finished" in verdicts
    failures = text.split("## Failed runs")[1]
    assert "| `full` | 2 | pretrain | CUDA out of memory |" in failures
    assert "| `dedup` | 1 | curate | no documents left after filtering |" in failures
    assert "![held-out bits per byte against training tokens](curves.png)" in text


def test_report_markdown_without_failures_or_plot():
    text = report_markdown("seeds", [run("raw", s, 2.5 + s / 100) for s in (1, 2)] +
                           [run("full", s, 2.3 + s / 100) for s in (1, 2)], ["raw", "full"],
                           primary=BPB, baseline="raw", overrides={}, tokens=1000,
                           seeds=[1, 2], plot_file=None)
    assert "Failed runs" not in text and "![" not in text and "core" not in text
    assert "it helps." in text


def test_write_table_csv_round_trips(tmp_path):
    summary = summarize([run("raw", 1, 2.0, core=0.1), run("raw", 2, 2.2, core=0.3),
                         run("full", 1, 1.9)], ["raw", "full"])
    path = tmp_path / "table.csv"
    write_table_csv(summary, ["raw", "full"], path)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["variant"], r["metric"]) for r in rows] == [("raw", "core"), ("raw", BPB),
                                                            ("full", BPB)]
    for row in rows:
        stat = summary[row["variant"]][row["metric"]]
        assert float(row["mean"]) == stat.mean and int(row["n"]) == stat.n
        assert (row["std"] == "") if stat.std is None else float(row["std"]) == stat.std


def test_plot_curves_writes_the_same_png_twice(tmp_path):
    results = [run("raw", 1, curve=curve(3.0, 2.8, 2.6)), run("raw", 2, curve=curve(3.1, 2.9, 2.7)),
               run("full", 1, curve=curve(2.9, 2.6, 2.4)), failed("full", 2)]
    first = plot_curves(results, ["raw", "full"], tmp_path / "a.png")
    second = plot_curves(results, ["raw", "full"], tmp_path / "b.png")
    assert first == tmp_path / "a.png" and second == tmp_path / "b.png"
    assert first.read_bytes().startswith(b"\x89PNG")
    assert first.read_bytes() == second.read_bytes()


def test_plot_curves_uses_the_token_points_common_to_all_seeds(tmp_path):
    results = [run("raw", 1, curve=curve(3.0, 2.8, 2.6)), run("raw", 2, curve=curve(3.1, 2.9))]
    assert plot_curves(results, ["raw"], tmp_path / "c.png") is not None
    disjoint = [run("raw", 1, curve=curve(3.0)),
                run("raw", 2, curve=[{"tokens": 7, "heldout_bits_per_byte": 3.1}])]
    assert plot_curves(disjoint, ["raw"], tmp_path / "d.png") is None


def test_plot_curves_without_curves_writes_nothing(tmp_path):
    path = tmp_path / "none.png"
    assert plot_curves([run("raw", 1, 2.5), failed("full", 1)], ["raw", "full"], path) is None
    assert not path.exists()
