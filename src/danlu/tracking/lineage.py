"""Lineage of a model version: the code (git commit), the data (DVC hash) and the params hash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from danlu.config import Config


def git_commit(root: Path) -> str:
    """HEAD's commit, with '-dirty' when tracked files differ from it; 'unknown' outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def data_hash(root: Path) -> str:
    """The md5 that data.dvc records for data/ ('untracked' when there is no data.dvc)."""
    dvc_file = Path(root) / "data.dvc"
    if not dvc_file.is_file():
        return "untracked"
    outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or []
    return str(outs[0].get("md5", "unknown")) if outs else "unknown"


def lineage_tags(cfg: Config) -> dict[str, str]:
    return {"git_commit": git_commit(cfg.root), "data_dvc_md5": data_hash(cfg.root),
            "params_hash": cfg.section_hash()}
