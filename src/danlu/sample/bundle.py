"""The sample shipped as bytes: a reproducible .tar.gz, and its checked, atomic unpacking into data/."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path, PurePosixPath

from danlu.atomic import atomic_dir, atomic_write_bytes
from danlu.errors import DataError

DEFAULT_ARCHIVE = Path(__file__).parent / "sample.tar.gz"
MANIFEST = "manifest.json"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _listed_files(manifest: bytes, where: str) -> dict[str, str]:
    """name -> sha256 of every file the manifest lists."""
    try:
        files = json.loads(manifest)["files"]
        return {str(name): str(entry["sha256"]) for name, entry in files.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise DataError(
            f"{where}: not a sample manifest with a 'files' map of name -> {{sha256, size}} ({error})"
        ) from error


def _first_difference(data_dir: Path, manifest: bytes, listed: dict[str, str]) -> str | None:
    """The first file (in name order) under data_dir that is missing or differs from the manifest."""
    manifest_path = data_dir / MANIFEST
    if not manifest_path.is_file() or manifest_path.read_bytes() != manifest:
        return MANIFEST
    for name, sha256 in sorted(listed.items()):
        path = data_dir / name
        if not path.is_file() or _sha256(path.read_bytes()) != sha256:
            return name
    return None


def _files_under(data_dir: Path) -> list[str]:
    return sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*") if p.is_file() or p.is_symlink())


def pack(data_dir: Path, archive: Path) -> None:
    """Write data_dir (exactly the files its manifest lists, plus the manifest) as a reproducible .tar.gz."""
    data_dir, archive = Path(data_dir), Path(archive)
    manifest_path = data_dir / MANIFEST
    if not manifest_path.is_file():
        raise DataError(f"{manifest_path}: missing; only a built sample (python -m danlu.sample.build) can be packed")
    manifest = manifest_path.read_bytes()
    listed = _listed_files(manifest, str(manifest_path))
    differing = _first_difference(data_dir, manifest, listed)
    if differing is not None:
        raise DataError(
            f"{data_dir / differing}: missing or changed since {manifest_path} was written; rebuild the sample"
        )
    unlisted = sorted(set(_files_under(data_dir)) - set(listed) - {MANIFEST})
    if unlisted:
        raise DataError(f"{data_dir / unlisted[0]}: not listed in {manifest_path}; remove it or rebuild the sample")
    buffer = io.BytesIO()
    # Fixed gzip and tar metadata (no name, mtime 0, owner 0) so the same files give the same bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as compressed:
        with tarfile.open(fileobj=compressed, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name in sorted([*listed, MANIFEST]):
                data = (data_dir / name).read_bytes()
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
    atomic_write_bytes(archive, buffer.getvalue())
    archive.chmod(0o644)  # the temporary file it was renamed from is private to its owner


def _safe_name(member: tarfile.TarInfo, archive: Path) -> str:
    name = member.name
    path = PurePosixPath(name)
    if not member.isfile():
        raise DataError(f"{archive}: member {name!r} is not a regular file (links, folders and devices are refused)")
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or ":" in path.parts[0]:
        raise DataError(f"{archive}: member {name!r} is not a plain relative path inside the archive")
    return path.as_posix()


def _read_archive(archive: Path) -> dict[str, bytes]:
    """Every member's bytes by name; the sample is a few MB, so memory is not a concern."""
    contents: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                name = _safe_name(member, archive)
                if name in contents:
                    raise DataError(f"{archive}: member {name!r} appears twice")
                extracted = tar.extractfile(member)
                if extracted is None:
                    raise DataError(f"{archive}: member {name!r} has no content")
                contents[name] = extracted.read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DataError(f"{archive}: not a readable .tar.gz ({error})") from error
    return contents


def restore(data_dir: Path, archive: Path = DEFAULT_ARCHIVE, force: bool = False) -> Path:
    """Unpack the sample into data_dir, checking every file against the archive's manifest.

    Does nothing when data_dir already holds this sample (files it does not list are left alone).
    An empty data_dir is filled; one whose files differ is an error unless force, which replaces
    data_dir whole.
    """
    data_dir, archive = Path(data_dir), Path(archive)
    if not archive.is_file():
        raise DataError(f"{archive}: sample archive not found")
    if data_dir.exists() and not data_dir.is_dir():
        raise DataError(f"{data_dir}: exists and is not a folder; the sample unpacks into a folder")
    contents = _read_archive(archive)
    if MANIFEST not in contents:
        raise DataError(f"{archive}: holds no {MANIFEST}")
    manifest = contents[MANIFEST]
    listed = _listed_files(manifest, f"{archive}:{MANIFEST}")
    unlisted = sorted(set(contents) - set(listed) - {MANIFEST})
    if unlisted:
        raise DataError(f"{archive}: member {unlisted[0]!r} is not listed in its {MANIFEST}")
    missing = sorted(set(listed) - set(contents))
    if missing:
        raise DataError(f"{archive}: {missing[0]!r} is listed in its {MANIFEST} but is not a member")
    if data_dir.exists() and any(data_dir.iterdir()):
        differing = _first_difference(data_dir, manifest, listed)
        if differing is None:
            return data_dir
        if not force:
            raise DataError(
                f"{data_dir / differing}: differs from the bundled sample {archive}; "
                f"move {data_dir} aside, or restore with force=True (danlu sample --force) to replace it whole"
            )
    with atomic_dir(data_dir) as staging:
        for name, data in sorted(contents.items()):
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        for name, sha256 in sorted(listed.items()):
            if _sha256((staging / name).read_bytes()) != sha256:
                raise DataError(f"{archive}: member {name!r} does not match the sha256 in its {MANIFEST} ({sha256})")
    return data_dir
