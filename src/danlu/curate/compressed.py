"""Opening an input file through its compression (gzip, zstd or none), as a binary stream."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

GZIP_SUFFIXES = (".gz",)
ZSTD_SUFFIXES = (".zst", ".zstd")
# What a damaged stream raises while being read: gzip (OSError, EOFError, zlib.error) and
# pyarrow's zstd codec (OSError "Truncated compressed stream", ArrowInvalid on a bad frame).
DECOMPRESS_ERRORS = (OSError, EOFError, zlib.error, pa.ArrowException)


def open_decompressed(path: Path) -> BinaryIO:
    """The file's decompressed bytes, streamed; the codec is chosen by the suffix."""
    name = path.name.lower()
    if name.endswith(GZIP_SUFFIXES):
        return gzip.open(path, "rb")
    if name.endswith(ZSTD_SUFFIXES):
        # pyarrow's codec, not the zstandard package: no dependency beyond the one we have.
        return io.BufferedReader(pa.CompressedInputStream(str(path), "zstd"))
    return path.open("rb")
