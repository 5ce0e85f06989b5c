"""The `danlu` command: `danlu run` runs the whole pipeline as a Prefect flow; one command per
stage runs that stage alone (DVC's stage commands call these)."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from danlu.errors import ConfigError, DanluError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="danlu: from raw web crawl to a trained, evaluated, registered model.")

Overrides = Annotated[Optional[list[str]], typer.Option(
    "--set-param", "-S", help="Override a params.yaml key, e.g. -S train.max_steps=50")]
ParamsFile = Annotated[Optional[Path], typer.Option(
    "--params", help="params.yaml to read (default: the one in this project)")]
Force = Annotated[bool, typer.Option("--force", help="Run even if inputs are unchanged")]
NoTrack = Annotated[bool, typer.Option("--no-track", help="Do not log to MLflow")]


def _setup_logging() -> None:
    from rich.logging import RichHandler

    from danlu.environment import apply_quiet_defaults

    apply_quiet_defaults()

    handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", datefmt="[%X]",
                        handlers=[handler])
    logging.getLogger("danlu").setLevel(logging.INFO)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)


def _config(params: Path | None, overrides: list[str] | None):
    from danlu.config.load import load_config

    return load_config(params, overrides or [])


def _run_one(name: str, params: Path | None, overrides: list[str] | None, force: bool,
             no_track: bool) -> None:
    from danlu.pipeline import run_stage
    from danlu.project_lock import project_lock

    cfg = _config(params, overrides)
    parent = os.environ.get("DANLU_PARENT_RUN_ID") or None
    with project_lock(cfg.path(cfg.paths.outputs), f"danlu {name}"):
        record = run_stage(name, cfg, parent_run_id=parent, force=force, track=not no_track)
    state = "reused (unchanged)" if record.cached else f"done in {record.seconds:.1f} s"
    typer.echo(f"{name}: {state}")
    for key in sorted(record.metrics)[:12]:
        typer.echo(f"  {key} = {record.metrics[key]:.6g}")
    for model, version in record.registered.items():
        typer.echo(f"  registered {model} version {version}")


FLOW_ENTRY_GROUP = "danlu.flows"  # pyproject.toml: [project.entry-points."danlu.flows"]


def flow_entry(name: str):
    """A Prefect flow runner that the flows/ package registers as an entry point (the danlu
    package never imports flows/: the flows are built on it, not the other way round)."""
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group=FLOW_ENTRY_GROUP) if ep.name == name]
    if not found:
        raise DanluError(f"no {FLOW_ENTRY_GROUP!r} entry point named {name!r}: install the "
                         "project (pip install -e .) so that its flows/ package is registered")
    return found[0].load()


@app.command()
def run(overrides: Overrides = None, params: ParamsFile = None, force: Force = False,
        stages: Annotated[Optional[str], typer.Option(
            help="Comma-separated subset of stages, e.g. pretrain,sft")] = None) -> None:
    """Run the whole pipeline as the Prefect flow `danlu-pipeline`."""
    from danlu.pipeline import check_inputs, choose_stages

    # Everything a run needs is checked before Prefect starts: one line, not a flow run's
    # traceback.
    cfg = _config(params, overrides)
    chosen = choose_stages([s.strip() for s in stages.split(",") if s.strip()] if stages else None)
    check_inputs(cfg, chosen)
    run_pipeline = flow_entry("pipeline")
    summary = run_pipeline(str(cfg.root / "params.yaml") if params is None else str(params),
                           overrides or [], force=force, stages=chosen if stages else None)
    typer.echo(summary["markdown"])


@app.command()
def ablate(config: Annotated[Optional[Path], typer.Option(
               "--config", "-c", help="An ablation YAML file (e.g. ablations/sample.yaml)")] = None,
           variant: Annotated[Optional[list[str]], typer.Option(
               "--variant", "-v", help="A variant NAME=KEY=VALUE,KEY=VALUE (-S syntax), or NAME "
               "for params.yaml as is; repeat for more (added to the file's)")] = None,
           seeds: Annotated[Optional[str], typer.Option(
               help="Comma-separated seeds, e.g. 1,2,3 (replace the file's)")] = None,
           name: Annotated[Optional[str], typer.Option(
               help="The ablation's name (its folder in outputs/ablations)")] = None,
           dvc: Annotated[bool, typer.Option(
               "--dvc", help="Queue the runs as DVC experiments (dvc exp run --queue) instead; "
               "then `dvc queue start`, `dvc exp show`, and --from-dvc for the report")] = False,
           from_dvc: Annotated[bool, typer.Option(
               "--from-dvc", help="The report from the queued DVC experiments' results")] = False,
           overrides: Overrides = None, params: ParamsFile = None) -> None:
    """Data ablation: train the same small model on each variant of the data (and each seed) at
    equal tokens, score every model on the same held-out text, and report what each step buys."""
    from danlu.ablation.spec import load_spec

    if config is None and not variant:
        raise ConfigError("name an ablation file (--config ablations/sample.yaml) or variants "
                          "(--variant raw=curate.filters.enabled=false --variant full)")
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()] if seeds else None
    except ValueError:
        raise ConfigError(f"--seeds {seeds}: expected whole numbers, e.g. 1,2,3") from None
    spec = load_spec(config, variants=variant, seeds=seed_list, name=name)
    params_path = str(_config(params, None).root / "params.yaml") if params is None \
        else str(params)
    if dvc or from_dvc:
        from danlu.ablation.dvc_experiments import queue_experiments, report_from_dvc

        if dvc:
            for line in queue_experiments(spec, params_path, overrides or []):
                typer.echo(line)
            return
        report = report_from_dvc(spec, params_path, overrides or [])
    else:
        from danlu.ablation.plan import plan_ablation

        plan_ablation(spec, params_path, overrides or [])  # a bad variant fails before Prefect
        report = flow_entry("ablation")(params_path, spec, overrides or [])
    typer.echo(report["markdown"])
    typer.echo(f"report: {report['folder']}")
    if report["failed"]:
        runs = ", ".join(f"{r['variant']} seed {r['seed']}" for r in report["failed"])
        raise DanluError(f"{len(report['failed'])} run(s) failed ({runs}); the others are "
                         "in the report")


@app.command()
def curate(overrides: Overrides = None, params: ParamsFile = None, force: Force = False,
           no_track: NoTrack = False,
           input: Annotated[Optional[list[Path]], typer.Option(
               "--input", help="Input files or folders, any mix of WARC/WET, JSONL, Parquet and saved "
               "datasets; several may follow one --input (default: curate.inputs)")] = None,
           output: Annotated[Optional[Path], typer.Option(
               help="Output folder (default: outputs/curate)")] = None) -> None:
    """Curate: read, extract, identify language, filter, deduplicate, validate."""
    if input or output:
        from danlu.curate.run import curate as curate_paths
        from danlu.curate.stage import settings as curate_settings

        cfg = _config(params, overrides)
        inputs = ({"input": list(input)} if input else
                  {s: [cfg.path(p) for p in ps] for s, ps in cfg.curate.inputs.items()})
        result = curate_paths(curate_settings(cfg), inputs,
                              output or cfg.path(cfg.paths.outputs) / "curate")
        typer.echo(json.dumps(result.metrics(), indent=2))
        return
    _run_one("curate", params, overrides, force, no_track)


STAGE_HELP = {
    "tokenizer": "Train the byte-level BPE tokenizer and encode the corpus into token shards.",
    "pretrain": "Pretrain the Llama-family model on the token shards.",
    "sft": "Supervised fine-tuning on conversations (loss on assistant tokens only): full, "
           "LoRA, prompt tuning, P-tuning or prefix tuning (finetune.method).",
    "reward": "Train the reward model on preference pairs (pairwise loss, scalar head).",
    "dpo": "Preference-optimise the SFT model with DPO; win rate against it under the reward "
           "model.",
    "evaluate": "Evaluate: loss, perplexity, bits per byte, chat samples, report card.",
}


def _stage_command(name: str):
    def command(overrides: Overrides = None, params: ParamsFile = None, force: Force = False,
                no_track: NoTrack = False) -> None:
        _run_one(name, params, overrides, force, no_track)

    command.__doc__ = STAGE_HELP[name]
    return command


for _name in STAGE_HELP:
    app.command(_name)(_stage_command(_name))


@app.command("dvc-yaml")
def dvc_yaml(params: ParamsFile = None) -> None:
    """Write dvc.yaml from the stage table (the same deps, code, params and outputs as the
    change check of `danlu run`)."""
    from danlu.atomic import atomic_write_text
    from danlu.pipeline import render_dvc_yaml

    cfg = _config(params, None)
    path = cfg.root / "dvc.yaml"
    text = render_dvc_yaml(cfg)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        typer.echo(f"{path} was already up to date")
        return
    atomic_write_text(path, text)
    typer.echo(f"wrote {path}")


@app.command()
def sample(params: ParamsFile = None,
           rebuild: Annotated[bool, typer.Option(
               help="Regenerate from this Python's stdlib instead of the shipped bytes")] = False,
           force: Annotated[bool, typer.Option(help="Replace a data folder that differs")] = False
           ) -> None:
    """Put the bundled sample in the data folder (a no-op when it is already there)."""
    cfg = _config(params, None)
    data = cfg.path(cfg.paths.data)
    if rebuild:
        from danlu.sample.build import build_sample

        manifest = build_sample(data)
        typer.echo(f"rebuilt the sample in {data} ({len(manifest.get('files', {}))} files)")
        return
    from danlu.dvc_files import cache_data
    from danlu.sample.bundle import restore

    restore(data, force=force)
    cached = cache_data(cfg.root)
    typer.echo(f"sample ready in {data}" + (" (and in the DVC cache)" if cached else ""))


@app.command()
def score(models: Annotated[list[str], typer.Argument(
              help="Model folders or registry URIs (models:/NAME@ALIAS, models:/NAME/VERSION)")],
          task: Annotated[list[Path], typer.Option(
              "--task", "-t", help="A task file (YAML); repeat for more")],
          limit: Annotated[Optional[int], typer.Option(
              help="Score only each task's first N items")] = None,
          batch_size: Annotated[int, typer.Option(help="Contexts per forward pass")] = 8,
          out: Annotated[Optional[Path], typer.Option(
              help="Also write the results as JSON here")] = None,
          params: ParamsFile = None) -> None:
    """Score models on task files (the evaluate stage's scorers), outside the pipeline."""
    from danlu.atomic import atomic_write_json
    from danlu.evaluate.suite import ModelEntry, run_suite, summary_table
    from danlu.evaluate.task import load_task

    tasks = [load_task(path, limit=limit) for path in task]
    entries = [ModelEntry(source, "model", _model_folder(source, params), source)
               for source in models]
    # each model's own context bounds it; there is no pipeline config to take one from
    results, _ = run_suite(tasks, entries, context_length=sys.maxsize, batch_size=batch_size,
                           seed=0, dirty={}, clean_only=False)
    typer.echo(summary_table(results))
    if out is not None:
        atomic_write_json(out, results)
        typer.echo(f"results written to {out}")


def _model_folder(source: str, params: Path | None) -> Path:
    """A model folder, or a registry URI's version downloaded into the outputs' cache."""
    from danlu.tracking.fetch import REGISTRY_PREFIX, model_folder, resolve_model_source
    from danlu.tracking.mlflow_runs import tracking_uri

    if not source.startswith(REGISTRY_PREFIX):
        return model_folder(source)
    cfg = _config(params, None)
    return resolve_model_source(source, tracking_uri(cfg), cfg.path(cfg.paths.outputs) / "registry")


def _chat_model_folder(model: str | None, params: Path | None) -> Path:
    """MODEL's folder; params.yaml is read only for a registry URI (the default one included)."""
    if model is None:
        cfg = _config(params, None)
        model = f"models:/{cfg.registry.chat_model}@{cfg.registry.champion_alias}"
    return _model_folder(model, params)


@app.command()
def chat(model: Annotated[Optional[str], typer.Argument(
             help="A model folder, or a registry URI models:/NAME@ALIAS or models:/NAME/VERSION "
             "(default: models:/<registry.chat_model>@<registry.champion_alias> of params.yaml)")] = None,
         prompt: Annotated[Optional[str], typer.Option(
             help="Answer this one message and exit (default: an interactive chat)")] = None,
         system: Annotated[Optional[str], typer.Option(help="A system prompt")] = None,
         temperature: Annotated[float, typer.Option(min=0.0, help="0: greedy")] = 0.7,
         top_p: Annotated[float, typer.Option("--top-p", min=0.0, max=1.0,
                                              help="Nucleus sampling mass, above 0")] = 0.9,
         max_tokens: Annotated[int, typer.Option("--max-tokens", min=1,
                                                 help="Most tokens in one reply")] = 256,
         seed: Annotated[Optional[int], typer.Option(help="Seed of the sampling")] = None,
         params: ParamsFile = None) -> None:
    """Chat with a model: one reply with --prompt, else turns read from stdin (/reset forgets
    the conversation, /exit or end of input quits)."""
    from danlu.model.conversation import Conversation
    from danlu.model.saved import load_model

    if top_p == 0:
        raise typer.BadParameter("must be above 0", param_hint="--top-p")
    try:
        conversation = Conversation(*load_model(_chat_model_folder(model, params)),
                                    max_new_tokens=max_tokens, temperature=temperature,
                                    top_p=top_p, system=system, seed=seed)
    except ConfigError as exc:
        typer.secho(f"config error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    except DanluError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    if prompt is not None:
        for piece in conversation.reply(prompt):
            typer.echo(piece, nl=False)  # click flushes after each piece
        typer.echo()
        return
    while True:
        typer.echo("you> ", nl=False)
        line = sys.stdin.readline()
        if not line or line.strip() == "/exit":
            typer.echo()
            return
        text = line.rstrip("\n")
        if text.strip() == "/reset":
            conversation.reset()
            typer.echo("(conversation cleared)")
        elif text.strip():
            typer.echo("danlu> ", nl=False)
            for piece in conversation.reply(text):
                typer.echo(piece, nl=False)
            typer.echo()


@app.command()
def promote(name: Annotated[str, typer.Argument(help="A registered model, e.g. danlu-chat")],
            version: Annotated[str, typer.Argument(help="The version to make champion")],
            reason: Annotated[Optional[str], typer.Option(
                help="Why, kept as the version's gate.reason tag")] = None,
            params: ParamsFile = None) -> None:
    """Move the champion alias (registry.champion_alias) to VERSION of NAME by hand, past the
    champion gate; tags the version with gate.decision and gate.reason."""
    from danlu.tracking.promote import promote as promote_version

    cfg = _config(params, None)
    done = promote_version(cfg, name, version, reason=reason or "")
    alias = f"{name}@{cfg.registry.champion_alias}"
    if not done.moved:
        typer.echo(f"{alias} is version {done.version} already; nothing moved")
        return
    before = "no version" if done.previous is None else f"version {done.previous}"
    typer.echo(f"{alias}: {before} -> version {done.version} ({done.reason})")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             add_help_option=False)
def deploy(ctx: typer.Context) -> None:
    """Create or update the team's work pools (cpu, gpu), deployments and the zombie-run
    automation on the Prefect server at PREFECT_API_URL (`danlu deploy --help`)."""
    flow_entry("deploy")(list(ctx.args))


# Options that take several values after one flag (`--input a.warc.gz b.jsonl`, what a shell
# glob gives); click wants the flag repeated, so the values are spread before it parses.
MULTI_VALUE_OPTIONS = ("--input",)


def spread_multi_values(argv: list[str]) -> list[str]:
    """`--input a b --output o` -> `--input a --input b --output o` (a flag with no value is
    left as it is, for click to report)."""
    out: list[str] = []
    flag, pending = None, False
    for arg in argv:
        if arg.startswith("-"):
            if pending:
                out.append(flag)
            flag, pending = (arg, True) if arg in MULTI_VALUE_OPTIONS else (None, False)
            if flag is None:
                out.append(arg)
            continue
        if flag is not None:
            out.append(flag)
            pending = False
        out.append(arg)
    if pending:
        out.append(flag)
    return out


def main() -> None:
    _setup_logging()
    try:
        app(args=spread_multi_values(sys.argv[1:]))
    except ConfigError as exc:
        typer.secho(f"config error: {exc}", fg="red", err=True)
        sys.exit(2)
    except DanluError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
    except OSError as exc:  # a full disk or a read-only folder met outside danlu.atomic's writes
        from danlu.errors import output_error

        error = output_error(exc)
        if error is None and isinstance(exc, PermissionError) and exc.filename is not None:
            error = f"{exc.filename}: {exc.strerror}"  # reading or writing: the error can't say
        if error is None:
            raise
        typer.secho(f"error: {error}", fg="red", err=True)
        sys.exit(1)


def entry() -> None:
    """The `danlu` console script: main, then an exit that skips the interpreter's teardown
    (danlu.process_exit). main() itself exits normally, for callers inside a process (tests)."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)  # sys.exit("message"): Python prints it, exits 1
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    from danlu.process_exit import exit_now

    exit_now(code)


if __name__ == "__main__":
    entry()
