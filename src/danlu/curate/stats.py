"""Counts for every step, reason and source, and the accounting invariant that ties them.

Each shard's worker counts its own part; the parts merge (`merge`, through `state` /
`from_state` when a finished shard is read back from disk on resume) before the global steps
(quality, dedup) add theirs.
"""

from __future__ import annotations

from collections import Counter

from danlu.curate.document import Document, Quarantined, RawDocument

READ_STEP = "read"
EXTRACT_STEP = "extract"
# the steps over the whole corpus, after the shards (corpus.py)
QUALITY_STEP = "quality"
EXACT_STEP = "exact_duplicate"
NEAR_STEP = "near_duplicate"
LINE_STEP = "line_dedup"


class CurateStats:
    """Every input ends in exactly one of kept, dropped (by a filter) or quarantined.

    A quarantined corrupt file counts as one input for the part that could not be read: how
    many records it held is unknowable.
    """

    def __init__(self, filter_names: list[str], sources: list[str]):
        self.steps = [READ_STEP, EXTRACT_STEP, *filter_names]
        self.entered: Counter[str] = Counter()
        self.removed: dict[str, Counter[str]] = {step: Counter() for step in self.steps}
        self.bytes_removed: Counter[str] = Counter()  # UTF-8 bytes of the text a step dropped
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

    def enter(self, step: str, n: int = 1) -> None:
        self.entered[step] += n

    def drop(self, step: str, source: str, n_bytes: int, language: str | None) -> None:
        self.removed[step][step] += 1
        self.bytes_removed[step] += n_bytes
        self.sources[source].dropped[step] += 1
        self._language(language)

    def keep(self, source: str, n_bytes: int, language: str | None) -> None:
        counts = self.sources[source]
        counts.kept += 1
        counts.bytes_kept += n_bytes
        self._language(language)

    def _language(self, language: str | None) -> None:
        if language is not None:
            self.languages[language] += 1

    def state(self) -> dict:
        """Raw counters as JSON, for a shard's stats on disk."""
        return {
            "steps": self.steps,
            "entered": dict(self.entered),
            "removed": {step: dict(c) for step, c in self.removed.items()},
            "bytes_removed": dict(self.bytes_removed),
            "sources": {name: c.__dict__ | {"dropped": dict(c.dropped),
                                             "quarantined": dict(c.quarantined)}
                        for name, c in self.sources.items()},
            "languages": dict(self.languages),
            "encodings": dict(self.encodings),
        }

    @classmethod
    def from_state(cls, state: dict) -> CurateStats:
        stats = cls(state["steps"][2:], list(state["sources"]))
        stats.entered.update(state["entered"])
        for step, counts in state["removed"].items():
            stats.removed[step].update(counts)
        stats.bytes_removed.update(state["bytes_removed"])
        for name, counts in state["sources"].items():
            mine = stats.sources[name]
            for key in ("documents_in", "bytes_in", "kept", "bytes_kept"):
                setattr(mine, key, counts[key])
            mine.dropped.update(counts["dropped"])
            mine.quarantined.update(counts["quarantined"])
        stats.languages.update(state["languages"])
        stats.encodings.update(state["encodings"])
        return stats

    def merge(self, other: CurateStats) -> None:
        if other.steps != self.steps:
            raise ValueError(f"cannot merge stats of steps {other.steps} into {self.steps}")
        self.entered.update(other.entered)
        for step, counts in other.removed.items():
            self.removed[step].update(counts)
        self.bytes_removed.update(other.bytes_removed)
        for name, counts in other.sources.items():
            self.sources[name].add(counts)
        self.languages.update(other.languages)
        self.encodings.update(other.encodings)

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
            "bytes_removed": self.bytes_removed[step],
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


def stats_markdown(stats: dict) -> str:
    """stats.json as Markdown: totals, a row per step (documents and bytes removed, reasons),
    a row per source."""
    dropped, quarantined = sum(stats["dropped"].values()), sum(stats["quarantined"].values())
    lines = [
        "# Curate statistics",
        "",
        f"{stats['documents_in']:,} documents in ({stats['bytes_in']:,} bytes): "
        f"**{stats['kept']:,} kept** ({stats['bytes_kept']:,} bytes of text), "
        f"{dropped:,} dropped, {quarantined:,} quarantined. "
        f"Accounting holds: {'yes' if stats['invariant']['holds'] else '**NO**'}.",
        "",
        "| step | in | out | removed | share removed | text bytes removed | reasons |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for step in stats["steps"]:
        removed = step["in"] - step["out"]
        share = f"{removed / step['in']:.1%}" if step["in"] else "-"
        reasons = ", ".join(f"{r} {n:,}" for r, n in step["removed"].items() if n) or ""
        lines.append(f"| {step['step']} | {step['in']:,} | {step['out']:,} | {removed:,} | "
                     f"{share} | {step.get('bytes_removed', 0):,} | {reasons} |")
    lines += ["", "| source | in | kept | dropped | quarantined | bytes kept |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, c in stats["sources"].items():
        lines.append(f"| {name} | {c['documents_in']:,} | {c['kept']:,} | "
                     f"{sum(c['dropped'].values()):,} | {sum(c['quarantined'].values()):,} | "
                     f"{c['bytes_kept']:,} |")
    return "\n".join(lines) + "\n"
