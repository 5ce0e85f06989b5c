"""A project made for a test: the repo's params.yaml and the bundled sample in data/."""

from __future__ import annotations

from pathlib import Path


def sample_project(root: Path, repo_root: Path) -> Path:
    from danlu.sample.bundle import restore

    (root / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    restore(root / "data")
    return root
