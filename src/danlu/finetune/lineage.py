"""What a fine-tuned model version says of where it came from: the stage, its data (a hash of
the files' bytes), and the registered version of the model it started from."""

from __future__ import annotations

import hashlib
from pathlib import Path

from danlu.config.project import Config
from danlu.records import input_files


def project_ref(cfg: Config, path: Path) -> str:
    """`path` as the project names it (relative to its root when inside it): recorded in
    adapter configs instead of this machine's absolute path."""
    path = Path(path)
    return path.relative_to(cfg.root).as_posix() if path.is_relative_to(cfg.root) else str(path)


def data_hash(paths: list[Path]) -> str:
    """sha256 over the input files' names (as given) and bytes, in reading order."""
    h = hashlib.sha256()
    for path in input_files(paths):
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def model_tags(cfg: Config, stage: str, data: str | list[str], *, base: str,
               base_dir: Path) -> dict[str, str]:
    """Tags of a version made by `stage`: its data hash and the version of the registered
    model `base` whose weights it started from ("unregistered" when none matches)."""
    from danlu.tracking.registry import version_with_weights

    return {"danlu.stage": stage, "data_sha256": data_hash(cfg.path_list(data)),
            "base_model": base,
            "base_model_version": version_with_weights(cfg, base, base_dir) or "unregistered"}
