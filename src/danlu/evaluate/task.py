"""An evaluation task: a small YAML file beside its data, read into items a scorer can use.

    name: sst2                      # default: the file's name
    kind: classify                  # perplexity | choice | classify | generate
    data: ../sst2/dev.tsv           # relative to the YAML file; .jsonl, .csv, .tsv (+ .gz),
                                    # or {field: file} for line-aligned text files
    context: "{content}\\nSentiment:" # a template over the record's fields ({{ }} for a brace)
    label: label                    # classify: the field holding the label ...
    labels: {"0": negative, "1": positive}   # ... and each label's word

Templates are Python format strings over the record. Kinds and their keys:
- perplexity: `text` (template), `group` (a field to break the metrics down by, e.g. source)
- choice: `context`, `choices` (field: a list), `gold` (field: an index or the gold text)
- classify: `context`, `label`, `labels`
- generate: `prompt`, `reference` (field: a string or a list), `chat` (as a user turn in the
  model's chat template), `max_new_tokens`, `stop`, `temperature`, `metrics`
Common: `limit` (first N items), `num_fewshot`, `fewshot_data` (default: the task's own other
items), `fewshot_separator`, `delimiter` (between a context and its answer), `columns` and
`header` for CSV/TSV files, `format` (jsonl, csv, tsv) for a file whose suffix does not say.
"""

from __future__ import annotations

import glob
import hashlib
import os
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import Field, TypeAdapter, ValidationError

from danlu.config.section import Section
from danlu.errors import ConfigError, DataError
from danlu.evaluate.decontaminate import record_strings
from danlu.evaluate.task_data import read_records

# `${VAR}` or `${VAR:-default}` in a data path: shared benchmark folders differ per machine.
ENV_REFERENCE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


class _Spec(Section):
    name: str | None = None
    data: str | dict[str, str]
    limit: int | None = Field(default=None, ge=1)
    num_fewshot: int = Field(default=0, ge=0)
    fewshot_data: str | dict[str, str] | None = None
    fewshot_separator: str = "\n\n"
    delimiter: str = " "
    format: Literal["jsonl", "csv", "tsv"] | None = None  # default: from the file's suffix
    columns: list[str] | None = None
    header: bool = True
    seed: int = 1234  # few-shot draws


class PerplexitySpec(_Spec):
    kind: Literal["perplexity"]
    text: str = "{text}"
    group: str | None = None


class ChoiceSpec(_Spec):
    kind: Literal["choice"]
    context: str
    choices: str
    gold: str


class ClassifySpec(_Spec):
    kind: Literal["classify"]
    context: str
    label: str
    labels: dict[str, str] = Field(min_length=2)


class GenerateSpec(_Spec):
    kind: Literal["generate"]
    prompt: str
    reference: str
    chat: bool = False
    max_new_tokens: int = Field(default=64, ge=1)
    stop: list[str] = Field(default_factory=list)
    temperature: float = Field(default=0.0, ge=0.0)
    metrics: list[Literal["bleu", "chrf", "rouge_l", "exact_match", "token_f1"]] = Field(
        default_factory=lambda: ["bleu", "chrf", "rouge_l"], min_length=1)
    bleu_tokenize: str = "13a"


TaskSpec = Annotated[Union[PerplexitySpec, ChoiceSpec, ClassifySpec, GenerateSpec],
                     Field(discriminator="kind")]


@dataclass(frozen=True)
class Item:
    """One thing to score. `context` is the whole prompt (few-shot examples included); choice
    and classify items have `choices` (without the delimiter) and `gold`; generate items have
    `references`; perplexity items have `context` only (the text) and maybe a `group`."""
    id: str
    context: str
    choices: tuple[str, ...] = ()
    gold: int = -1
    references: tuple[str, ...] = ()
    group: str | None = None
    shots: tuple[tuple[str, str], ...] = ()  # (context, answer) pairs shown before it
    texts: tuple[str, ...] = ()  # the record's own strings: what contamination is checked on


@dataclass(frozen=True)
class Task:
    name: str
    kind: str
    path: Path
    spec: PerplexitySpec | ChoiceSpec | ClassifySpec | GenerateSpec
    items: list[Item] = field(repr=False)

    @property
    def chance(self) -> float | None:
        """The accuracy to beat: a uniform guess for multiple choice (the mean of 1/choices),
        the most common label for classification (on SMS spam, always "ham" is right 87% of
        the time, far above a coin)."""
        if not self.items or self.kind not in ("choice", "classify"):
            return None
        return baseline_accuracy(self.kind, self.items)


def baseline_accuracy(kind: str, items: list[Item]) -> float:
    """See Task.chance."""
    if kind == "classify":
        return max(Counter(i.gold for i in items).values()) / len(items)
    return sum(1 / len(i.choices) for i in items) / len(items)


def _expand(value: str, where: Path) -> Path:
    def repl(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise ConfigError(f"{where}: data path names ${{{name}}}, which is not set")
        return default

    path = Path(ENV_REFERENCE.sub(repl, value)).expanduser()
    return path if path.is_absolute() else where.parent / path


def _data_paths(data: str | dict[str, str], where: Path) -> Path | dict[str, Path]:
    if isinstance(data, dict):
        return {name: _expand(value, where) for name, value in data.items()}
    return _expand(data, where)


def _fill(template: str, record: dict, where: str) -> str:
    try:
        return template.format_map(record)
    except KeyError as exc:
        raise DataError(f"{where}: the template {template!r} names field {exc.args[0]!r}, "
                        f"which the record lacks (fields: {', '.join(record)})") from None
    except (ValueError, IndexError, AttributeError) as exc:
        raise ConfigError(f"{where}: template {template!r}: {exc} (a template names fields "
                          "as {field}; write {{ and }} for a literal brace)") from None


def _field(record: dict, name: str, where: str):
    if name not in record:
        raise DataError(f"{where}: no field {name!r} (fields: {', '.join(record)})")
    return record[name]


def _choice_answer(spec: ChoiceSpec, record: dict, where: str) -> tuple[tuple[str, ...], int]:
    choices = _field(record, spec.choices, where)
    if not isinstance(choices, list) or len(choices) < 2 or \
            not all(isinstance(c, str) for c in choices):
        raise DataError(f"{where}: field {spec.choices!r} must be a list of at least two strings")
    gold = _field(record, spec.gold, where)
    if isinstance(gold, str) and gold in choices:
        gold = choices.index(gold)  # the answer's text, even when it reads as a number
    elif isinstance(gold, str) and not gold.lstrip("-").isdigit():
        raise DataError(f"{where}: gold {gold!r} is not one of the choices")
    try:
        gold = int(gold)
    except (TypeError, ValueError):
        raise DataError(f"{where}: gold {gold!r} is neither an index nor a choice") from None
    if not 0 <= gold < len(choices):
        raise DataError(f"{where}: gold index {gold} is outside the {len(choices)} choices")
    return tuple(choices), gold


def _classify_answer(spec: ClassifySpec, record: dict, where: str) -> tuple[tuple[str, ...], int]:
    label = str(_field(record, spec.label, where)).strip()
    if label not in spec.labels:
        raise DataError(f"{where}: label {label!r} is not one of {', '.join(spec.labels)}")
    return tuple(spec.labels.values()), list(spec.labels).index(label)


def _references(spec: GenerateSpec, record: dict, where: str) -> tuple[str, ...]:
    value = _field(record, spec.reference, where)
    refs = [value] if isinstance(value, str) else value
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise DataError(f"{where}: field {spec.reference!r} must be a string or a list of them")
    return tuple(refs)


def _parts(spec, record: dict, where: str) -> dict:
    """An item's fields from one record (no few-shot yet)."""
    if isinstance(spec, PerplexitySpec):
        group = str(_field(record, spec.group, where)) if spec.group else None
        return {"context": _fill(spec.text, record, where), "group": group}
    if isinstance(spec, ChoiceSpec):
        choices, gold = _choice_answer(spec, record, where)
        return {"context": _fill(spec.context, record, where), "choices": choices, "gold": gold}
    if isinstance(spec, ClassifySpec):
        choices, gold = _classify_answer(spec, record, where)
        return {"context": _fill(spec.context, record, where), "choices": choices, "gold": gold}
    return {"context": _fill(spec.prompt, record, where),
            "references": _references(spec, record, where)}


def _answer(parts: dict) -> str:
    """What a few-shot example shows after its context: the gold choice or the reference."""
    if parts.get("choices"):
        return parts["choices"][parts["gold"]]
    return parts["references"][0]


def _draw(seed: int, index: int, pool_size: int, k: int, own: int | None) -> list[int]:
    """k example indices for item `index`, never the item itself; the same on every machine."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    picked = [i for i in rng.sample(range(pool_size), min(pool_size, k + 1)) if i != own]
    return picked[:k]


def load_task(path: Path, *, limit: int | None = None) -> Task:
    """Read a task file and its data into items; errors name the file and the record.
    `limit` (first N items) overrides the file's own."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: task file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of task settings")
    labels = raw.get("labels")
    if isinstance(labels, dict):
        if any(isinstance(v, bool) for pair in labels.items() for v in pair):
            raise ConfigError(f"{path}: labels: quote each label and word (YAML reads yes, no, "
                              "on and off unquoted as true and false)")
        # a numeric label (0: negative) means the text the data holds
        raw = {**raw, "labels": {str(k): v if isinstance(v, str) else str(v)
                                 for k, v in labels.items()}}
    try:
        spec = TypeAdapter(TaskSpec).validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None
    if spec.num_fewshot and spec.kind == "perplexity":
        raise ConfigError(f"{path}: a perplexity task takes no few-shot examples")
    records = read_records(_data_paths(spec.data, path), columns=spec.columns,
                           header=spec.header, kind=spec.format)
    if not records:
        raise DataError(f"{path}: the task's data holds no records")
    # every record is read and checked, and is a few-shot example: a limit only picks the
    # items, so the first N of a task get the same prompts as in a full run
    parts = [_parts(spec, record, where) for where, record in records]
    pool, own_pool = parts, True
    if spec.fewshot_data is not None:
        shots = read_records(_data_paths(spec.fewshot_data, path), columns=spec.columns,
                             header=spec.header, kind=spec.format)
        pool, own_pool = [_parts(spec, r, where) for where, r in shots], False
    if spec.num_fewshot and len(pool) < spec.num_fewshot + own_pool:
        raise ConfigError(f"{path}: num_fewshot {spec.num_fewshot} needs more examples than "
                          f"the {len(pool)} there are")
    items = []
    count = min(len(records), limit or spec.limit or len(records))
    for index, ((where, record), p) in enumerate(zip(records[:count], parts, strict=False)):
        picked = _draw(spec.seed, index, len(pool), spec.num_fewshot,
                       index if own_pool else None) if spec.num_fewshot else []
        shots = tuple((pool[i]["context"], _answer(pool[i])) for i in picked)
        prefix = "".join(c + spec.delimiter + a + spec.fewshot_separator for c, a in shots)
        item_id = str(record.get("id", where.rsplit(":", 1)[-1]))
        items.append(Item(id=item_id, context=prefix + p["context"],
                          choices=p.get("choices", ()), gold=p.get("gold", -1),
                          references=p.get("references", ()), group=p.get("group"),
                          shots=shots, texts=tuple(record_strings(record))))
    name = spec.name or path.stem
    if not re.fullmatch(r"[\w-]+", name):
        raise ConfigError(f"{path}: task name {name!r}: use letters, digits, - and _ only "
                          "(it becomes part of metric names)")
    return Task(name=name, kind=spec.kind, path=path,
                spec=spec, items=items)


def task_files(patterns: list[str], root: Path) -> list[Path]:
    """The task files `evaluate.tasks` names (paths or globs from the project root), in order;
    a pattern that matches nothing is an error rather than a silently smaller suite."""
    found: list[Path] = []
    for pattern in patterns:
        matches = [Path(m) for m in sorted(glob.glob(str(root / pattern)))]
        matches = [m for m in matches if m.is_file()]
        if not matches:
            raise ConfigError(f"evaluate.tasks: {pattern!r} matches no task file under {root}")
        found += [m for m in matches if m not in found]
    return found


def task_folders(patterns: list[str], root: Path) -> list[Path]:
    """What a change check can declare without reading the task files: each glob's folder
    (its part before the first wildcard) or the named file. Data a task reads from outside
    these folders (a shared benchmark) is not watched."""
    found: list[Path] = []
    for pattern in patterns:
        parts = Path(pattern).parts
        static = [p for p in parts[: next((i for i, p in enumerate(parts)
                                            if any(c in p for c in "*?[")), len(parts))]]
        path = root / Path(*static) if static else root
        if path not in found:
            found.append(path)
    return found
