"""The report card (card.py) and its plots (plots.py), from results, stage records and loss
curves made here."""

from __future__ import annotations

import copy
import subprocess

import pytest

from danlu.errors import DataError
from danlu.evaluate.card import environment, render_card
from danlu.evaluate.plots import plot_losses, plot_tasks
from danlu.train.publish import write_curve

SIGNATURE = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
MODELS = ["base", "sft (lora)", "chat (dpo)", "champion danlu-chat v2"]
RESULTS = {
    "models": [
        {"label": "base", "role": "base", "source": "outputs/pretrain/model",
         "registered": "danlu-base v3"},
        {"label": "sft (lora)", "role": "sft", "source": "outputs/sft/model", "registered": None},
        {"label": "chat (dpo)", "role": "chat", "source": "outputs/dpo/model",
         "registered": "danlu-chat v5"},
        {"label": "champion danlu-chat v2", "role": "champion",
         "source": "models:/danlu-chat@champion", "registered": "danlu-chat v2"},
    ],
    "tasks": [
        {"name": "heldout", "kind": "perplexity", "items": 50, "dirty": 0, "scored": 50,
         "clean_only": False, "chance": None, "primary": "bits_per_byte", "lower_is_better": True,
         "metrics": {
             "base": {"loss": 3.1, "perplexity": 22.2, "bits_per_byte": 1.9, "tokens": 12345},
             "chat (dpo)": {"loss": 3.3, "perplexity": 27.1, "bits_per_byte": 2.05,
                            "tokens": 12345},
             "unigram baseline": {"loss": 6.0, "perplexity": 403.4, "bits_per_byte": 4.2,
                                  "tokens": 12345}}},
        {"name": "sample-cloze", "kind": "choice", "items": 100, "dirty": 3, "scored": 97,
         "clean_only": True, "chance": 0.25, "primary": "acc_norm", "num_fewshot": 2,
         "metrics": {label: {"acc": acc, "acc_norm": acc + 0.03, "centered": (acc - 0.25) / 0.75}
                     for label, acc in zip(MODELS, [0.27, 0.30, 0.32, 0.28])},
         },
        {"name": "qa_short", "kind": "generate", "items": 20, "dirty": 1, "scored": 20,
         "clean_only": False, "chance": None, "primary": "bleu",
         "metrics": {"base": {"bleu": 3.2, "chrf": 20.5, "exact_match": 0.0},
                     "chat (dpo)": {"bleu": 12.5, "chrf": 31.0, "exact_match": 0.1}},
         "signatures": {"bleu": SIGNATURE}},
    ],
    "aggregate": {"base": {"core": 0.0267}, "sft (lora)": {"core": 0.0667},
                  "chat (dpo)": {"core": 0.0933}, "champion danlu-chat v2": {"core": 0.04}},
    "gate": [
        {"name": "danlu-chat", "candidate": "5", "champion": "2", "metric": "core",
         "candidate_score": 0.0933, "champion_score": 0.04, "promoted": True,
         "reason": "beats the champion by more than 0.01"},
        {"name": "danlu-base", "candidate": "3", "champion": "1", "metric": "core",
         "candidate_score": 0.0267, "champion_score": 0.05, "promoted": False,
         "reason": "below the champion"},
    ],
}
STAGES = [
    {"fingerprint": "abc", "record": {"name": "pretrain", "cached": False, "run_id": "r1",
                                      "seconds": 3000.0, "outputs": [],
                                      "metrics": {"train_loss": 2.5, "val_loss": 2.75,
                                                  "tokens_per_s": 1234.0, "steps": 100.0},
                                      "registered": {"danlu-base": "3"}}},
    # a bare record (asdict(StageRecord)) is read as well as the file's contents
    {"name": "sft", "cached": True, "run_id": None, "seconds": 600.0, "outputs": [],
     "metrics": {"train_loss": 1.5}, "registered": {}},
]
HEADLINES = {"pretrain": ("train_loss", "val_loss", "val_bits_per_byte"),
             "sft": ("train_loss", "val_loss")}
ENV = {"date": "2025-01-02 03:04:05 UTC", "git_commit": "0123abc", "git_dirty": True,
       "python": "3.11.7", "torch": "2.13.0+cpu", "transformers": "5.23.0",
       "platform": "Linux-x86_64", "cpu": "Some CPU", "cpu_count": 16, "ram_gib": 125.5,
       "gpus": ["NVIDIA H200", "NVIDIA H200"], "gpu_memory_gib": 280.0, "cuda": "12.8"}


def card(**changes) -> str:
    args = {"results": RESULTS, "stages": STAGES, "curves_png": "losses.png",
            "tasks_png": "tasks.png", "env": ENV, "cost_per_hour": 2.5,
            "headlines": HEADLINES, **changes}
    return render_card(**args)


def cells(line: str) -> list[str]:
    """A table row's cells: split at pipes that no backslash escapes."""
    parts, cell, escaped = [], "", False
    for char in line.strip()[1:-1]:
        if char == "|" and not escaped:
            parts.append(cell.strip())
            cell = ""
        else:
            cell += char
        escaped = char == "\\" and not escaped
    return parts + [cell.strip()]


def table_after(text: str, heading: str) -> list[list[str]]:
    """The first table under a heading, header and separator included, as cells."""
    lines = text.splitlines()
    start = lines.index(heading)
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            rows.append(cells(line))
        elif rows:
            break
    return rows


def test_summary_has_a_column_per_model_and_the_primary_numbers():
    summary = table_after(card(), "## Summary")
    assert summary[0] == ["task", "metric", "chance", "base", "sft (lora)", "chat (dpo)",
                          "champion danlu-chat v2"]
    rows = {row[0]: row for row in summary[2:]}
    # the best in bold: the highest accuracy, the lowest bits per byte
    assert rows["sample-cloze"] == ["sample-cloze", "acc\\_norm", "0.2500", "0.3000", "0.3300",
                                    "**0.3500**", "0.3100"]
    assert rows["heldout"] == ["heldout", "bits\\_per\\_byte, lower is better", "—", "**1.9000**",
                               "—", "2.0500", "—"]
    assert rows["aggregate"] == ["aggregate", "core", "—", "0.0267", "0.0667", "**0.0933**",
                                 "0.0400"]
    # the unigram baseline is no model: it shows in its task's table only
    assert table_after(card(), "### heldout")[0][-1] == "unigram baseline"


def test_task_tables_have_every_metric_and_the_bleu_signature_beside_the_score():
    qa = {row[0]: row[1:] for row in table_after(card(), "### qa\\_short")}
    escaped = SIGNATURE.replace("|", "\\|")
    assert qa[f"**bleu ({escaped})**"] == ["3.2000", "—", "**12.5000**", "—"]
    assert qa["chrf"] == ["20.5000", "—", "31.0000", "—"]
    heldout = {row[0]: row[1:] for row in table_after(card(), "### heldout")}
    assert heldout["tokens"] == ["12345", "—", "12345", "—", "12345"]  # counts stay integers
    cloze = {row[0]: row[1:] for row in table_after(card(), "### sample-cloze")}
    assert "time" not in cloze  # timings live in the log: the card stays the same bytes
    assert "Primary metric acc\\_norm (higher is better); chance 0.2500; 2-shot; 97 items " \
           "scored." in card()


def test_decontamination_lists_items_dirty_and_scored():
    rows = {row[0]: row[1:] for row in table_after(card(), "## Decontamination")}
    assert rows["sample-cloze"] == ["100", "3", "97", "yes"]
    assert rows["qa\\_short"] == ["20", "1", "20", "no"]


def test_gate_decisions_read_as_promoted_and_kept():
    text = card()
    assert ("- **danlu-chat**: version 5 promoted to champion, replacing version 2 "
            "(core 0.0933 against 0.0400). Reason: beats the champion by more than 0.01") in text
    assert ("- **danlu-base**: version 3 not promoted; version 1 stays champion "
            "(core 0.0267 against 0.0500). Reason: below the champion") in text
    first = copy.deepcopy(RESULTS)
    first["gate"] = [{"name": "danlu-chat", "candidate": "1", "champion": None, "metric": "core",
                      "candidate_score": 0.1, "champion_score": None, "promoted": True}]
    assert ("version 1 promoted to champion; there was none before (core 0.1000)."
            in card(results=first))


def test_stages_show_time_headline_numbers_and_cost():
    text = card()
    rows = {row[0]: row for row in table_after(text, "## Stages")}
    assert rows["stage"][-1] == "headline numbers"
    # only the headline metrics the record has, in the headline's order
    assert rows["pretrain"] == ["pretrain", "ran", "50m 00s", "danlu-base v3", "r1",
                                "train\\_loss 2.5000<br>val\\_loss 2.7500"]
    assert rows["sft"] == ["sft", "reused", "10m 00s", "—", "—", "train\\_loss 1.5000"]
    # (3000 + 600) s = 1 h at 2.5 per hour
    assert "Total: 1h 00m 00s (3600 s); cost 2.50 at 2.5 per machine hour." in text
    assert "cost" not in card(cost_per_hour=None)


def test_environment_table_and_images():
    text = card()
    env = {row[0]: row[1] for row in table_after(text, "## Environment")}
    assert env["git commit"] == "0123abc (uncommitted changes)"
    assert env["GPUs"] == "2 × NVIDIA H200 (280.0 GiB)"
    assert env["torch"] == "2.13.0+cpu"
    assert "![loss curves of the training stages](losses.png)" in text
    assert "![each task's primary metric per model](tasks.png)" in text
    assert "(loss%20curves.png)" in card(curves_png="loss curves.png")


def test_missing_pieces_leave_their_sections_out():
    results = {key: value for key, value in RESULTS.items() if key not in ("gate", "aggregate")}
    text = render_card(results, [], None, None, {"date": "today"}, 2.5)
    assert "## Summary" in text and "### sample-cloze" in text
    for gone in ("## Champion gate", "## Stages", "![", "cost", "aggregate", "headline"):
        assert gone not in text
    no_headlines = card(headlines=None)
    assert "headline numbers" not in no_headlines and "| pretrain | ran |" in no_headlines


def test_names_are_escaped_and_every_table_keeps_its_shape():
    odd = copy.deepcopy(RESULTS)
    odd["models"][0]["label"] = "base|v_1 *new*"
    for task in odd["tasks"]:
        task["metrics"]["base|v_1 *new*"] = task["metrics"].pop("base")
    odd["tasks"][1]["name"] = "cloze|hard_set"
    text = card(results=odd)
    assert "base\\|v\\_1 \\*new\\*" in text and "### cloze\\|hard\\_set" in text
    width = None
    for line in text.splitlines():
        if not line.startswith("|"):
            width = None
            continue
        width = width or len(cells(line))
        assert len(cells(line)) == width, line


def test_environment_reads_the_git_commit_and_changes(tmp_path, monkeypatch):
    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              cwd=tmp_path, check=True, capture_output=True,
                              text=True).stdout.strip()

    outside = environment(tmp_path)
    assert outside["git_commit"] is None and outside["git_dirty"] is None
    git("init", "-q")
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    git("add", "params.yaml")
    git("commit", "-q", "-m", "first")
    env = environment(tmp_path)
    assert env["git_commit"] == git("rev-parse", "HEAD") and env["git_dirty"] is False
    (tmp_path / "dvc.lock").write_text("stages: {}\n")  # the pipeline's own change
    assert environment(tmp_path)["git_dirty"] is False
    (tmp_path / "params.yaml").write_text("seed: 2\n")
    assert environment(tmp_path)["git_dirty"] is True
    monkeypatch.chdir(tmp_path)  # no root: the working directory's checkout
    assert environment()["git_commit"] == env["git_commit"]
    import platform

    import torch

    assert env["python"] == platform.python_version() and env["torch"] == torch.__version__
    assert env["cpu_count"] >= 1 and env["transformers"]


# ---- plots -----------------------------------------------------------------------------------

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == PNG_MAGIC
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        chunks.append((data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return chunks


def png_size(data: bytes) -> tuple[int, int]:
    header = png_chunks(data)[0][1]
    return int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")


@pytest.fixture
def curves(tmp_path):
    """Loss curves as the trainers write them: pretraining falls over an order of magnitude."""
    pretrain = [{"step": s, "loss": 20.0 / (1 + s), "lr": 1e-3} for s in range(60)]
    dpo = [{"step": s, "loss": 0.69 - 0.01 * s, "lr": 1e-4} for s in range(10)]
    paths = {"pretrain": tmp_path / "pretrain.csv", "dpo": tmp_path / "dpo.csv"}
    write_curve(paths["pretrain"], pretrain, [{"step": s, "val_loss": 21.0 / (1 + s)}
                                              for s in (10, 30, 60)])
    write_curve(paths["dpo"], dpo, [])
    return paths


def test_loss_plot_is_a_png_with_the_same_bytes_every_time(curves, tmp_path):
    first = plot_losses(curves, tmp_path / "a.png").read_bytes()
    second = plot_losses(curves, tmp_path / "b.png").read_bytes()
    assert first == second
    # nothing but the picture: no matplotlib version, no time stamp
    assert {kind for kind, _ in png_chunks(first)} <= {b"IHDR", b"pHYs", b"IDAT", b"IEND"}
    assert png_size(first) == (900, 320)  # two 4.5 x 3.2 in panels at 100 dpi
    changed = dict(curves, dpo=curves["pretrain"])
    assert plot_losses(changed, tmp_path / "c.png").read_bytes() != first


def test_tasks_plot_is_a_png_with_the_same_bytes_every_time(tmp_path):
    first = plot_tasks(RESULTS, tmp_path / "a.png").read_bytes()
    assert first == plot_tasks(RESULTS, tmp_path / "b.png").read_bytes()
    assert {kind for kind, _ in png_chunks(first)} <= {b"IHDR", b"pHYs", b"IDAT", b"IEND"}
    assert png_size(first)[0] == 1350  # three tasks: three panels in a row
    changed = copy.deepcopy(RESULTS)
    changed["tasks"][1]["metrics"]["base"]["acc_norm"] = 0.9
    assert plot_tasks(changed, tmp_path / "c.png").read_bytes() != first


def test_no_data_no_plot(tmp_path):
    assert plot_losses({}, tmp_path / "losses.png") is None
    empty = {"models": RESULTS["models"], "tasks": [dict(RESULTS["tasks"][0], metrics={})]}
    assert plot_tasks(empty, tmp_path / "tasks.png") is None
    assert not list(tmp_path.iterdir())


def test_a_malformed_curve_names_its_file(tmp_path):
    bad = tmp_path / "loss.csv"
    bad.write_text("step,loss,val_loss,lr\n1,not-a-number,,0.1\n")
    with pytest.raises(DataError, match=r"loss\.csv, line 2"):
        plot_losses({"sft": bad}, tmp_path / "losses.png")
    bad.write_text("step,train\n1,2.0\n")
    with pytest.raises(DataError, match="no loss, val_loss column"):
        plot_losses({"sft": bad}, tmp_path / "losses.png")


def test_samples_show_prompt_generation_and_reference_escaped():
    samples = {"qa_short / base": [{"prompt": "Q: a|b?", "prediction": "*yes*",
                                    "references": ["yes"]}]}
    text = card(results={**RESULTS, "samples": samples})
    (row,) = table_after(text, "### qa\\_short / base")[2:]
    assert row == ["Q: a\\|b?", "\\*yes\\*", "yes"]
    assert "## Samples" not in card(results={**RESULTS, "samples": {}})


def test_a_candidate_that_already_is_champion_reads_so():
    gate = [{"name": "danlu-chat", "candidate": "3", "champion": "3", "metric": "core",
             "candidate_score": 0.1, "champion_score": 0.1, "promoted": False,
             "reason": "already champion"}]
    assert "version 3 already is the champion; nothing moved" in card(
        results={**RESULTS, "gate": gate})
