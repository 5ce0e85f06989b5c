"""Counts for every step, reason and source, and the accounting invariant that ties them."""

from __future__ import annotations

from collections import Counter

from danlu.curate.document import Document, Quarantined, RawDocument

READ_STEP = "read"
EXTRACT_STEP = "extract"


class CurateStats:
    """Every input ends in exactly one of kept, dropped (by a filter) or quarantined.

    A quarantined corrupt file counts as one input for the part that could not be read: how
    many records it held is unknowable.
    """

    def __init__(self, filter_names: list[str], sources: list[str]):
        self.steps = [READ_STEP, EXTRACT_STEP, *filter_names]
        self.entered: Counter[str] = Counter()
        self.removed: dict[str, Counter[str]] = {step: Counter() for step in self.steps}
        self.sources = {name: _SourceCounts() for name in sources}
        self.languages: Counter[str] = Counter()
        self.encodings: Counter[str] = Counter()

    def read(self, item: RawDocument | Quarantined) -> None:
        self.entered[READ_STEP] += 1
        counts = self.sources[item.source]
        counts.documents_in += 1
        if isinstance(item, RawDocument):
            counts.bytes_in += item.n_bytes
            self.entered[EXTRACT_STEP] += 1

    def quarantine(self, step: str, item: Quarantined) -> None:
        self.removed[step][item.reason] += 1
        self.sources[item.source].quarantined[item.reason] += 1

    def extracted(self, doc: Document) -> None:
        self.encodings[doc.encoding_source or "none"] += 1

    def enter(self, step: str) -> None:
        self.entered[step] += 1

    def drop(self, step: str, doc: Document) -> None:
        self.removed[step][step] += 1
        self.sources[doc.source].dropped[step] += 1
        self._language(doc)

    def keep(self, doc: Document) -> None:
        counts = self.sources[doc.source]
        counts.kept += 1
        counts.bytes_kept += len(doc.text.encode("utf-8"))
        self._language(doc)

    def _language(self, doc: Document) -> None:
        if doc.language is not None:
            self.languages[doc.language] += 1

    def to_dict(self) -> dict:
        """The stats.json content; raises AssertionError when the counts do not add up (a bug)."""
        total = _SourceCounts()
        for counts in self.sources.values():
            total.add(counts)
        filter_names = self.steps[2:]
        data = {
            **total.to_dict(filter_names),
            "steps": [self._step(step) for step in self.steps],
            "sources": {name: c.to_dict(filter_names) for name, c in self.sources.items()},
            "languages": dict(sorted(self.languages.items(), key=lambda kv: (-kv[1], kv[0]))),
            "encodings": dict(sorted(self.encodings.items())),
        }
        accounted = data["kept"] + sum(data["dropped"].values()) + sum(data["quarantined"].values())
        data["invariant"] = {
            "rule": "documents_in == kept + sum(dropped) + sum(quarantined)",
            "documents_in": data["documents_in"],
            "accounted": accounted,
            "holds": accounted == data["documents_in"],
        }
        if not data["invariant"]["holds"]:
            raise AssertionError(f"curate lost track of documents (a bug): {data['invariant']}")
        flow = [(s["step"], s["in"], s["out"]) for s in data["steps"]]
        for (step, _, out), (following, entered, _) in zip(flow, flow[1:]):
            if out != entered:
                raise AssertionError(f"{out} left {step} but {entered} entered {following} (a bug)")
        if flow[-1][2] != data["kept"]:
            passed = flow[-1][2]
            raise AssertionError(f"{passed} passed every step but {data['kept']} were kept (a bug)")
        return data

    def _step(self, step: str) -> dict:
        removed = self.removed[step]
        entered = self.entered[step]
        return {
            "step": step,
            "in": entered,
            "out": entered - sum(removed.values()),
            "removed": dict(sorted(removed.items())),
        }


class _SourceCounts:
    def __init__(self) -> None:
        self.documents_in = self.bytes_in = self.kept = self.bytes_kept = 0
        self.dropped: Counter[str] = Counter()
        self.quarantined: Counter[str] = Counter()

    def add(self, other: _SourceCounts) -> None:
        self.documents_in += other.documents_in
        self.bytes_in += other.bytes_in
        self.kept += other.kept
        self.bytes_kept += other.bytes_kept
        self.dropped.update(other.dropped)
        self.quarantined.update(other.quarantined)

    def to_dict(self, filter_names: list[str]) -> dict:
        return {
            "documents_in": self.documents_in,
            "bytes_in": self.bytes_in,
            "kept": self.kept,
            "bytes_kept": self.bytes_kept,
            "dropped": {name: self.dropped[name] for name in filter_names},
            "quarantined": dict(sorted(self.quarantined.items())),
        }
