"""The report card's figures as PNG: each training stage's loss curve, and each task's primary
metric for every model. DVC caches these files, so the same inputs give the same bytes: a fixed
size and resolution, matplotlib's default style whatever the user's matplotlibrc says, and no
metadata in the file.

matplotlib is imported inside the functions: it is slow to import and only the card needs it."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from danlu.atomic import atomic_write_bytes
from danlu.errors import DataError

DPI = 100
PANEL_INCHES = (4.5, 3.2)  # one stage's or one task's panel
COLUMNS = 3  # panels per row; more stages or tasks add rows
LEGEND_COLUMNS = 4  # models per row of the bar chart's legend
HEADROOM = 0.15  # above the highest bar: room for its value and the legend
# Log-y once the losses span an order of magnitude: otherwise the first steps squash the rest.
LOG_Y_RATIO = 10.0
# Without it matplotlib writes its version into the file, and an upgrade alone changes the bytes.
PNG_METADATA = {"Software": None}
CURVE_COLUMNS = ("step", "loss", "val_loss")  # as danlu.train.publish.write_curve writes them


@dataclass
class Curve:
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)


def read_curve(path: Path) -> Curve:
    """A stage's loss.csv: the train loss of every step, the val loss where it was measured."""
    curve = Curve()
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in CURVE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: no {', '.join(missing)} column; expected the columns "
                            f"{','.join(CURVE_COLUMNS)},lr as a trainer writes them")
        for line, row in enumerate(reader, start=2):
            try:
                step = int(row["step"])
                curve.steps.append(step)
                curve.losses.append(float(row["loss"]))
                if row["val_loss"]:
                    curve.val_losses.append(float(row["val_loss"]))
                    curve.val_steps.append(step)
            except (TypeError, ValueError) as err:
                raise DataError(f"{path}, line {line}: {err}; expected an integer step and "
                                "numeric losses") from err
    return curve


def plot_losses(curves: Mapping[str, Path], out_png: Path) -> Path | None:
    """One panel per stage (in the mapping's order): train loss as a line, val loss as
    markers. None when there is no curve to draw."""
    if not curves:
        return None
    read = {stage: read_curve(Path(path)) for stage, path in curves.items()}
    with _default_style():
        from matplotlib.ticker import MaxNLocator

        fig, axes = _panels(len(read))
        for ax, (stage, curve) in zip(axes, read.items(), strict=True):
            ax.set_title(_plain(stage))
            ax.set_xlabel("step")
            ax.set_ylabel("loss")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if not curve.steps:
                ax.text(0.5, 0.5, "no steps logged", transform=ax.transAxes, ha="center")
                continue
            ax.plot(curve.steps, curve.losses, color="C0", linewidth=1, label="train")
            if curve.val_steps:
                ax.plot(curve.val_steps, curve.val_losses, "o", color="C1", markersize=4,
                        label="val")
                ax.legend()
            if _log_helps(curve.losses + curve.val_losses):
                ax.set_yscale("log")
        return _save(fig, Path(out_png))


def plot_tasks(results: Mapping, out_png: Path) -> Path | None:
    """One panel per task: a bar of its primary metric for every model, chance as a dashed
    line, a baseline that is not one of the models (the unigram model) as a dotted one. None
    when no model has a score."""
    models = [m["label"] for m in results.get("models", [])]
    tasks = [t for t in results.get("tasks", [])
             if any(_score(t, label) is not None for label in models)]
    if not tasks:
        return None
    with _default_style():
        from matplotlib.patches import Patch

        # one colour per model, the same in every panel, so that one legend serves them all
        colours = {label: f"C{i % 10}" for i, label in enumerate(models)}
        fig, axes = _panels(len(tasks), legend_rows=math.ceil(len(models) / LEGEND_COLUMNS))
        for ax, task in zip(axes, tasks, strict=True):
            for x, label in enumerate(models):
                value = _score(task, label)
                if value is not None:
                    bars = ax.bar(x, value, width=0.8, color=colours[label])
                    ax.bar_label(bars, fmt="{:.4g}", fontsize=8)
            ax.set_xticks([])
            ax.margins(y=HEADROOM)
            ax.set_xlim(-0.6, len(models) - 0.4)  # a model without a score leaves its gap
            lines = []
            if task.get("chance") is not None:
                lines.append(ax.axhline(task["chance"], linestyle="--", color="0.3",
                                        linewidth=1, label=f"chance {task['chance']:.4g}"))
            for label in task.get("metrics", {}):
                value = _score(task, label)
                if label not in models and value is not None:
                    lines.append(ax.axhline(value, linestyle=":", color="0.5", linewidth=1.5,
                                            label=_plain(f"{label} {value:.4g}")))
            if lines:
                ax.legend(handles=lines, fontsize=8)
            note = "\n(lower is better)" if task.get("lower_is_better") else ""
            ax.set_title(_plain(f"{task['name']}: {task['primary']}{note}"), fontsize=10)
        fig.legend(handles=[Patch(color=colours[m], label=_plain(m)) for m in models],
                   loc="outside lower center", ncols=min(len(models), LEGEND_COLUMNS))
        return _save(fig, Path(out_png))


def _score(task: Mapping, label: str) -> float | None:
    value = task.get("metrics", {}).get(label, {}).get(task.get("primary"))
    return None if value is None or math.isnan(value) else float(value)


def _log_helps(values: list[float]) -> bool:
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) >= LOG_Y_RATIO


def _plain(text: str) -> str:
    """Text as it reads: matplotlib takes a pair of $ for mathtext."""
    return str(text).replace("$", r"\$")


@contextmanager
def _default_style() -> Iterator[None]:
    import matplotlib.style

    with matplotlib.style.context("default"):
        yield


def _panels(count: int, legend_rows: int = 0):
    """A figure of `count` panels, COLUMNS to a row, and room below for a legend's rows."""
    from matplotlib.figure import Figure

    columns = min(count, COLUMNS)
    rows = math.ceil(count / columns)
    width, height = PANEL_INCHES
    # a Figure of its own, not pyplot's: no global backend switch, no figure kept open
    fig = Figure(figsize=(width * columns, height * rows + 0.3 * legend_rows), dpi=DPI,
                 layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel().tolist()
    for ax in axes[count:]:
        fig.delaxes(ax)
    return fig, axes[:count]


def _save(fig, out_png: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata=PNG_METADATA)
    atomic_write_bytes(out_png, buffer.getvalue())
    return out_png
