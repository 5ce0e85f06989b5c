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
    return load_config(repo_root / "params.yaml").curate


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, list[Path]]:
    return build_corpus(tmp_path / "inputs")
