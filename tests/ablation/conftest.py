"""A project with the repo's params.yaml and a held-out text: enough to plan an ablation."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def project(tmp_path: Path, repo_root: Path) -> Path:
    (tmp_path / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    heldout = tmp_path / "data" / "eval" / "tasks" / "heldout.jsonl"
    heldout.parent.mkdir(parents=True)
    heldout.write_text('{"text": "A held-out passage."}\n')
    return tmp_path
