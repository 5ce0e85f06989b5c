"""Curate fixtures: a WARC writer, the project's curate config, a corpus with every case."""

from __future__ import annotations

from pathlib import Path

import pytest
from curate_fixtures import WarcFiles, build_corpus

from danlu.config import CurateConfig, load_config


@pytest.fixture
def warc(tmp_path: Path) -> WarcFiles:
    return WarcFiles(tmp_path / "warc")


@pytest.fixture(scope="session")
def curate_cfg(repo_root: Path) -> CurateConfig:
    """The project's settings, run in this process (monkeypatches reach the shards), with the
    quality classifier off: these corpora are too small to train it (test_curate_quality_stage
    covers it)."""
    cfg = load_config(repo_root / "params.yaml").curate
    return cfg.model_copy(update={
        "quality": cfg.quality.model_copy(update={"enabled": False}),
        "execution": cfg.execution.model_copy(update={"workers": 1}),
    })


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, list[Path]]:
    return build_corpus(tmp_path / "inputs")
