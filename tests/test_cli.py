"""The `danlu` command as a user meets it: errors name the key or path; curate on any files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def danlu(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "danlu", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def project(tmp_path: Path, repo_root: Path) -> Path:
    (tmp_path / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    return tmp_path


def test_a_typo_in_an_override_exits_2_and_names_the_key(project: Path):
    proc = danlu(project, "pretrain", "-S", "train.max_step=5")
    assert proc.returncode == 2
    assert "train.max_step: unknown key (did you mean 'max_steps'?)" in proc.stderr


def test_a_missing_input_path_names_the_path(project: Path):
    proc = danlu(project, "curate", "--input", str(project / "nowhere.warc.gz"),
                 "--output", str(project / "out"))
    assert proc.returncode == 1
    assert str(project / "nowhere.warc.gz") in proc.stderr
    assert not (project / "out").exists()


def test_curate_any_files_without_editing_params(project: Path):
    from danlu.sample.bundle import restore

    data = restore(project / "data")
    out = project / "curated"
    # several values after one --input, as a shell glob gives them
    proc = danlu(project, "curate", "--input", str(data / "crawl" / "crawl-00009.warc.gz"),
                 str(data / "reference"), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kept"] >= 1
    assert stats["documents_in"] == stats["kept"] + sum(stats["dropped"].values()) + sum(
        stats["quarantined"].values())
    lines = (out / "quarantine" / "quarantine.jsonl").read_text().splitlines()
    assert any(json.loads(line)["reason"] == "corrupt_file" for line in lines)
    assert list((out / "documents").glob("*.parquet"))


def test_several_values_after_one_flag_are_spread() -> None:
    from danlu.cli import spread_multi_values

    assert spread_multi_values(["curate", "--input", "a", "b", "--output", "o", "-S", "x=1"]) == [
        "curate", "--input", "a", "--input", "b", "--output", "o", "-S", "x=1"]
    assert spread_multi_values(["curate", "--input", "a", "--input", "b"]) == [
        "curate", "--input", "a", "--input", "b"]
    # a flag with no value stays, so click reports it
    assert spread_multi_values(["curate", "--input", "--force"]) == ["curate", "--input", "--force"]
    assert spread_multi_values(["curate", "--input"]) == ["curate", "--input"]


def test_sample_restores_once_then_is_a_noop(project: Path):
    first = danlu(project, "sample")
    assert first.returncode == 0, first.stderr
    manifest = (project / "data" / "manifest.json").read_bytes()
    second = danlu(project, "sample")
    assert second.returncode == 0
    assert (project / "data" / "manifest.json").read_bytes() == manifest
