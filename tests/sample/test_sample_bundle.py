"""pack/restore: reproducible archives, checked and atomic unpacking, and the committed sample.tar.gz."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from sample_reading import digest_of_tree, read_responses

from danlu.errors import DataError
from danlu.sample.bundle import DEFAULT_ARCHIVE, pack, restore

ARCHIVE_BUDGET_BYTES = 2_200_000


def tiny_sample(root: Path) -> Path:
    """A two-file sample with its manifest, enough to exercise pack and restore."""
    files = {"crawl/a.warc.gz": b"not really a warc", "eval/heldout.jsonl": b'{"id": "h1", "text": "x"}\n'}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    listed = {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)} for name, data in files.items()}
    (root / "manifest.json").write_text(json.dumps({"files": listed}))
    return root


def write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def test_pack_is_reproducible_and_restore_round_trips(built_sample, tmp_path):
    first, second = tmp_path / "first.tar.gz", tmp_path / "second.tar.gz"
    pack(built_sample.root, first)
    pack(built_sample.root, second)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[4:8] == b"\0\0\0\0"  # gzip header mtime
    with tarfile.open(first) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert all(m.isfile() and m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members)
    restored = restore(tmp_path / "data", first)
    assert digest_of_tree(restored) == digest_of_tree(built_sample.root)


def test_restore_fills_an_empty_folder_and_then_leaves_it_alone(tmp_path):
    archive = tmp_path / "s.tar.gz"
    pack(tiny_sample(tmp_path / "src"), archive)
    (tmp_path / "data").mkdir()
    restore(tmp_path / "data", archive)
    stamp = (tmp_path / "data" / "crawl" / "a.warc.gz").stat().st_mtime_ns
    assert restore(tmp_path / "data", archive) == tmp_path / "data"
    assert (tmp_path / "data" / "crawl" / "a.warc.gz").stat().st_mtime_ns == stamp


def test_restore_names_the_file_that_differs_unless_forced(tmp_path):
    archive = tmp_path / "s.tar.gz"
    pack(tiny_sample(tmp_path / "src"), archive)
    data = restore(tmp_path / "data", archive)
    (data / "eval" / "heldout.jsonl").write_text("edited\n")
    with pytest.raises(DataError, match="eval/heldout.jsonl"):
        restore(data, archive)
    restore(data, archive, force=True)
    assert digest_of_tree(data) == digest_of_tree(tmp_path / "src")


def test_restore_rejects_a_member_that_does_not_match_the_manifest(tmp_path):
    src = tiny_sample(tmp_path / "src")
    members = [(tarfile.TarInfo(name), (src / name).read_bytes()) for name in ("crawl/a.warc.gz", "manifest.json")]
    members.append((tarfile.TarInfo("eval/heldout.jsonl"), b"tampered\n"))
    archive = write_tar(tmp_path / "tampered.tar.gz", members)
    with pytest.raises(DataError, match="eval/heldout.jsonl"):
        restore(tmp_path / "data", archive)
    assert not (tmp_path / "data").exists()
    assert not any(p.name.startswith(".data") for p in tmp_path.iterdir())  # no staging folder left behind


def unsafe(kind: str) -> tarfile.TarInfo:
    if kind in ("symlink", "hardlink"):
        info = tarfile.TarInfo("crawl/link")
        info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        info.linkname = "/etc/passwd"
        return info
    names = {"parent": "../escaped.txt", "absolute": "/tmp/escaped.txt", "nested": "eval/../../escaped.txt"}
    return tarfile.TarInfo(names[kind])


@pytest.mark.parametrize("kind", ["parent", "absolute", "nested", "symlink", "hardlink"])
def test_restore_refuses_unsafe_members(tmp_path, kind):
    src = tiny_sample(tmp_path / "src")
    files = sorted(p for p in src.rglob("*") if p.is_file())
    members = [(tarfile.TarInfo(p.relative_to(src).as_posix()), p.read_bytes()) for p in files]
    archive = write_tar(tmp_path / "evil.tar.gz", [(unsafe(kind), b"gotcha")] + members)
    with pytest.raises(DataError, match="member"):
        restore(tmp_path / "work" / "data", archive)
    assert not (tmp_path / "work" / "data").exists() and not (tmp_path / "escaped.txt").exists()


def test_pack_refuses_files_that_changed_or_are_not_listed(tmp_path):
    src = tiny_sample(tmp_path / "src")
    (src / "notes.txt").write_text("stray")
    with pytest.raises(DataError, match="notes.txt"):
        pack(src, tmp_path / "s.tar.gz")
    (src / "notes.txt").unlink()
    (src / "crawl" / "a.warc.gz").write_bytes(b"changed")
    with pytest.raises(DataError, match="crawl/a.warc.gz"):
        pack(src, tmp_path / "s.tar.gz")


def test_committed_archive_restores_and_matches_its_manifest(tmp_path):
    assert DEFAULT_ARCHIVE.is_file() and DEFAULT_ARCHIVE.stat().st_size <= ARCHIVE_BUDGET_BYTES
    data = restore(tmp_path / "data", DEFAULT_ARCHIVE)
    manifest = json.loads((data / "manifest.json").read_text())
    for name, counts in manifest["counts"]["crawl_files"].items():
        assert len(read_responses(data, name)) == counts["responses"]
    assert sum(c["responses"] for c in manifest["counts"]["crawl_files"].values()) == len(manifest["crawl_truth"])


def test_committed_archive_is_what_the_build_code_makes_now(built_sample):
    """Guards against changing the build code without regenerating sample.tar.gz."""
    with tarfile.open(DEFAULT_ARCHIVE) as tar:
        committed = json.load(tar.extractfile("manifest.json"))
    if committed["generator"] != built_sample.manifest["generator"]:
        pytest.skip(f"sample.tar.gz was generated under {committed['generator']}; docstrings differ between versions")
    assert committed == built_sample.manifest
