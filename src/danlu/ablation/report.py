"""The report of a data ablation (`danlu ablate`): from one result per (variant, seed) run, the
mean ± sample standard deviation over seeds of every metric, the comparisons in words, a
Markdown report, a CSV table and a PNG of held-out bits per byte against training tokens.

A difference counts only when it is larger than the seeds' spread (the two standard deviations
added): at an ablation's small token counts, seed noise is as large as many curation effects.
matplotlib is imported inside plot_curves: it is slow to import and only the plot needs it."""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from danlu.atomic import atomic_write_bytes, atomic_write_text
from danlu.errors import ConfigError, DataError
from danlu.evaluate.markdown import escape_markdown, table
from danlu.evaluate.plots import DPI, PNG_METADATA

CORE = "core"
# Descriptive: shown beside the metrics, never compared.
COUNTS = ("tokens_seen", "bytes_seen", "documents_in", "documents_kept",
          "train_tokens_available")
LOWER_SUFFIXES = ("bits_per_byte", "perplexity", "loss")
LABELS = {"heldout.bits_per_byte": "held-out bits per byte"}
CURVE_TOKENS, CURVE_VALUE = "tokens", "heldout_bits_per_byte"
CSV_COLUMNS = ("variant", "metric", "mean", "std", "n")
FIGURE_INCHES = (6.4, 4.0)
BAND_ALPHA = 0.2
VERDICTS = ("helps", "hurts", "within spread", "not measurable")


def lower_is_better(name: str) -> bool:
    return name.endswith(LOWER_SUFFIXES)


def metric_label(name: str) -> str:
    return LABELS.get(name, name)


@dataclass(frozen=True)
class Stat:
    """A metric over a variant's finished seeds; std is the sample one (ddof=1), None for n < 2."""
    mean: float
    std: float | None
    n: int


@dataclass(frozen=True)
class Comparison:
    variant: str
    against: str
    metric: str
    difference: float  # variant mean - against mean; nan when a side has no value
    improvement: float  # positive = better: the sign flipped for lower-is-better metrics
    spread: float | None  # std(variant) + std(against); None if either has n < 2
    verdict: str  # one of VERDICTS


def summarize(results: Sequence[Mapping], variants: Sequence[str]) -> dict[str, dict[str, Stat]]:
    """variant -> metric -> Stat over the variant's ok runs; {} for a variant without one."""
    _check(results)
    summary: dict[str, dict[str, Stat]] = {}
    for variant in variants:
        values: dict[str, list[float]] = {}
        for run in _ok_runs(results, variant):
            for metric, value in (run.get("metrics") or {}).items():
                if value is not None:
                    values.setdefault(metric, []).append(_number(value, run, metric))
        summary[variant] = {metric: _stat(v) for metric, v in sorted(values.items())}
    return summary


def compare(summary: Mapping[str, Mapping[str, Stat]], variants: Sequence[str], metric: str,
            baseline: str) -> list[Comparison]:
    """Every variant against the baseline and, where the variant before it is not the baseline,
    against that one too: what the step from it adds."""
    if baseline not in variants:
        raise ConfigError(f"ablation baseline {baseline!r} is not one of the variants "
                          f"{list(variants)}")
    comparisons = []
    for index, variant in enumerate(variants):
        if variant == baseline:
            continue
        comparisons.append(_compare(summary, variant, baseline, metric))
        if index > 0 and variants[index - 1] != baseline:
            comparisons.append(_compare(summary, variant, variants[index - 1], metric))
    return comparisons


def sentence(c: Comparison, summary: Mapping[str, Mapping[str, Stat]]) -> str:
    """The comparison in plain English, ending in its verdict."""
    head = f"`{c.variant}` against `{c.against}`: {metric_label(c.metric)}"
    sides = {v: summary.get(v, {}).get(c.metric) for v in (c.variant, c.against)}
    missing = [v for v, stat in sides.items() if stat is None]
    if missing:
        why = " and ".join(f"`{v}` ({'no run finished' if not summary.get(v) else 'not recorded'})"
                           for v in missing)
        return f"{head}: no value for {why}: nothing to compare."
    mine, theirs = sides[c.variant], sides[c.against]
    text = f"{head} {_mean_std(mine)} against {_mean_std(theirs)}, {_change(c.improvement)}"
    if c.spread is None:
        single = [f"`{v}`" for v, stat in sides.items() if stat.n < 2]
        seeds = "one seed each" if len(single) == 2 else f"one seed of {single[0]}"
        return f"{text}, {seeds}: no spread to judge by; run more seeds."
    spread = _fmt(c.spread)
    if c.verdict == "helps":
        return f"{text}, more than the seeds' spread ({spread}): it helps."
    if c.verdict == "hurts":
        return f"{text}, more than the seeds' spread ({spread}): it hurts."
    if c.verdict == "within spread":
        return f"{text}, within the seeds' spread ({spread}): no measurable difference."
    return f"{text}: not a finite number, nothing to judge by."


def report_markdown(name: str, results: Sequence[Mapping], variants: Sequence[str], *,
                    primary: str, baseline: str, overrides: Mapping[str, Sequence[str]],
                    tokens: int, seeds: Sequence[int], plot_file: str | None) -> str:
    """The ablation's report: setup, table, verdicts, failed runs and the plot."""
    summary = summarize(results, variants)
    lines = [f"# Ablation: {escape_markdown(name)}", "",
             f"Every run trained on {tokens:,} tokens, with seeds "
             f"{', '.join(map(str, seeds))}; the baseline is `{baseline}`.", "",
             "## Variants", ""]
    for variant in variants:
        settings = ", ".join(f"`{s}`" for s in overrides.get(variant) or [])
        lines.append(f"- `{variant}`: {settings or 'params.yaml as is'}")
    columns = _columns(summary, primary)
    rows = [[f"`{v}`", _seeds_cell(results, v),
             *(_cell(results, summary, v, metric) for metric in columns)] for v in variants]
    lines += ["", "## Results", "",
              "Mean ± sample standard deviation over the seeds that finished; ↓ lower is "
              "better, ↑ higher is better; counts are means.", "",
              *table(["variant", "seeds finished", *map(_header, columns)],
                     ["---", "---:", *["---:"] * len(columns)], rows),
              "", "## Verdicts", "",
              "A difference counts only when it is larger than the seeds' spread: the two "
              "variants' standard deviations added.", ""]
    compared = [primary] + [CORE] * (CORE != primary and any(CORE in s for s in summary.values()))
    for metric in compared:
        lines += [f"- {sentence(c, summary)}" for c in compare(summary, variants, metric, baseline)]
    failed = [run for v in variants for run in _runs(results, v) if run.get("status") != "ok"]
    if failed:
        lines += ["", "## Failed runs", "",
                  *table(["variant", "seed", "stage", "error"], ["---"] * 4,
                         [[f"`{r['variant']}`", str(r["seed"]),
                           escape_markdown(str(r.get("failed_stage") or "unknown")),
                           escape_markdown(str(r.get("error") or "no message"))]
                          for r in failed])]
    if plot_file:
        label = "held-out bits per byte against training tokens"
        lines += ["", f"## {label.capitalize()}", "", f"![{label}]({plot_file})"]
    return "\n".join(lines) + "\n"


def write_table_csv(summary: Mapping[str, Mapping[str, Stat]], variants: Sequence[str],
                    path: Path) -> None:
    """One row per (variant, metric): mean, std (empty under 2 seeds) and n."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for variant in variants:
        for metric, stat in summary.get(variant, {}).items():
            writer.writerow([variant, metric, repr(stat.mean),
                             "" if stat.std is None else repr(stat.std), stat.n])
    atomic_write_text(Path(path), buffer.getvalue())


def plot_curves(results: Sequence[Mapping], variants: Sequence[str], path: Path) -> Path | None:
    """Held-out bits per byte against training tokens: each variant's mean over its seeds, a
    band of ± one std with 2 seeds or more. None, and nothing written, without a curve."""
    _check(results)
    curves = {v: curve for v in variants if (curve := _mean_curve(results, v)) is not None}
    if not curves:
        return None
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    with matplotlib.style.context("default"):  # whatever the user's matplotlibrc says
        # a Figure of its own, not pyplot's: no global backend switch, no figure kept open
        fig = Figure(figsize=FIGURE_INCHES, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        for variant, (tokens, means, stds, n) in curves.items():
            colour = f"C{variants.index(variant) % 10}"  # a variant keeps its colour
            if stds is not None:
                ax.fill_between(tokens, [m - s for m, s in zip(means, stds, strict=True)],
                                [m + s for m, s in zip(means, stds, strict=True)],
                                color=colour, alpha=BAND_ALPHA, linewidth=0)
            seeds = f"{n} seed{'s' * (n > 1)}"
            ax.plot(tokens, means, "o-", color=colour, linewidth=1.2, markersize=3,
                    label=f"{variant} ({seeds})".replace("$", r"\$"))
        ax.set_xlabel("training tokens")
        ax.set_ylabel("held-out bits per byte")
        ax.xaxis.set_major_formatter(EngFormatter())
        ax.legend()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata=PNG_METADATA)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def _check(results: Sequence[Mapping]) -> None:
    for index, run in enumerate(results):
        if not isinstance(run, Mapping):
            raise DataError(f"ablation result {index} is {type(run).__name__}, expected a "
                            "mapping with variant, seed, status")
        for key in ("variant", "seed"):
            if key not in run:
                raise DataError(f"ablation result {index} (keys {', '.join(sorted(run))}) has "
                                f"no {key!r}: every result names its variant and seed")


def _runs(results: Sequence[Mapping], variant: str) -> list[Mapping]:
    return [run for run in results if run["variant"] == variant]


def _ok_runs(results: Sequence[Mapping], variant: str) -> list[Mapping]:
    return [run for run in _runs(results, variant) if run.get("status") == "ok"]


def _number(value: object, run: Mapping, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise DataError(f"ablation result {run['variant']!r} seed {run['seed']}: {what} is "
                        f"{value!r}, expected a number") from err


def _stat(values: list[float]) -> Stat:
    return Stat(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None,
                len(values))


def _compare(summary: Mapping[str, Mapping[str, Stat]], variant: str, against: str,
             metric: str) -> Comparison:
    mine, theirs = summary.get(variant, {}).get(metric), summary.get(against, {}).get(metric)
    if mine is None or theirs is None:
        return Comparison(variant, against, metric, math.nan, math.nan, None, "not measurable")
    difference = mine.mean - theirs.mean
    improvement = -difference if lower_is_better(metric) else difference
    spread = None if mine.std is None or theirs.std is None else mine.std + theirs.std
    if spread is None or not math.isfinite(improvement) or not math.isfinite(spread):
        verdict = "not measurable"
    elif improvement > spread:
        verdict = "helps"
    elif improvement < -spread:
        verdict = "hurts"
    else:
        verdict = "within spread"
    return Comparison(variant, against, metric, difference, improvement, spread, verdict)


def _fmt(x: float) -> str:
    # three decimals read well for bits per byte and accuracies; tiny numbers keep two digits
    return f"{x:.3f}" if not math.isfinite(x) or round(abs(x), 3) >= 0.01 or x == 0 \
        else f"{x:.2g}"


def _mean_std(stat: Stat) -> str:
    return _fmt(stat.mean) if stat.std is None else f"{_fmt(stat.mean)} ± {_fmt(stat.std)}"


def _change(improvement: float) -> str:
    if improvement == 0:
        return "the same"
    return f"{_fmt(abs(improvement))} {'better' if improvement > 0 else 'worse'}"


def _columns(summary: Mapping[str, Mapping[str, Stat]], primary: str) -> list[str]:
    """The primary metric (always, so a failed variant shows), core, the others, the counts."""
    present = {metric for stats in summary.values() for metric in stats}
    first = [primary] + [CORE] * (CORE in present and CORE != primary)
    rest = sorted(present - set(COUNTS) - set(first))
    return first + rest + [m for m in COUNTS if m in present and m not in first]


def _header(metric: str) -> str:
    if metric in COUNTS:
        return f"`{metric}`"
    return f"`{metric}` {'↓' if lower_is_better(metric) else '↑'}"


def _seeds_cell(results: Sequence[Mapping], variant: str) -> str:
    return f"{len(_ok_runs(results, variant))} of {len(_runs(results, variant))}"


def _cell(results: Sequence[Mapping], summary: Mapping[str, Mapping[str, Stat]], variant: str,
          metric: str) -> str:
    if not _ok_runs(results, variant):
        return "failed" if _runs(results, variant) else "not run"
    stat = summary[variant].get(metric)
    if stat is None:
        return "—"
    return f"{stat.mean:,.0f}" if metric in COUNTS else _mean_std(stat)


def _mean_curve(results: Sequence[Mapping], variant: str):
    """(tokens, means, stds or None, seeds) at the token points every seed's curve has."""
    points = [_points(run) for run in _ok_runs(results, variant) if run.get("curve")]
    common = sorted(set.intersection(*(set(p) for p in points))) if points else []
    if not common:
        return None
    values = [[p[t] for p in points] for t in common]
    stds = [statistics.stdev(v) for v in values] if len(points) > 1 else None
    return common, [statistics.fmean(v) for v in values], stds, len(points)


def _points(run: Mapping) -> dict[float, float]:
    points = {}
    for index, point in enumerate(run["curve"]):
        if not isinstance(point, Mapping) or CURVE_TOKENS not in point or CURVE_VALUE not in point:
            raise DataError(f"ablation result {run['variant']!r} seed {run['seed']}: curve point "
                            f"{index} is {point!r}, expected {CURVE_TOKENS} and {CURVE_VALUE}")
        points[_number(point[CURVE_TOKENS], run, f"curve point {index}")] = _number(
            point[CURVE_VALUE], run, f"curve point {index}")
    return points
