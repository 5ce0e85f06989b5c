"""One sample build per test session (it takes a few seconds), and its crawl read back with FastWARC."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sample_reading import Response, read_responses


@dataclass(frozen=True)
class BuiltSample:
    root: Path
    manifest: dict
    seconds: float


def build_in_fresh_interpreter(root: Path) -> float:
    """Build as the committed archive was built: `python -m danlu.sample.build` in a clean, isolated
    interpreter, since pytest patches the stdlib it mines (threading.excepthook). Returns seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-I", "-m", "danlu.sample.build", str(root)], check=True, capture_output=True)
    return time.perf_counter() - started


@pytest.fixture(scope="session")
def fresh_build():
    """Builds a sample into the given folder in a fresh interpreter; returns the seconds it took."""
    return build_in_fresh_interpreter


@pytest.fixture(scope="session")
def built_sample(tmp_path_factory: pytest.TempPathFactory) -> BuiltSample:
    root = tmp_path_factory.mktemp("sample") / "data"
    seconds = build_in_fresh_interpreter(root)
    return BuiltSample(root, json.loads((root / "manifest.json").read_text(encoding="utf-8")), seconds)


@pytest.fixture(scope="session")
def responses(built_sample: BuiltSample) -> dict[str, Response]:
    """Every response record of the readable crawl files, by URL."""
    names = sorted(built_sample.manifest["counts"]["crawl_files"])
    return {r.url: r for name in names for r in read_responses(built_sample.root, name)}


@pytest.fixture(scope="session")
def truth(built_sample: BuiltSample) -> dict[str, dict]:
    return {row["url"]: row for row in built_sample.manifest["crawl_truth"]}
