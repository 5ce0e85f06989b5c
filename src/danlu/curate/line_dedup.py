"""Line or paragraph deduplication across documents, CCNet style (Wenzek et al. 2020): a line
whose normalized text appeared earlier in the corpus (an earlier document, or earlier in the
same one) is removed, so the navigation, cookie banners and footers that a site repeats on
every page go, and the rest of each page stays.

The shard workers hash every unit (`unit_hashes`); the corpus step finds, for each hash, its
first occurrence in the global document order, so the result does not depend on the number of
workers or shards. Only the documents that lose a unit are rewritten, one shard at a time; a
document left with too little text is dropped.

Memory: 12 bytes per unit of the surviving documents (the hash and its document), in one
process, about 1.2 GB for 100 million lines.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from danlu.curate.dedup import normalize

# A blank line, possibly with spaces, between two paragraphs.
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
SEPARATOR = {"line": "\n", "paragraph": "\n\n"}
# The hash of a unit with no letters (blank, digits, punctuation): never counted as repeated.
NO_HASH = 0


def split_units(text: str, unit: str) -> list[str]:
    if unit == "line":
        return text.split("\n")
    return _PARAGRAPH_BREAK.split(text)


def unit_hashes(text: str, unit: str) -> np.ndarray:
    """(units,) uint64: blake2b of each unit's normalized text, NO_HASH where it has no letters."""
    out = np.zeros(len(units := split_units(text, unit)), dtype=np.uint64)
    for i, part in enumerate(units):
        normalized = normalize(part)
        if normalized:
            digest = hashlib.blake2b(normalized.encode("utf-8"), digest_size=8).digest()
            out[i] = int.from_bytes(digest, "little") | 1  # never NO_HASH
    return out


def repeated_units(hashes: np.ndarray) -> np.ndarray:
    """Boolean mask over the flat `hashes` of the documents in global order: True where the
    same hash occurred at an earlier position."""
    repeated = np.zeros(hashes.size, dtype=bool)
    hashed = np.flatnonzero(hashes != NO_HASH)
    if hashed.size:
        _, first, group = np.unique(hashes[hashed], return_index=True, return_inverse=True)
        repeated[hashed] = first[group.ravel()] != np.arange(hashed.size)
    return repeated


def remove_units(text: str, unit: str, remove: np.ndarray) -> str:
    """The text without the units at the positions `remove` (booleans, one per unit), the rest
    joined by the unit's separator."""
    units = split_units(text, unit)
    if len(units) != remove.size:
        raise ValueError(f"{remove.size} flags for {len(units)} {unit}s (hashes of another text)")
    return SEPARATOR[unit].join(u for u, gone in zip(units, remove) if not gone).strip()
