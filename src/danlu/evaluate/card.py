"""The report card, after nanochat's report.md: where the run happened, one summary table of every
task's primary metric per model, each task's full metrics, decontamination, the champion gate's
decisions in words, every stage's time, cost and headline numbers, and the plots (plots.py).

`render_card` only formats what it is given: results.json as the suite writes it, the stage
records of outputs/.danlu, and `environment()`; it reads no file and logs nothing."""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
import subprocess
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from danlu.evaluate.markdown import escape_markdown, table as _table

NONE = "—"  # a cell with no value
KIND_TITLES = {"perplexity": "Language modelling", "choice": "Multiple choice",
               "classify": "Classification", "generate": "Generation"}
# The pipeline rewrites dvc.lock after every stage it runs: that change is the run's own, not
# code that differs from the commit.
OWN_CHANGES = ("dvc.lock",)


# ---- the environment -------------------------------------------------------------------------

def environment(root: Path | None = None) -> dict:
    """Where and with what the run happened, as JSON-ready values: the git commit of the project
    at `root` (the working directory, as for git itself, when None), software versions,
    hardware and the date (UTC)."""
    import torch  # the evaluate stage has it loaded already; versions and GPUs are its to tell

    commit, dirty = _git_state(Path(root) if root is not None else Path.cwd())
    cuda = torch.cuda.is_available()
    devices = range(torch.cuda.device_count()) if cuda else range(0)
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": importlib.metadata.version("transformers"),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "gpus": [torch.cuda.get_device_name(i) for i in devices],
        "gpu_memory_gib": round(sum(torch.cuda.get_device_properties(i).total_memory
                                    for i in devices) / 2**30, 1),
        "cuda": torch.version.cuda if cuda else None,
    }


def _git_state(root: Path) -> tuple[str | None, bool | None]:
    """(commit, uncommitted changes) of the checkout holding `root`; (None, None) outside one."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        changes = git("status", "--porcelain", "--", ".",
                      *(f":(exclude){path}" for path in OWN_CHANGES))
    except (OSError, subprocess.CalledProcessError):
        # no git installed, or an unpacked archive rather than a checkout: the version is unknown
        return None, None
    return commit, bool(changes)


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    # macOS, or an ARM Linux whose cpuinfo names no model
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (AttributeError, ValueError, OSError):
        return None  # not a POSIX system (Windows has no sysconf)


# ---- formatting ------------------------------------------------------------------------------

def _text(value: object) -> str:
    """Escaped for Markdown and never cut short: labels and names are read in full."""
    text = str(value)
    return escape_markdown(text, max_chars=len(text))


def _number(value: object) -> str:
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)  # counts: tokens, bytes, items
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) >= 100:
        return str(int(value))  # a count that went through a float (stage records)
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.2f}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _image(alt: str, file_name: str) -> str:
    return f"![{_text(alt)}]({quote(file_name)})"


# ---- sections --------------------------------------------------------------------------------

def _environment_section(env: Mapping) -> list[str]:
    rows = []
    if "date" in env:
        rows.append(["date", _text(env["date"])])
    if "git_commit" in env:
        commit = env["git_commit"]
        state = {True: " (uncommitted changes)", False: "", None: ""}[env.get("git_dirty")]
        rows.append(["git commit",
                     f"{commit}{state}" if commit else "unknown (not a git checkout)"])
    for key, name in [("python", "Python"), ("torch", "torch"), ("transformers", "transformers"),
                      ("platform", "platform"), ("cpu", "CPU")]:
        if key in env:
            rows.append([name, _text(env[key])])
    if "cpu_count" in env:
        rows.append(["CPU count", _number(env["cpu_count"])])
    if env.get("ram_gib") is not None:
        rows.append(["RAM", f"{env['ram_gib']} GiB"])
    if "gpus" in env:
        gpus = ", ".join(f"{n} × {_text(name)}" for name, n in Counter(env["gpus"]).items())
        memory = f" ({env['gpu_memory_gib']} GiB)" if env.get("gpu_memory_gib") else ""
        rows.append(["GPUs", gpus + memory if gpus else "none"])
    if env.get("cuda"):
        rows.append(["CUDA", _text(env["cuda"])])
    shown = {"date", "git_commit", "git_dirty", "python", "torch", "transformers", "platform",
             "cpu", "cpu_count", "ram_gib", "gpus", "gpu_memory_gib", "cuda"}
    rows += [[_text(key), _text(value)] for key, value in env.items() if key not in shown]
    return ["## Environment", "", *_table(["", "value"], ["---", "---"], rows)]


def _models_section(models: Sequence[Mapping]) -> list[str]:
    rows = [[_text(m["label"]), _text(m.get("role") or NONE), _text(m.get("source") or NONE),
             _text(m.get("registered") or NONE)] for m in models]
    return ["## Models", "",
            *_table(["model", "role", "source", "registered"], ["---"] * 4, rows)]


def _metric_name(task: Mapping, metric: str) -> str:
    """A metric's name, with its sacreBLEU signature beside it when it has one."""
    signature = task.get("signatures", {}).get(metric)
    return _text(f"{metric} ({signature})" if signature else metric)


def _scores(values: list[float | None], lower_is_better: bool) -> list[str]:
    """The cells of one row, the best in bold when there are at least two to compare."""
    present = [v for v in values if v is not None and math.isfinite(v)]
    best = (min if lower_is_better else max)(present) if len(present) >= 2 else None
    return [f"**{_number(v)}**" if v is not None and v == best else _number(v) for v in values]


def _summary_section(results: Mapping, labels: list[str], tasks_png: str | None,
                     stage_seconds: float | None, cost: str | None) -> list[str]:
    rows = []
    for task in results.get("tasks", []):
        metric = task["primary"]
        lower = bool(task.get("lower_is_better"))
        values = [task["metrics"].get(label, {}).get(metric) for label in labels]
        name = _metric_name(task, metric) + (", lower is better" if lower else "")
        rows.append([_text(task["name"]), name, _number(task.get("chance")),
                     *_scores(values, lower)])
    aggregate = results.get("aggregate", {})
    for metric in dict.fromkeys(m for label in labels for m in aggregate.get(label, {})):
        values = [aggregate.get(label, {}).get(metric) for label in labels]
        rows.append(["aggregate", _text(metric), NONE, *_scores(values, False)])
    if not rows:
        return []
    lines = ["## Summary", "",
             *_table(["task", "metric", "chance", *map(_text, labels)],
                     ["---", "---", "---:", *["---:"] * len(labels)], rows), "",
             "Each task's primary metric, the best model in bold; chance is the score of a "
             "uniform guess (multiple choice) or of always the most common label "
             "(classification)."]
    if aggregate:
        lines[-1] += (" Aggregate rows average the choice and classify tasks' accuracy "
                      "centered on chance (0 at chance, 1 perfect).")
    if stage_seconds is not None:
        lines += ["", f"The stages took {_duration(stage_seconds)}"
                  + (f"; cost {cost}." if cost else ".")]
    if tasks_png:
        lines += ["", _image("each task's primary metric per model", tasks_png)]
    return lines


def _task_table(task: Mapping, labels: list[str]) -> list[str]:
    """Rows: every metric of the task; columns: the models, then the baselines it has."""
    columns = labels + [label for label in task["metrics"] if label not in labels]
    metrics = dict.fromkeys(m for label in columns for m in task["metrics"].get(label, {}))
    lower = bool(task.get("lower_is_better"))
    rows = []
    for metric in metrics:
        values = [task["metrics"].get(label, {}).get(metric) for label in columns]
        name = _metric_name(task, metric)
        if metric == task["primary"]:
            rows.append([f"**{name}**", *_scores(values, lower)])
        else:
            rows.append([name, *map(_number, values)])
    return _table(["metric", *map(_text, columns)], ["---", *["---:"] * len(columns)], rows)


def _task_sections(results: Mapping, labels: list[str]) -> list[str]:
    tasks = results.get("tasks", [])
    kinds = [k for k in KIND_TITLES if any(t["kind"] == k for t in tasks)]
    kinds += list(dict.fromkeys(t["kind"] for t in tasks if t["kind"] not in KIND_TITLES))
    lines: list[str] = []
    for kind in kinds:
        lines += [f"## {KIND_TITLES.get(kind) or _text(kind)}", ""]
        for task in (t for t in tasks if t["kind"] == kind):
            about = [f"Primary metric {_text(task['primary'])} ("
                     + ("lower" if task.get("lower_is_better") else "higher") + " is better)"]
            if task.get("chance") is not None:
                about.append(f"chance {_number(task['chance'])}")
            if task.get("num_fewshot"):
                about.append(f"{task['num_fewshot']}-shot")
            if "scored" in task:
                about.append(f"{task['scored']} items scored")
            lines += [f"### {_text(task['name'])}", "", "; ".join(about) + ".", "",
                      *_task_table(task, labels), ""]
    return lines[:-1]


def _decontamination_section(tasks: Sequence[Mapping]) -> list[str]:
    checked = [t for t in tasks if "dirty" in t]
    if not checked:
        return []
    rows = [[_text(t["name"]), _number(t.get("items")), _number(t["dirty"]),
             _number(t.get("scored")), _number(t.get("clean_only"))] for t in checked]
    return ["## Decontamination", "",
            *_table(["task", "items", "dirty", "scored", "clean only"],
                    ["---", "---:", "---:", "---:", "---"], rows), "",
            "Dirty items overlap the training data; a task scored clean only leaves them out."]


def _gate_sentence(d: Mapping) -> str:
    metric = _text(d.get("metric", "score"))
    candidate = f"version {_text(d['candidate'])}" if d.get("candidate") else "the candidate"
    champion = f"version {_text(d['champion'])}" if d.get("champion") else None
    scores = f"{metric} {_number(d.get('candidate_score'))}"
    if champion:
        scores += f" against {_number(d.get('champion_score'))}"
    if d.get("champion") and d.get("champion") == d.get("candidate"):
        verdict = f"{candidate} already is the champion; nothing moved"
    elif d.get("promoted"):
        verdict = (f"{candidate} promoted to champion, replacing {champion}" if champion
                   else f"{candidate} promoted to champion; there was none before")
    else:
        verdict = (f"{candidate} not promoted; {champion} stays champion" if champion
                   else f"{candidate} not promoted; there is no champion yet")
    reason = f" Reason: {_text(d['reason'])}" if d.get("reason") else ""
    return f"- **{_text(d['name'])}**: {verdict} ({scores}).{reason}"


def _samples_section(samples: Mapping[str, Sequence[Mapping]]) -> list[str]:
    """The first generations of each generation task, per model, beside their references."""
    if not any(samples.values()):
        return []
    lines = ["## Samples", ""]
    for title, rows in samples.items():
        cells = [[escape_markdown(r["prompt"]), escape_markdown(r["prediction"]),
                  escape_markdown(r["references"][0] if r["references"] else "")]
                 for r in rows]
        lines += [f"### {_text(title)}", "",
                  *_table(["prompt", "generated", "reference"], ["---"] * 3, cells), ""]
    return lines[:-1]


def _gate_section(gate: Sequence[Mapping]) -> list[str]:
    if not gate:
        return []
    return ["## Champion gate", "", *map(_gate_sentence, gate)]


def _stages_section(records: list[Mapping], headlines: Mapping[str, Sequence[str]] | None,
                    cost: str | None, curves_png: str | None) -> list[str]:
    if not records and not curves_png:
        return []
    lines = ["## Stages", ""]
    if records:
        header = ["stage", "run", "time", "registered", "MLflow run"]
        rows = []
        for r in records:
            registered = ", ".join(f"{name} v{version}"
                                   for name, version in r.get("registered", {}).items())
            row = [_text(r["name"]), "reused" if r.get("cached") else "ran",
                   _duration(r["seconds"]), _text(registered or NONE),
                   _text(r.get("run_id") or NONE)]
            if headlines is not None:
                names = [m for m in headlines.get(r["name"], ()) if m in r.get("metrics", {})]
                row.append("<br>".join(f"{_text(m)} {_number(r['metrics'][m])}" for m in names)
                           or NONE)
            rows.append(row)
        if headlines is not None:
            header.append("headline numbers")
        total = sum(r["seconds"] for r in records)
        lines += [*_table(header, ["---"] * len(header), rows), "",
                  f"Total: {_duration(total)} ({total:.0f} s)"
                  + (f"; cost {cost}." if cost else "."),
                  "", "A reused stage's time is that of the run that made its outputs."]
    if curves_png:
        lines += ["", _image("loss curves of the training stages", curves_png)]
    return lines


def _cost(seconds: float, cost_per_hour: float | None) -> str | None:
    if cost_per_hour is None:
        return None
    return f"{seconds / 3600 * cost_per_hour:.2f} at {cost_per_hour:g} per machine hour"


def render_card(results: Mapping, stages: Sequence[Mapping], curves_png: str | None,
                tasks_png: str | None, env: Mapping, cost_per_hour: float | None, *,
                headlines: Mapping[str, Sequence[str]] | None = None) -> str:
    """The whole card. `stages`: outputs/.danlu/<stage>.json contents (or their "record"), in
    pipeline order; `headlines`: stage name -> its headline metric names (the keys of its
    headline.json); the images are file names relative to the card."""
    labels = [m["label"] for m in results.get("models", [])]
    records = [s.get("record", s) for s in stages]
    total = sum(r["seconds"] for r in records) if records else None
    cost = _cost(total, cost_per_hour) if total is not None else None
    sections = [
        ["# danlu report card"],
        _environment_section(env),
        _models_section(results.get("models", [])) if labels else [],
        _summary_section(results, labels, tasks_png, total, cost),
        _task_sections(results, labels),
        _samples_section(results.get("samples", {})),
        _decontamination_section(results.get("tasks", [])),
        _gate_section(results.get("gate", [])),
        _stages_section(records, headlines, cost, curves_png),
    ]
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"
