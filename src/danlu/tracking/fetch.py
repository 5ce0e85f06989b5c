"""A model source as a folder on disk: a model folder is itself; a registry URI
(`models:/NAME@ALIAS`, `models:/NAME/VERSION`) is downloaded once per version into a cache and
assembled into a folder that danlu.model.saved.load_model reads.

MLflow's transformers flavor logs the weights and config under `model/` and the tokenizer under
`components/tokenizer/`; the cached folder holds both side by side, as save_model writes them.
A prompt-learning version (peft's adapter files with the base in `base/`) is copied whole.
A version's artifacts never change, so the cache is keyed by registry and version, never by
alias."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from danlu.atomic import atomic_dir
from danlu.errors import DataError
from danlu.model.saved import ADAPTER_CONFIG, PROMPT_BASE_DIR, is_prompt_folder

REGISTRY_PREFIX = "models:/"
FORMS = "models:/NAME@ALIAS or models:/NAME/VERSION"


def resolve_model_source(source: str, tracking_uri: str, cache_dir: Path) -> Path:
    """The model folder that `source` names: a folder path, or a registry URI downloaded under
    `cache_dir` (into <cache_dir>/<name>/<version>, reused when already there)."""
    if not source.startswith(REGISTRY_PREFIX):
        return model_folder(source)
    name, version = registered_version(source, tracking_uri)
    registry = hashlib.sha256(tracking_uri.encode()).hexdigest()[:12]  # version 1 of another db
    folder = Path(cache_dir) / registry / name / version
    if not ((folder / "config.json").is_file() or is_prompt_folder(folder)):
        download_version(name, version, tracking_uri, folder)
    return folder


def model_folder(path: str | Path) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such model folder (expected a folder with config.json "
                        f"and tokenizer.json, or a registry URI {FORMS})")
    return folder


def registered_version(source: str, tracking_uri: str) -> tuple[str, str]:
    """(name, version) that a registry URI points at; a DataError names what is missing and
    what exists instead."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    rest = source[len(REGISTRY_PREFIX):].strip("/")
    if "@" in rest:
        name, alias = rest.split("@", 1)
        version = None
    elif "/" in rest:
        name, version = rest.rsplit("/", 1)
        alias = None
    else:
        raise DataError(f"{source}: expected {FORMS}")
    if not name or not (alias or (version or "").isdigit()):
        raise DataError(f"{source}: expected {FORMS} (a version is a number)")
    _check_registry_exists(tracking_uri)
    c = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        model = c.get_registered_model(name)
    except MlflowException as exc:
        known = sorted(m.name for m in c.search_registered_models())
        raise DataError(f"{source}: no registered model {name!r} in {tracking_uri} "
                        f"(registered: {', '.join(known) or 'none'})") from exc
    if alias is not None:
        aliases = dict(model.aliases or {})
        if alias not in aliases:
            listed = ", ".join(f"@{a} -> version {v}" for a, v in sorted(aliases.items()))
            raise DataError(f"{source}: model {name!r} has no alias {alias!r} "
                            f"(its aliases: {listed or 'none'})")
        return name, str(aliases[alias])
    try:
        c.get_model_version(name, version)
    except MlflowException as exc:
        versions = sorted(int(v.version) for v in c.search_model_versions(f"name='{name}'"))
        raise DataError(f"{source}: model {name!r} has no version {version} (its versions: "
                        f"{', '.join(map(str, versions)) or 'none'})") from exc
    return name, str(version)


def _check_registry_exists(tracking_uri: str) -> None:
    """A sqlite registry that is not there is an error, not a new empty database."""
    prefix = "sqlite:///"
    if tracking_uri.startswith(prefix) and not Path(tracking_uri[len(prefix):]).is_file():
        raise DataError(f"{tracking_uri[len(prefix):]}: no model registry here; register a "
                        "model first (danlu run), or give a model folder")


def download_version(name: str, version: str, tracking_uri: str, folder: Path) -> Path:
    """Download a registered version and assemble it into `folder` (whole, or not at all)."""
    import mlflow.artifacts

    uri = f"{REGISTRY_PREFIX}{name}/{version}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=folder.parent) as download, \
            atomic_dir(folder) as out:
        root = Path(mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=download, tracking_uri=tracking_uri,
            registry_uri=tracking_uri))
        assemble_model_folder(root, out, uri)
    return folder


def assemble_model_folder(root: Path, out: Path, source: str) -> None:
    """The tokenizer files and the contents of the folder under `root` that holds config.json,
    side by side in `out` (the flavor logs them apart); a prompt-learning folder as it is."""
    adapter = _holding(root, ADAPTER_CONFIG)
    if adapter is not None and (adapter / PROMPT_BASE_DIR).is_dir():
        for path in sorted(adapter.iterdir()):
            shutil.move(str(path), str(out / path.name))
        return
    model_dir = _holding(root, "config.json")
    tokenizer_dir = _holding(root, "tokenizer.json")
    if model_dir is None or tokenizer_dir is None:
        found = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        raise DataError(f"{source}: the logged model has no "
                        f"{'config.json' if model_dir is None else 'tokenizer.json'} "
                        f"(downloaded: {', '.join(found) or 'nothing'})")
    for path in sorted(tokenizer_dir.iterdir()):  # small files: copied before the model moves
        if path.is_file():
            shutil.copy2(path, out / path.name)
    for path in sorted(model_dir.iterdir()):
        if not (out / path.name).exists():
            shutil.move(str(path), str(out / path.name))


def _holding(root: Path, filename: str) -> Path | None:
    """The shallowest folder under `root` with `filename` in it."""
    found = sorted(root.rglob(filename), key=lambda p: (len(p.parts), str(p)))
    return found[0].parent if found else None
