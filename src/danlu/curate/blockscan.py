"""The C path of danlu's extractor: `blocks()` and `features()` of `danlu.curate.blocks` in one
pass of the `_blockscan` extension (built at install; optional).

blocks.py stays the definition: it hands `prepare` everything the features depend on (the
character classes, the cue regexes, which this module compiles into a small matcher program,
the column layout), and `Scanner.scan` gives exactly what `blocks` + `features` give, or None
where the extension declines a page (input it does not handle exactly like Python). `prepare`
gives None where the C path is not available (no compiler at install, a stale build, cue syntax
the matcher lacks): the caller then takes the Python path.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from re import _constants as sre
from re import _parser as sre_parse
from types import ModuleType

import numpy as np

_MAX_INT32 = 2**31 - 1
_NULLABLE_BUCKET = 129  # alternatives that can match empty text, also tried at a block's end
_BUCKETS = 130  # ASCII 0..127, 128 = any non-ASCII character, then the nullable ones
CLASS_FLAGS = ("space", "punct", "digit", "upper", "letter", "cjk")  # the character-class bits


# str.lower() makes a word-final capital sigma "ς" and others "σ"; the C path lowers each
# character alone: a cue must not tell the two apart.
_SIGMAS = (0x3C2, 0x3C3)
_SIGMA_WHY = "a Greek small sigma (str.lower() chooses between the two by context)"


class Unsupported(ValueError):
    """Regex syntax the C matcher does not implement."""


@dataclass(frozen=True)
class Scanner:
    module: ModuleType
    n_features: int

    def scan(self, minimal_html: str) -> tuple[list[str], np.ndarray, np.ndarray] | None:
        """(block texts, first_in_block flags, feature matrix) as `blocks` and `features` give
        them, or None: take the Python path."""
        out = self.module.scan(minimal_html)
        if out is None:
            return None
        texts, first, x = out
        return (texts, np.frombuffer(first, np.uint8).astype(bool),
                np.frombuffer(x, np.float64).reshape(len(texts), self.n_features))


def prepare(*, features: tuple[str, ...], cues: dict[str, str], classes: np.ndarray,
            class_flags: dict[str, int], cue_chars: int, head: int, sentence_end: str,
            cjk_chars_per_word: float) -> Scanner | None:
    """The extension, configured with blocks.py's definitions, or None (with a warning where it
    is built but cannot serve them). The extension holds one configuration: the last one."""
    try:
        from danlu.curate import _blockscan
    except ImportError:  # built without a C compiler: the Python path
        return None
    names = list(cues)
    layout = (*_blockscan.FEATURES_BEFORE_CUES, *(f"cue_{n}" for n in names),
              *_blockscan.FEATURES_AFTER_CUES)
    c_flags = {name: getattr(_blockscan, f"F_{name.upper()}") for name in CLASS_FLAGS}
    if layout != features or class_flags != c_flags or not {"related", "social"} <= set(names):
        warnings.warn("danlu.curate._blockscan is stale (its features are not blocks.FEATURES): "
                      "reinstall danlu to rebuild it; using the Python path", stacklevel=2)
        return None
    try:
        program, dispatch, entries = compile_cues(list(cues.values()), _blockscan)
    except Unsupported as exc:
        warnings.warn(f"blocks.CUES: {exc}; using the Python path", stacklevel=2)
        return None
    _blockscan.configure(
        classes=classes.astype(np.uint8).tobytes(), program=program, dispatch=dispatch,
        entries=entries, n_cues=len(names), related=names.index("related"),
        social=names.index("social"), cue_chars=cue_chars, head=head,
        sentence_end="".join(sorted(sentence_end)), cjk_chars_per_word=cjk_chars_per_word)
    return Scanner(_blockscan, len(features))


def compile_cues(patterns: list[str], codes: ModuleType) -> tuple[bytes, bytes, bytes]:
    """The cue regexes (searched with re.MULTILINE in each lowercased block) as the C matcher's
    program, and a dispatch table: for each first character, the alternatives that can start
    with it, tried anywhere, only at a word's start, or only at the block's start. Raises
    Unsupported for syntax outside the subset the matcher implements."""
    program = _Program(codes)
    buckets = [[[] for _ in range(_BUCKETS)] for _ in range(3)]  # by where: anywhere, word, block
    for cue, pattern in enumerate(patterns):
        parsed = sre_parse.parse(pattern, re.MULTILINE)
        if parsed.state.flags & ~(re.MULTILINE | re.UNICODE):
            raise Unsupported(f"flags in {pattern!r}")
        for alternative in _alternatives(_flatten(list(parsed))):
            pc = program.sequence(alternative)
            ascii_chars, non_ascii, nullable, all_word = _first(alternative)
            where = _ANYWHERE
            if alternative and alternative[0][0] is sre.AT:
                if alternative[0][1] is sre.AT_BEGINNING:
                    where = _BLOCK_START
                elif alternative[0][1] is sre.AT_BOUNDARY and all_word and not nullable:
                    where = _WORD_START  # \b before a word character: the previous is none
            if nullable:  # can match empty text: at every position, and at the end
                ascii_chars, non_ascii = set(range(128)), True
                buckets[where][_NULLABLE_BUCKET].append((cue, pc))
            for c in sorted(ascii_chars):
                buckets[where][c].append((cue, pc))
            if non_ascii:
                buckets[where][128].append((cue, pc))
    dispatch, entries = [], []
    for by_where in buckets:
        for bucket in by_where:
            dispatch += [len(entries) // 2, len(bucket)]
            for entry in bucket:
                entries += entry
    as_bytes = lambda values: np.array(values, np.int32).tobytes()  # noqa: E731
    return as_bytes(program.code), as_bytes(dispatch), as_bytes(entries)


_ANYWHERE, _WORD_START, _BLOCK_START = 0, 1, 2


def _alternatives(seq: list, depth: int = 2) -> list[list]:
    """A sequence as a list of alternatives: a branch after leading assertions is multiplied
    out (a\\b(x|y)z -> a\\bxz, a\\byz), so that each alternative has its own first characters."""
    lead = 0
    while lead < len(seq) and seq[lead][0] is sre.AT:
        lead += 1
    if depth == 0 or lead == len(seq) or seq[lead][0] is not sre.BRANCH:
        return [seq]
    head, rest = seq[:lead], seq[lead + 1:]
    return [expanded for alternative in seq[lead][1][1]
            for expanded in _alternatives(head + _flatten(list(alternative)) + rest, depth - 1)]


def _flatten(seq: list) -> list:
    """Groups inlined (the matcher needs no captures)."""
    out = []
    for op, av in seq:
        if op is sre.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                raise Unsupported("inline flags in a group")
            out += _flatten(list(sub))
        else:
            out.append((op, av))
    return out


_AT = {sre.AT_BEGINNING: "AT_BEGIN", sre.AT_BOUNDARY: "AT_BOUNDARY",
       sre.AT_NON_BOUNDARY: "AT_NON_BOUNDARY", sre.AT_END: "AT_END"}
_CATEGORY = {sre.CATEGORY_DIGIT: "IN_DIGIT", sre.CATEGORY_NOT_DIGIT: "IN_NOT_DIGIT",
             sre.CATEGORY_WORD: "IN_WORD", sre.CATEGORY_NOT_WORD: "IN_NOT_WORD",
             sre.CATEGORY_SPACE: "IN_SPACE", sre.CATEGORY_NOT_SPACE: "IN_NOT_SPACE"}


class _Program:
    """Emits sequences (each ending in SUCC); a node's sub-sequences are emitted before it."""

    def __init__(self, codes: ModuleType):
        self.codes = codes
        self.code: list[int] = []

    def sequence(self, seq: list) -> int:
        c = self.codes
        nodes: list[list[int | None]] = []
        for op, av in _flatten(seq):
            if op is sre.LITERAL:
                if av == ord("\n"):
                    raise Unsupported("a newline in a cue (blocks have none)")
                if av in _SIGMAS:
                    raise Unsupported(_SIGMA_WHY)
                nodes.append([c.OP_LIT, av])
            elif op is sre.IN or op is sre.ANY:
                items = av if op is sre.IN else [(sre.NEGATE, None), (sre.LITERAL, ord("\n"))]
                if _class_has(items, "\n"):
                    raise Unsupported(
                        f"{op} can match a newline: the Python path searches the blocks joined by "
                        "newlines, and a match across blocks has no C equivalent")
                nodes.append([c.OP_IN, *self._class(items)])
            elif op is sre.AT:
                if av not in _AT:
                    raise Unsupported(f"assertion {av}")
                nodes.append([c.OP_AT, getattr(c, _AT[av])])
            elif op is sre.BRANCH:
                alternatives = [self.sequence(list(a)) for a in av[1]]
                nodes.append([c.OP_BRANCH, len(alternatives), None, *alternatives])
            elif op is sre.MAX_REPEAT:
                low, high, body = av
                if _first(list(body))[2]:
                    raise Unsupported("a repeat of something that can match empty text")
                high = _MAX_INT32 if high is sre.MAXREPEAT else high
                nodes.append([c.OP_REPEAT, low, high, self.sequence(list(body)), None])
            else:
                raise Unsupported(f"regex operation {op}")
        start = pc = len(self.code)
        for node in nodes:
            after = pc + len(node)
            self.code += [after if v is None else v for v in node]
            pc = after
        self.code.append(c.OP_SUCC)
        return start

    def _class(self, items: list) -> list[int]:
        c = self.codes
        negate, out = 0, []
        for op, av in items:
            if op is sre.NEGATE:
                negate = 1
            elif op is sre.LITERAL:
                if av in _SIGMAS:
                    raise Unsupported(_SIGMA_WHY)
                out.append((c.IN_LIT, av, 0))
            elif op is sre.RANGE:
                if sum(av[0] <= sigma <= av[1] for sigma in _SIGMAS) == 1:
                    raise Unsupported(_SIGMA_WHY)
                out.append((c.IN_RANGE, av[0], av[1]))
            elif op is sre.CATEGORY and av in _CATEGORY:
                out.append((getattr(c, _CATEGORY[av]), 0, 0))
            else:
                raise Unsupported(f"character class item {op}")
        return [len(out), negate, *(v for item in out for v in item)]


def _first(seq: list) -> tuple[set[int], bool, bool, bool]:
    """(ASCII characters a match can start with, whether a non-ASCII one can, whether the
    sequence can match empty text, whether every first character is a word character): a
    superset of the first characters is fine, it only filters."""
    ascii_chars: set[int] = set()
    non_ascii, all_word = False, True
    for op, av in _flatten(seq):
        if op is sre.AT:
            continue
        if op is sre.LITERAL:
            if av < 128:
                ascii_chars.add(av)
            non_ascii = non_ascii or av >= 128
            return ascii_chars, non_ascii, False, all_word and _is_word(chr(av))
        if op is sre.IN:
            chars, wide, word = _class_first(av)
            return ascii_chars | chars, non_ascii or wide, False, all_word and word
        if op is sre.BRANCH or op is sre.MAX_REPEAT:
            subs = av[1] if op is sre.BRANCH else [av[2]]
            nullable = op is sre.MAX_REPEAT and av[0] == 0
            for sub in subs:
                chars, wide, empty, word = _first(list(sub))
                ascii_chars |= chars
                non_ascii = non_ascii or wide
                nullable = nullable or empty
                all_word = all_word and word
            if not nullable:
                return ascii_chars, non_ascii, False, all_word
            continue
        return set(range(128)), True, False, False  # anything else: no filtering
    return ascii_chars, non_ascii, True, all_word


def _class_first(items: list) -> tuple[set[int], bool, bool]:
    """(ASCII members, whether non-ASCII ones may be, whether all members are word characters)"""
    chars: set[int] = set()
    wide, word = False, True
    for op, av in items:
        if op is sre.LITERAL:
            if av < 128:
                chars.add(av)
            wide = wide or av >= 128
            word = word and _is_word(chr(av))
        elif op is sre.RANGE:
            chars |= set(range(av[0], min(av[1], 127) + 1))
            wide = wide or av[1] >= 128
            word = word and all(_is_word(chr(c)) for c in range(av[0], av[1] + 1))
        elif op is sre.CATEGORY and av is sre.CATEGORY_DIGIT:
            chars |= set(range(ord("0"), ord("9") + 1))
            wide = True
        else:  # other categories, negation: any character
            return set(range(128)), True, False
    return chars, wide, word


def _is_word(c: str) -> bool:
    return c == "_" or c.isalnum()


def _class_has(items: list, ch: str) -> bool:
    """Whether the character class (sre_parse's items) matches ch."""
    categories = {sre.CATEGORY_DIGIT: ch.isdecimal(), sre.CATEGORY_NOT_DIGIT: not ch.isdecimal(),
                  sre.CATEGORY_WORD: _is_word(ch), sre.CATEGORY_NOT_WORD: not _is_word(ch),
                  sre.CATEGORY_SPACE: ch.isspace(), sre.CATEGORY_NOT_SPACE: not ch.isspace()}
    negate = hit = False
    for op, av in items:
        if op is sre.NEGATE:
            negate = True
        elif op is sre.LITERAL:
            hit = hit or ord(ch) == av
        elif op is sre.RANGE:
            hit = hit or av[0] <= ord(ch) <= av[1]
        elif op is sre.CATEGORY:
            hit = hit or categories.get(av, True)
    return hit != negate
