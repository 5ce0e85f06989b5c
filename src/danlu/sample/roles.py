"""Which source doc feeds which part of the sample: crawl pages, reference text or held-out evaluation."""

from __future__ import annotations

import random
from dataclasses import dataclass

from danlu.sample.doc_blocks import Doc, without_seen_paragraphs
from danlu.sample.sources import MODULES, ApiEntry, api_entries, module_doc, topic_docs

HELDOUT_TOPICS = 6
HELDOUT_MODULES = 8
REFERENCE_SHARE = 0.4  # of the remaining topics and modules; the rest become crawl articles
HELDOUT_TOPIC_CHARS = (1500, 12000)  # mid-sized topics give several passages without eating a big one


@dataclass(frozen=True)
class Roles:
    crawl: list[Doc]
    reference: list[Doc]
    heldout: list[Doc]
    train_entries: list[ApiEntry]  # for SFT conversations
    heldout_entries: list[ApiEntry]  # for evaluation prompts only
    heldout_modules: list[str]
    heldout_topics: list[str]


def _take(rng: random.Random, items: list[str], count: int) -> tuple[list[str], list[str]]:
    """A seeded sample of count items and the rest, both sorted."""
    taken = set(rng.sample(items, count))
    return sorted(taken), [item for item in items if item not in taken]


def assign_roles(rng: random.Random) -> Roles:
    topics = {doc.key: doc for doc in topic_docs()}
    low, high = HELDOUT_TOPIC_CHARS
    candidates = [key for key, doc in topics.items() if low <= doc.body_chars() <= high]
    heldout_topics, _ = _take(rng, candidates, HELDOUT_TOPICS)
    other_topics = [key for key in topics if key not in heldout_topics]
    reference_topics, crawl_topics = _take(rng, other_topics, round(REFERENCE_SHARE * len(other_topics)))

    entries = {name: api_entries(name) for name in MODULES}
    candidates = [name for name in MODULES if name != "builtins" and len(entries[name]) >= 6]
    heldout_modules, _ = _take(rng, candidates, HELDOUT_MODULES)
    other_modules = [name for name in MODULES if name not in heldout_modules]
    reference_modules, crawl_modules = _take(rng, other_modules, round(REFERENCE_SHARE * len(other_modules)))

    # Held-out docs claim their paragraphs first, so text they share with a training doc is
    # removed from the training doc, never from the evaluation set.
    seen: set[str] = set()
    def dedup(docs: list[Doc]) -> list[Doc]:
        return [without_seen_paragraphs(doc, seen) for doc in docs]

    heldout = dedup([topics[key] for key in heldout_topics] + [module_doc(name) for name in heldout_modules])
    crawl = dedup([topics[key] for key in crawl_topics] + [module_doc(name) for name in crawl_modules])
    reference = dedup([topics[key] for key in reference_topics] + [module_doc(name) for name in reference_modules])
    return Roles(
        crawl=crawl,
        reference=reference,
        heldout=heldout,
        train_entries=[entry for name in other_modules for entry in entries[name]],
        heldout_entries=[entry for name in heldout_modules for entry in entries[name]],
        heldout_modules=heldout_modules,
        heldout_topics=[key.removeprefix("topic:") for key in heldout_topics],
    )
