"""Model sources without a registry round trip (tests/test_chat_cli.py has one): folders, the
URI forms, a missing registry, and the folder assembled from the flavor's layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from danlu.errors import DataError
from danlu.tracking.fetch import assemble_model_folder, resolve_model_source


def test_a_folder_is_itself_and_a_missing_one_is_named(tmp_path: Path):
    assert resolve_model_source(str(tmp_path), "unused", tmp_path / "cache") == tmp_path
    with pytest.raises(DataError, match=str(tmp_path / "gone")):
        resolve_model_source(str(tmp_path / "gone"), "unused", tmp_path / "cache")


@pytest.mark.parametrize("uri", ["models:/danlu-chat", "models:/danlu-chat/latest",
                                 "models:/@candidate"])
def test_a_malformed_uri_says_what_is_expected(tmp_path: Path, uri: str):
    with pytest.raises(DataError, match="models:/NAME@ALIAS or models:/NAME/VERSION"):
        resolve_model_source(uri, f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path)


def test_a_missing_sqlite_registry_is_not_created(tmp_path: Path):
    db = tmp_path / "mlflow.db"
    with pytest.raises(DataError, match="no model registry here"):
        resolve_model_source("models:/danlu-chat@candidate", f"sqlite:///{db}", tmp_path)
    assert not db.exists()


def test_the_flavor_layout_becomes_one_loadable_folder(tmp_path: Path):
    root = tmp_path / "download"
    files = {"MLmodel": "", "model/config.json": "{}", "model/model.safetensors": "w",
             "components/tokenizer/tokenizer.json": "{}",
             "components/tokenizer/tokenizer_config.json": "{}"}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    out = tmp_path / "out"
    out.mkdir()
    assemble_model_folder(root, out, "models:/x/1")
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]


def test_a_logged_model_without_a_tokenizer_is_refused(tmp_path: Path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    with pytest.raises(DataError, match="models:/x/1: the logged model has no tokenizer.json"):
        assemble_model_folder(tmp_path, tmp_path / "out", "models:/x/1")
