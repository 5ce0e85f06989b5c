"""Offline text the sample is made of: the reference manual's pydoc topics and stdlib docstrings."""

from __future__ import annotations

import importlib
import inspect
import re
import warnings
from dataclasses import dataclass
from types import ModuleType

from pydoc_data.topics import topics as PYDOC_TOPICS

from danlu.sample.doc_blocks import Block, Doc, normalized, parse_doc_text

# Mined in this order. Explicit so the sample does not depend on what else is installed; all are
# pure stdlib, import without side effects and are not deprecated in 3.11-3.13.
MODULES = (
    "abc", "argparse", "ast", "base64", "bisect", "builtins", "calendar", "cmd", "codecs",
    "collections", "colorsys", "configparser", "contextlib", "copy", "csv", "dataclasses",
    "datetime", "decimal", "difflib", "dis", "email.message", "enum", "filecmp", "fileinput",
    "fnmatch", "fractions", "ftplib", "functools", "getopt", "gettext", "glob", "graphlib",
    "gzip", "hashlib", "heapq", "hmac", "html", "html.parser", "http.client", "http.cookies",
    "imaplib", "inspect", "io", "ipaddress", "itertools", "json", "keyword", "linecache",
    "locale", "logging", "lzma", "mailbox", "math", "mimetypes", "numbers", "operator",
    "optparse", "pathlib", "pickle", "pkgutil", "platform", "plistlib", "poplib", "pprint",
    "queue", "quopri", "random", "re", "reprlib", "sched", "secrets", "selectors", "shelve",
    "shlex", "shutil", "smtplib", "socketserver", "sqlite3", "statistics", "string", "struct",
    "subprocess", "tarfile", "tempfile", "textwrap", "threading", "timeit", "tokenize", "trace",
    "traceback", "types", "typing", "urllib.parse", "urllib.request", "uuid", "warnings", "wave",
    "weakref", "xml.dom.minidom", "xml.etree.ElementTree", "zipfile",
)  # fmt: skip

# A docstring's first paragraph is sometimes a call signature ("int(x, base=10) -> integer").
SIGNATURE_LINE = re.compile(r"^[\w.]+\(.*\)(\s*->\s*.+)?$")
# ...or starts like one: "[sep] -> string in ISO 8601 format".
LEADING_ARROW = re.compile(r"^\S*\s*->")
# Default values whose repr holds a memory address or a local path (platform.architecture's
# executable=sys.executable) would make the sample differ between runs and machines.
UNSTABLE_REPR = re.compile(r" at 0x[0-9a-fA-F]+|'/[^']*'")
# Module docstrings that repeat their own name: "codecs -- Python Codec Registry", "functools.py - Tools".
MODULE_NAME_PREFIX = re.compile(r"^(module\s+)?[\w.]+(\.py)?\s+--?\s+", re.IGNORECASE)
MAX_SUMMARY_CHARS = 400
MIN_SUMMARY_CHARS = 20


@dataclass(frozen=True)
class ApiEntry:
    """One documented function, class or method: the material for chat questions."""

    name: str  # qualified: "textwrap.dedent", "str.split", "pathlib.Path.read_text"
    module: str
    short: str  # as imported from its module: "dedent", "Path.read_text"
    kind: str  # "function", "class" or "method"
    signature: str | None
    summary: str
    doc: str


def topic_docs() -> list[Doc]:
    """Every pydoc topic as a Doc, minus topics whose paragraphs another (larger) topic holds."""
    by_size = sorted(PYDOC_TOPICS.items(), key=lambda item: (-len(item[1]), item[0]))
    seen: set[str] = set()
    docs = []
    for name, text in by_size:
        blocks = parse_doc_text(text)
        keys = {normalized(b.text) for b in blocks if b.kind != "h1" and len(b.text) >= 80}
        if keys & seen:  # e.g. "if" is a section of "compound": keep only the larger topic
            continue
        seen |= keys
        title = blocks[0].text if blocks and blocks[0].kind == "h1" else name
        docs.append(Doc(f"topic:{name}", title, tuple(b for b in blocks if b.kind != "h1")))
    return sorted(docs, key=lambda doc: doc.key)


def import_module(name: str) -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(name)


def _belongs_to(obj: object, name: str, module: ModuleType) -> bool:
    """Defined by this module or its C accelerator (functools.reduce lives in _functools)."""
    owner = getattr(obj, "__module__", None) or ""
    if owner == module.__name__:
        return True
    return owner.startswith("_") and (
        owner.lstrip("_") == module.__name__.rsplit(".", 1)[-1] or name in getattr(module, "__all__", ())
    )


def _public_members(module: ModuleType) -> list[tuple[str, object]]:
    members = []
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue
        if _belongs_to(obj, name, module) and isinstance(obj.__doc__, str):
            members.append((name, obj))
    return members


def _methods(cls: type) -> list[tuple[str, object]]:
    methods = []
    for name, raw in sorted(vars(cls).items()):
        if name.startswith("_") or isinstance(raw, property):
            continue
        obj = getattr(cls, name, None)
        if inspect.isroutine(obj) and isinstance(getattr(raw, "__doc__", None), str):
            methods.append((name, obj))
    return methods


def signature_of(obj: object) -> str | None:
    try:
        text = str(inspect.signature(obj))
    except (TypeError, ValueError):  # many C functions carry no signature
        return None
    if UNSTABLE_REPR.search(text) or len(text) > 160:
        return None
    return text


def summary_of(doc: str) -> str | None:
    """First paragraph of a docstring (after any signature lines), cut at a sentence to ≤400 chars."""
    for paragraph in re.split(r"\n\s*\n", inspect.cleandoc(doc)):
        lines = [line.strip() for line in paragraph.strip().splitlines()]
        if not lines or all(SIGNATURE_LINE.match(line) or line == "--" for line in lines):
            continue
        text = normalized(" ".join(lines))
        if len(text) > MAX_SUMMARY_CHARS:
            sentences = re.split(r"(?<=[.!?])\s+", text)
            text = ""
            for sentence in sentences:
                if len(text) + len(sentence) + 1 > MAX_SUMMARY_CHARS:
                    break
                text = f"{text} {sentence}".strip()
        if len(text) < MIN_SUMMARY_CHARS or text.endswith(":") or LEADING_ARROW.match(text):
            return None
        return text
    return None


def api_entries(module_name: str) -> list[ApiEntry]:
    module = import_module(module_name)
    prefix = "" if module_name == "builtins" else f"{module_name}."
    found: list[tuple[str, str, object]] = []
    for name, obj in _public_members(module):
        found.append((name, "class" if inspect.isclass(obj) else "function", obj))
        if inspect.isclass(obj):
            found.extend((f"{name}.{method}", "method", fn) for method, fn in _methods(obj))
    entries = []
    for short, kind, obj in found:
        doc = inspect.cleandoc(obj.__doc__ or "")
        summary = summary_of(doc) if doc else None
        if summary:
            entries.append(
                ApiEntry(f"{prefix}{short}", module_name, short, kind, signature_of(obj), summary, doc)
            )
    return entries


def module_doc(module_name: str) -> Doc:
    """A module's reference page: its docstring, then each public member's signature and docstring."""
    module = import_module(module_name)
    blocks: list[Block] = list(parse_doc_text(inspect.cleandoc(module.__doc__ or "")))
    for name, obj in _public_members(module):
        signature = signature_of(obj) or ""
        blocks.append(Block("h2", f"{'class ' if inspect.isclass(obj) else ''}{name}{signature}"))
        blocks.extend(parse_doc_text(inspect.cleandoc(obj.__doc__ or "")))
        if inspect.isclass(obj):
            for method, fn in _methods(obj):
                blocks.append(Block("h3", f"{name}.{method}{signature_of(fn) or '()'}"))
                blocks.extend(parse_doc_text(inspect.cleandoc(fn.__doc__ or "")))
    blocks = [b for b in blocks if b.kind != "h1"]
    summary = MODULE_NAME_PREFIX.sub("", summary_of(module.__doc__ or "") or "")
    first_sentence = re.split(r"(?<=[.!?])\s+(?=[A-Z])", summary, maxsplit=1)[0].rstrip(".")
    first_sentence = first_sentence[:1].upper() + first_sentence[1:]
    title = f"{module_name} — {first_sentence}" if 0 < len(first_sentence) <= 70 else f"The {module_name} module"
    return Doc(f"module:{module_name}", title, tuple(blocks))
