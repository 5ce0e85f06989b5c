"""An ablation's outputs in `<outputs>/ablations/<name>/`: results.json (every run), table.csv
(variant x metric, mean, std, n), heldout_bpb.png (held-out bits per byte against tokens) and
report.md (the table, the verdicts in words, the failed runs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from danlu.ablation.plan import AblationPlan
from danlu.ablation.report import plot_curves, report_markdown, summarize, write_table_csv
from danlu.atomic import atomic_write_json, atomic_write_text

PRIMARY = "heldout.bits_per_byte"  # lower is better; tokenizer-independent
PLOT_FILE = "heldout_bpb.png"


@dataclass(frozen=True)
class AblationReport:
    folder: Path
    markdown: str
    failed: list[dict]  # the failed runs' results

    @property
    def files(self) -> list[Path]:
        return [p for p in (self.folder / n for n in ("report.md", "results.json", "table.csv",
                                                       PLOT_FILE)) if p.is_file()]


def write_report(plan: AblationPlan, results: list[dict]) -> AblationReport:
    spec = plan.spec
    variants = list(spec.variants)
    folder = plan.report_dir
    folder.mkdir(parents=True, exist_ok=True)
    order = {(v, s): i for i, (v, s) in enumerate((r.variant, r.seed) for r in plan.runs)}
    results = sorted(results, key=lambda r: order.get((r["variant"], r["seed"]), len(order)))
    atomic_write_json(folder / "results.json", {
        "name": spec.name, "tokens": plan.tokens, "steps": plan.steps, "seeds": spec.seeds,
        "heldout": plan.heldout, "tasks": plan.task_patterns, "baseline": spec.baseline_variant,
        "variants": spec.variants, "common": spec.common, "runs": results})
    write_table_csv(summarize(results, variants), variants, folder / "table.csv")
    plot = plot_curves(results, variants, folder / PLOT_FILE)
    if plot is None:
        (folder / PLOT_FILE).unlink(missing_ok=True)  # no stale plot of an earlier run
    markdown = report_markdown(spec.name, results, variants, primary=PRIMARY,
                               baseline=spec.baseline_variant, overrides=spec.variants,
                               tokens=plan.tokens, seeds=spec.seeds,
                               plot_file=PLOT_FILE if plot else None)
    atomic_write_text(folder / "report.md", markdown)
    return AblationReport(folder, markdown, [r for r in results if r["status"] != "ok"])
