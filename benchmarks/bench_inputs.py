"""The curate benchmark's input: real pages as WARC files, built deterministically into a folder.

  * the 990 pages of trafilatura-eval, written as WARC/1.0 HTTP response records (one gzip member
    per record, as Common Crawl does), `--pages-per-file` pages to a file;
  * the real crawl WARCs beside them, byte for byte: resiliparse-warc (Common Crawl) and
    dolma-test-samples/warc (wget crawls).

That is baselines.md's input for datatrove (10 files, 1,043 response records; datatrove reads
1,039 of them as HTML). The same arguments give the same bytes: fixed dates, record ids derived
from the URL, gzip members without a timestamp.

  .venv/bin/python benchmarks/bench_inputs.py OUT_DIR [--data ../shared/data] [--limit N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EVAL_DIR = "trafilatura-eval"
# Real crawl files copied as they are (relative to the data root).
CRAWL_FILES = (
    "resiliparse-warc/warcfile.warc.gz",
    "dolma-test-samples/warc/sample-0000.warc.gz",
    "dolma-test-samples/warc/sample-0001.warc.gz",
)
PAGES_PER_FILE = 142  # 990 pages -> 7 files; with the 3 crawl files, baselines.md's 10
WARC_DATE = "2026-11-23T00:00:00Z"  # fixed: the same input gives the same bytes
RECORD_NAMESPACE = uuid.UUID("8c6f5f0e-6a53-4c1f-9a51-2b8f1c0d9e01")


class InputError(Exception):
    """The shared datasets are missing or not laid out as expected."""


@dataclass(frozen=True)
class BenchInput:
    folder: Path
    files: list[Path]
    pages: int          # trafilatura-eval pages written as records
    crawl_records: int  # response records in the copied crawl files
    html_bytes: int     # HTTP bodies of every response record (the pages' bytes)

    @property
    def records(self) -> int:
        return self.pages + self.crawl_records


def default_data_root() -> Path:
    return Path(os.environ.get("DANLU_SHARED_DATA", REPO.parent / "shared" / "data"))


def eval_pages(data_root: Path, limit: int | None = None) -> list[tuple[str, bytes]]:
    """(url, raw page bytes) in evaldata.json's order; each page is looked up in eval/, then cache/."""
    root = data_root / EVAL_DIR
    index = root / "evaldata.json"
    if not index.is_file():
        raise InputError(
            f"{index} not found: the curate benchmark needs ../shared/data/{EVAL_DIR} "
            "(set DANLU_SHARED_DATA to the shared datasets folder)"
        )
    evaldata = json.loads(index.read_text(encoding="utf-8"))
    pages = []
    for url, item in list(evaldata.items())[:limit]:
        for sub in ("eval", "cache"):
            path = root / sub / f"{item['file']}.gz"
            if path.is_file():
                pages.append((url, gzip.decompress(path.read_bytes())))
                break
        else:
            raise InputError(f"{index}: page for {url} ({item['file']}.gz) in neither eval/ nor cache/")
    return pages


def response_record(url: str, body: bytes) -> bytes:
    """One WARC/1.0 response record holding an HTTP 200 message with `body` (no charset given:
    both tools detect it, as they must for much of a real crawl)."""
    http = (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/html\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    ).encode("ascii") + body
    record_id = uuid.uuid5(RECORD_NAMESPACE, url)
    head = (
        "WARC/1.0\r\n"
        "WARC-Type: response\r\n"
        f"WARC-Date: {WARC_DATE}\r\n"
        f"WARC-Record-ID: <urn:uuid:{record_id}>\r\n"
        f"WARC-Target-URI: {url}\r\n"
        "WARC-Identified-Payload-Type: text/html\r\n"
        "Content-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {len(http)}\r\n"
        "\r\n"
    ).encode("utf-8")
    return head + http + b"\r\n\r\n"


def gzip_member(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def write_eval_warcs(pages: list[tuple[str, bytes]], folder: Path, pages_per_file: int) -> list[Path]:
    files = []
    for start in range(0, len(pages), pages_per_file):
        path = folder / f"trafilatura-eval-{start // pages_per_file:03d}.warc.gz"
        with path.open("wb") as fh:
            for url, body in pages[start:start + pages_per_file]:
                fh.write(gzip_member(response_record(url, body)))
        files.append(path)
    return files


def crawl_bodies(path: Path) -> list[bytes]:
    """HTTP bodies of the response records of a real crawl file (FastWARC, as our reader)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    with path.open("rb") as fh:
        return [r.reader.read() for r in ArchiveIterator(fh, record_types=WarcRecordType.response)]


def build_inputs(
    folder: Path,
    data_root: Path | None = None,
    *,
    limit: int | None = None,
    pages_per_file: int = PAGES_PER_FILE,
    with_crawl: bool = True,
) -> BenchInput:
    """Write the input into `folder` (emptied first); `limit` keeps the first N eval pages."""
    data_root = Path(data_root) if data_root is not None else default_data_root()
    if not data_root.is_dir():
        raise InputError(f"shared datasets not found at {data_root} (set DANLU_SHARED_DATA)")
    pages = eval_pages(data_root, limit)
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    files = write_eval_warcs(pages, folder, pages_per_file)
    html_bytes = sum(len(body) for _, body in pages)
    crawl_records = 0
    for rel in CRAWL_FILES if with_crawl else ():
        src = data_root / rel
        if not src.is_file():
            raise InputError(f"{src}: real crawl file not found")
        dst = folder / f"crawl-{rel.split('/')[0]}-{src.name}"
        shutil.copyfile(src, dst)
        bodies = crawl_bodies(dst)
        crawl_records += len(bodies)
        html_bytes += sum(len(b) for b in bodies)
        files.append(dst)
    return BenchInput(folder, files, len(pages), crawl_records, html_bytes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--data", type=Path, default=default_data_root(), help="shared datasets folder")
    parser.add_argument("--limit", type=int, default=None, help="first N trafilatura-eval pages")
    args = parser.parse_args(argv)
    built = build_inputs(args.out_dir, args.data, limit=args.limit)
    print(f"{built.folder}: {len(built.files)} files, {built.records} response records "
          f"({built.pages} pages + {built.crawl_records} crawl), {built.html_bytes / 1e6:.1f} MB HTML")


if __name__ == "__main__":
    main()
