"""The same ablation as DVC experiments: each run (variant x seed) is `dvc exp run --queue -n
<name>-<variant>-s<seed> -S ... pretrain` with exactly the overrides `danlu ablate` gives its
stages (the plan's), so DVC's run cache computes a stage that several runs share once, as the
stage workspaces do. `dvc queue start` runs them, `dvc exp show` lines them up, and
`danlu ablate --from-dvc` reads them back (`dvc exp show --json`) into the same report: the
held-out bits per byte and the data counts (task scores and curves need `danlu ablate` itself:
the DVC runs stop at pretrain)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

from danlu.ablation.outputs import AblationReport, write_report
from danlu.ablation.plan import AblationPlan, RunPlan, plan_ablation
from danlu.ablation.spec import AblationSpec
from danlu.errors import DataError

TARGET = "pretrain"  # dvc.yaml's stage: curate and tokenizer run before it as needed
HEADLINES = {s: f"outputs/{s}/headline.json" for s in ("curate", "tokenizer", "pretrain")}


def experiment_name(spec_name: str, run: RunPlan) -> str:
    """A git-ref-safe name: <ablation>-<variant>-s<seed>."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{spec_name}-{run.variant}-s{run.seed}")


def queue_command(plan: AblationPlan, run: RunPlan) -> list[str]:
    sets = [arg for override in run.overrides for arg in ("-S", override)]
    return ["dvc", "exp", "run", "--queue", "-n", experiment_name(plan.spec.name, run), *sets,
            TARGET]


def queue_experiments(spec: AblationSpec, params_path: str, overrides: list[str]) -> list[str]:
    """Queue every run; the lines say what was queued and what to run next."""
    plan = plan_ablation(spec, params_path, overrides)
    root = Path(params_path).resolve().parent
    lines = []
    for run in plan.runs:
        command = queue_command(plan, run)
        done = subprocess.run(command, cwd=root, capture_output=True, text=True)
        if done.returncode != 0:
            raise DataError(f"{shlex.join(command)} failed ({done.returncode}): "
                            f"{(done.stderr or done.stdout).strip()[-2000:]}")
        lines.append(f"queued {experiment_name(spec.name, run)}: {shlex.join(command)}")
    lines += ["run them: dvc queue start --jobs 1   (dvc queue status shows them)",
              "line them up: dvc exp show --only-changed",
              "the report: danlu ablate --from-dvc, with the same file and options"]
    return lines


def _experiments(show: list[dict]) -> dict[str, dict]:
    """`dvc exp show --json` -> {experiment name: {state, params, metrics, error}}."""
    found: dict[str, dict] = {}
    for baseline in show:
        for exp_range in baseline.get("experiments") or []:
            executor = exp_range.get("executor") or {}
            for state in exp_range.get("revs") or []:
                name = state.get("name") or exp_range.get("name")
                data = state.get("data") or {}
                found[name] = {
                    "state": executor.get("state") or ("failed" if state.get("error")
                                                       else "success"),
                    "error": (state.get("error") or {}).get("msg"),
                    "params": ((data.get("params") or {}).get("params.yaml") or {})
                    .get("data") or {},
                    "metrics": {path: (value or {}).get("data") or {}
                                for path, value in (data.get("metrics") or {}).items()}}
    return found


def run_from_experiment(plan: AblationPlan, run: RunPlan, exp: dict | None) -> dict:
    """A run's result (as danlu.ablation.score makes them) from its experiment's metrics."""
    from danlu.ablation.score import failed_result

    name = experiment_name(plan.spec.name, run)
    if exp is None:
        return failed_result(run, "dvc", f"experiment {name} not in `dvc exp show` "
                             "(not queued, or removed)", 0.0)
    if exp["state"] != "success":
        return failed_result(run, "dvc", f"experiment {name} is {exp['state']}"
                             + (f": {exp['error']}" if exp["error"] else ""), 0.0)
    m = {stage: exp["metrics"].get(path, {}) for stage, path in HEADLINES.items()}
    try:
        tokens = int(m["pretrain"]["train_tokens"])
        metrics = {"heldout.bits_per_byte": float(m["pretrain"]["heldout_bits_per_byte"]),
                   "tokens_seen": tokens,
                   "bytes_seen": round(tokens * float(m["tokenizer"]["val_bytes_per_token"])),
                   "documents_in": m["curate"]["documents_in"],
                   "documents_kept": m["curate"]["kept"],
                   "train_tokens_available": m["tokenizer"]["train_tokens"]}
    except KeyError as exc:
        return failed_result(run, "dvc", f"experiment {name}: metric {exc} missing from "
                             f"{', '.join(HEADLINES.values())}", 0.0)
    if tokens != plan.tokens:
        return failed_result(run, "dvc", f"experiment {name} trained on {tokens:,} tokens, "
                             f"not the ablation's {plan.tokens:,}", 0.0)
    return {"variant": run.variant, "seed": run.seed, "status": "ok", "failed_stage": None,
            "error": None, "metrics": metrics, "curve": [], "stages": {"dvc": name},
            "seconds": 0.0}


def report_from_dvc(spec: AblationSpec, params_path: str, overrides: list[str],
                    show: list[dict] | None = None) -> dict:
    """The report from the experiments' results (`show`: `dvc exp show --json`, read here
    when not given)."""
    plan = plan_ablation(spec, params_path, overrides)
    if show is None:
        root = Path(params_path).resolve().parent
        done = subprocess.run(["dvc", "exp", "show", "--json"], cwd=root, capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise DataError(f"dvc exp show --json failed: {done.stderr.strip()[-2000:]}")
        show = json.loads(done.stdout)
    experiments = _experiments(show)
    results = [run_from_experiment(plan, run, experiments.get(experiment_name(spec.name, run)))
               for run in plan.runs]
    report: AblationReport = write_report(plan, results)
    return {"folder": str(report.folder), "markdown": report.markdown, "failed": report.failed}
