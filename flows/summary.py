"""The Markdown summary of a pipeline run (a Prefect artifact and the CLI's closing report)."""

from __future__ import annotations

from danlu.config.project import Config
from danlu.tracking.mlflow_runs import tracking_uri

HEADLINE = {
    "curate": ["documents_in", "kept", "dropped", "quarantined"],
    "tokenizer": ["vocab_size", "train_tokens", "val_tokens", "val_bytes_per_token"],
    "pretrain": ["train_loss", "val_loss", "val_bits_per_byte", "tokens_per_s"],
    "sft": ["train_loss", "val_loss"],
    "evaluate": ["unigram_bpb", "base_bpb", "chat_bpb", "chat_format_rate", "chat_rouge_l"],
}


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 10 else f"{value:.4g}"


def summary_markdown(records: list[dict], run_id: str, cfg: Config) -> str:
    lines = ["# danlu pipeline run", "",
             f"MLflow parent run `{run_id}` in experiment `{cfg.tracking.experiment}` "
             f"(`{tracking_uri(cfg)}`)", "",
             "| stage | status | seconds (when it ran) | key metrics |", "|---|---|---|---|"]
    for r in records:
        keys = [k for k in HEADLINE.get(r["name"], []) if k in r["metrics"]]
        shown = ", ".join(f"{k} {_fmt(r['metrics'][k])}" for k in keys)
        status = "reused" if r["cached"] else "ran"
        lines.append(f"| {r['name']} | {status} | {r['seconds']:.1f} | {shown} |")
    models = [(name, v) for r in records for name, v in r["registered"].items()]
    if models:
        lines += ["", "## Registered models", ""]
        lines += [f"- `{name}` version {v} (alias `@{cfg.registry.alias}`)" for name, v in models]
    return "\n".join(lines) + "\n"
