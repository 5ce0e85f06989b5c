"""The Markdown summary of a pipeline run (a Prefect artifact and the CLI's closing report)."""

from __future__ import annotations

from danlu.config.project import Config
from danlu.pipeline import STAGES
from danlu.tracking.links import experiment_url, run_url
from danlu.tracking.mlflow_runs import tracking_uri


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 10 else f"{value:.4g}"


def _gated(records: list[dict], name: str, cfg: Config) -> str:
    """What the evaluate stage's champion gate decided for the name's new version, if it ran."""
    metrics = next((r["metrics"] for r in records if r["name"] == "evaluate"), {})
    promoted = metrics.get(f"gate.{name}.promoted")
    if promoted is None:
        return ""
    alias = f"`@{cfg.registry.champion_alias}`"
    return f"; promoted to {alias}" if promoted else f"; not promoted to {alias} (see the report card)"


def summary_markdown(records: list[dict], run_id: str, cfg: Config, experiment_id: str, *,
                     failure: dict | None = None, not_run: list[str] = ()) -> str:
    """`failure`: {"stage", "error"} of the stage that failed; `not_run`: the chosen stages
    after it."""
    lines = ["# danlu pipeline run", ""]
    if failure:
        lines += [f"**Failed** in stage `{failure['stage']}`: {failure['error']}", "",
                  "Never ran: " + (", ".join(f"`{n}`" for n in not_run) or "none"), ""]
    lines += [f"MLflow: [parent run `{run_id}`]({run_url(cfg, experiment_id, run_id)}) in "
              f"experiment [`{cfg.tracking.experiment}`]({experiment_url(cfg, experiment_id)}) "
              f"(`{tracking_uri(cfg)}`)", "",
              "| stage | status | seconds (when it ran) | key metrics | MLflow run |",
              "|---|---|---|---|---|"]
    for r in records:
        keys = [k for k in STAGES[r["name"]].headline if k in r["metrics"]]
        shown = ", ".join(f"{k} {_fmt(r['metrics'][k])}" for k in keys)
        status = "reused" if r["cached"] else "ran"
        # a reused stage's run is the one that made its outputs
        run = f"[{r['run_id'][:8]}]({run_url(cfg, experiment_id, r['run_id'])})" \
            if r["run_id"] else ""
        lines.append(f"| {r['name']} | {status} | {r['seconds']:.1f} | {shown} | {run} |")
    if failure:
        lines.append(f"| {failure['stage']} | **failed** | | | |")
    lines += [f"| {name} | not run | | | |" for name in not_run]
    models = [(r["name"], name, v) for r in records for name, v in r["registered"].items()]
    if models:
        last = {name: v for _, name, v in models}  # the alias ends on a name's last version
        lines += ["", "## Registered models", ""]
        lines += [f"- `{name}` version {v} from {stage}"
                  + (f" (alias `@{cfg.registry.alias}`{_gated(records, name, cfg)})"
                     if last[name] == v else "")
                  for stage, name, v in models]
    return "\n".join(lines) + "\n"
