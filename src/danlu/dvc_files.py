"""danlu's side of DVC's files: dvc.yaml written from the stage table, and dvc.lock kept.

After `danlu run` (or a stage command) runs or reuses a
stage, its entry in dvc.lock is written by DVC itself (`dvc commit`: hashes of the deps, params
and outputs, outputs into the DVC cache), exactly as `dvc repro` would have left it. So
`dvc status` is clean and `dvc repro` is a no-op after `danlu run`; `dvc repro`, for its part,
runs the danlu stage commands, which leave danlu's own records.

Nothing is written when the project is not a DVC repository, when DVC itself runs the stage
command (DVC_STAGE is set: `dvc repro` writes the lock), or when the caller found that
dvc.yaml does not describe this run (other paths, or -S overrides of the stage's params)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("danlu.pipeline")

PLOT = {"x": "step", "y": "loss"}  # every stage's plot is a loss.csv
DVC_YAML_HEADER = """\
# Written by `danlu dvc-yaml` from the stage table in src/danlu/pipeline.py: edit that, not
# this. One stage per pipeline stage, running the same stage function as `danlu run` and the
# Prefect flow; the code deps are the danlu modules each stage imports (danlu.imports).
# `dvc repro` runs what changed; `dvc exp run -S train.max_steps=50` tries a variation.
"""

DVC_STAGE_ENV = "DVC_STAGE"  # set by DVC for the commands of the stages it runs


@contextlib.contextmanager
def _dvc_quiet() -> Iterator[None]:
    """DVC's own notes ("Updating lock file") stay out of danlu's log; its warnings, once."""
    logger = logging.getLogger("dvc")
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    # an empty quarantine file is good news, not a warning (dvc.output logs it; a filter on
    # the handlers sees the records of child loggers, one on the logger would not)
    empty = _DropMessages(" is empty.")
    for handler in logger.handlers:
        handler.addFilter(empty)
    try:
        yield
    finally:
        for handler in logger.handlers:
            handler.removeFilter(empty)
        logger.setLevel(level)
        logger.propagate = propagate


class _DropMessages(logging.Filter):
    def __init__(self, ending: str):
        super().__init__()
        self.ending = ending

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().endswith(self.ending)


def dvc_project(root: Path) -> bool:
    """A DVC repository with a dvc.yaml, and not inside a command DVC is running."""
    root = Path(root)
    return ((root / ".dvc").is_dir() and (root / "dvc.yaml").is_file()
            and DVC_STAGE_ENV not in os.environ)


def declared_stage(root: Path, name: str) -> dict | None:
    """The stage as dvc.yaml declares it (None when it is not there)."""
    import yaml

    data = yaml.safe_load((Path(root) / "dvc.yaml").read_text(encoding="utf-8")) or {}
    return (data.get("stages") or {}).get(name)


def absolute_target(root: Path, target: str) -> str:
    """A .dvc file or a stage of root's dvc.yaml, as a path DVC does not resolve against the
    process's working directory (which may be another project)."""
    root = Path(root)
    if target.endswith(".dvc") or (root / target).exists():
        return str(root / target)
    return f"{root / 'dvc.yaml'}:{target}"


def commit(root: Path, target: str) -> bool:
    """`dvc commit -f target` through DVC's API; a failure (another DVC process holds the
    repository's lock, say) is a warning: the stage's outputs are fine, only the lock waits."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with _dvc_quiet(), Repo(str(root), _wait_for_lock=True) as repo:
            repo.commit(absolute_target(root, target), force=True)
    except DvcException as exc:
        log.warning("%s: not recorded in dvc.lock (%s); `dvc commit %s` records it", target,
                    exc, target)
        return False
    return True


def default_remote(root: Path) -> tuple[str, str] | None:
    """(name, url) of the DVC remote that `dvc push` and `dvc pull` use by default (None: none
    set), read from the repository's config files as DVC layers them (config.local wins),
    without importing DVC."""
    import configparser

    parser = configparser.ConfigParser(strict=False, interpolation=None)
    for name in ("config", "config.local"):
        path = Path(root) / ".dvc" / name
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error as exc:
            from danlu.errors import ConfigError

            raise ConfigError(f"{path}: not a DVC config ({exc})") from exc
    remote = parser.get("core", "remote", fallback="")
    if not remote:
        return None
    return remote, parser.get(f"'remote \"{remote}\"'", "url", fallback="")


def is_shared(url: str) -> bool:
    """A remote other machines reach by URL (s3://, gs://, ssh://, https://...), not a folder."""
    return "://" in url and not url.startswith("file://")


def missing_from_remote(root: Path, dvc_file: str = "data.dvc") -> tuple[str, list[str]] | None:
    """(remote, files of `dvc_file`'s data not in it): None when the project has no default
    remote or no such .dvc file. Asks the remote (`dvc status -c`), so it can take a moment."""
    from dvc.repo import Repo

    remote = default_remote(root)
    if remote is None or not (Path(root) / dvc_file).is_file():
        return None
    with _dvc_quiet(), Repo(str(root), _wait_for_lock=True) as repo:
        status = repo.status([absolute_target(root, dvc_file)], cloud=True)
    return remote[0], sorted(path for path, state in status.items() if state != "deleted")


def cache_data(root: Path, dvc_file: str = "data.dvc") -> bool:
    """Put the data a .dvc file tracks into the DVC cache when the files are exactly what it
    records and only the cache lacks them (a fresh clone after `danlu sample`), so that
    `dvc status` is clean; data that differs from the record is left for the user to commit."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    if not dvc_project(root) or not (Path(root) / dvc_file).is_file():
        return False
    try:
        with _dvc_quiet(), Repo(str(root), _wait_for_lock=True) as repo:
            target = absolute_target(root, dvc_file)
            changes = next(iter(repo.status([target]).values()), [])
            only_uncached = changes and all(
                set(c) == {"changed outs"} and set(c["changed outs"].values()) == {"not in cache"}
                for c in changes)
            if not only_uncached:
                return False
            repo.commit(target, force=True)
    except DvcException as exc:
        log.warning("%s: data not put in the DVC cache (%s)", dvc_file, exc)
        return False
    return True


def dvc_stage(spec, cfg, source_dir: str) -> dict:
    """A pipeline StageSpec as dvc.yaml declares it for this config: the same inputs, code
    (under `source_dir` in the project), params and outputs as danlu's change check."""
    def rel(paths: list[Path]) -> list[str]:
        return [str(p.relative_to(cfg.root)) if p.is_relative_to(cfg.root) else str(p)
                for p in paths]

    code = [f"{source_dir}/{p.as_posix()}" for p in spec.code()]
    stage: dict = {"cmd": f"danlu {spec.name} --force", "deps": rel(spec.deps(cfg)) + code,
                   "params": list(spec.params), "outs": rel(spec.outs(cfg))}
    if metrics := spec.metrics(cfg):
        stage["metrics"] = [{m: {"cache": False}} for m in rel(metrics)]
    if plots := spec.plots(cfg):
        stage["plots"] = [{p: {"cache": False, **PLOT}} for p in rel(plots)]
    return stage


def dvc_yaml_text(stages: dict[str, dict]) -> str:
    import yaml

    body = yaml.safe_dump({"stages": stages}, sort_keys=False, default_flow_style=False,
                          width=100)
    return DVC_YAML_HEADER + body
