"""`danlu chat` as a user meets it: one-shot and interactive replies from a model folder or the
registry, and one clear line (exit 2) when the model is not there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from danlu.cli import app

GREEDY = ["--max-tokens", "5", "--temperature", "0"]


def chat(*args: str, input: str | None = None):
    return CliRunner().invoke(app, ["chat", *args], input=input)


def replies(output: str) -> list[str]:
    """The replies of an interactive session: what follows `danlu> ` up to the next prompt."""
    turns = output.split("you> ")[1:]
    return [turn[len("danlu> "):-1] for turn in turns if turn.startswith("danlu> ")]


@pytest.fixture(scope="module")
def greedy_hi(lively_model_dir: Path) -> str:
    """What the tiny model answers to "hi" greedily in 5 tokens, from the library."""
    from danlu.model.saved import load_model
    from danlu.model.stream import greedy_ids

    model, tok = load_model(lively_model_dir)
    return tok.decode(greedy_ids(model, tok, [{"role": "user", "content": "hi"}], 5),
                      skip_special_tokens=True)


def test_one_shot_prints_the_greedy_reply(lively_model_dir: Path, greedy_hi: str):
    proc = subprocess.run([sys.executable, "-m", "danlu", "chat", str(lively_model_dir),
                           "--prompt", "hi", *GREEDY], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == greedy_hi + "\n"


def test_interactive_keeps_history_until_reset(lively_model_dir: Path, greedy_hi: str):
    result = chat(str(lively_model_dir), *GREEDY, input="hello\n/reset\nhi\n/exit\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("you> ") == 4
    answers = replies(result.output)
    assert len(answers) == 2
    assert answers[1] == greedy_hi  # after /reset, "hi" is answered as if first
    assert "(conversation cleared)" in result.output


def test_interactive_without_reset_answers_with_the_history(lively_model_dir: Path,
                                                            greedy_hi: str):
    result = chat(str(lively_model_dir), *GREEDY, input="hello\nhi\n")
    assert result.exit_code == 0, result.output  # end of input quits
    answers = replies(result.output)
    assert len(answers) == 2 and answers[1] != greedy_hi


def test_sampling_flags_and_system_prompt_reach_the_model(lively_model_dir: Path):
    from danlu.model.saved import load_model
    from danlu.model.stream import stream_reply

    model, tok = load_model(lively_model_dir)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    expected = "".join(stream_reply(model, tok, messages, max_new_tokens=6, temperature=1.0,
                                    top_p=0.8, seed=7))
    result = chat(str(lively_model_dir), "--prompt", "hi", "--system", "Be brief.",
                  "--temperature", "1", "--top-p", "0.8", "--seed", "7", "--max-tokens", "6")
    assert result.exit_code == 0, result.output
    assert result.stdout == expected + "\n"


def test_a_missing_folder_exits_2_and_names_it(tmp_path: Path):
    result = chat(str(tmp_path / "no-model"), "--prompt", "hi")
    assert result.exit_code == 2
    assert str(tmp_path / "no-model") in result.stderr
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def registered_project(tmp_path_factory, repo_root: Path, lively_model_dir: Path) -> Path:
    """A project whose registry holds the tiny model as danlu-chat version 1, @candidate and
    @champion."""
    from danlu.config import load_config
    from danlu.tracking.mlflow_runs import tracked_run
    from danlu.tracking.promote import promote
    from danlu.tracking.registry import register_model

    root = tmp_path_factory.mktemp("chat-project")
    (root / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    cfg = load_config(root / "params.yaml")
    with tracked_run(cfg, "sft") as run:
        register_model(cfg, run, lively_model_dir, cfg.registry.chat_model, {"stage": "sft"},
                       max_new_tokens=5)
    promote(cfg, cfg.registry.chat_model, "1", reason="the only version")
    return root


def test_the_default_model_is_the_registry_champion(registered_project: Path,
                                                     greedy_hi: str):
    params = str(registered_project / "params.yaml")
    result = chat("--params", params, "--prompt", "hi", *GREEDY)
    assert result.exit_code == 0, result.output
    assert result.stdout == greedy_hi + "\n"
    [cached] = (registered_project / "outputs" / "registry").glob("*/danlu-chat/1")
    assert (cached / "config.json").is_file() and (cached / "tokenizer.json").is_file()
    again = chat("models:/danlu-chat/1", "--params", params, "--prompt", "hi", *GREEDY)
    assert again.exit_code == 0, again.output
    assert again.stdout == greedy_hi + "\n"


def test_a_missing_alias_names_the_aliases_that_exist(registered_project: Path):
    params = str(registered_project / "params.yaml")
    result = chat("models:/danlu-chat@staging", "--params", params, "--prompt", "hi")
    assert result.exit_code == 2
    assert "model 'danlu-chat' has no alias 'staging'" in result.stderr
    assert "@candidate -> version 1" in result.stderr and "@champion -> version 1" in result.stderr
    unknown = chat("models:/danlu-cat@candidate", "--params", params, "--prompt", "hi")
    assert unknown.exit_code == 2
    assert "no registered model 'danlu-cat'" in unknown.stderr
    assert "registered: danlu-chat" in unknown.stderr
    missing = chat("models:/danlu-chat/9", "--params", params, "--prompt", "hi")
    assert missing.exit_code == 2
    assert "model 'danlu-chat' has no version 9 (its versions: 1)" in missing.stderr


def test_a_registered_prompt_learning_model_chats_as_its_folder_does(
        registered_project: Path, lively_model_dir: Path, tmp_path: Path):
    """A prompt-tuning version is logged as its folder's files (adapter + base/); the registry
    URI gives the same greedy reply as the folder."""
    import torch
    from peft import PrefixTuningConfig, get_peft_model

    from danlu.config import load_config
    from danlu.finetune.prompt import export
    from danlu.model.saved import load_model
    from danlu.tracking.mlflow_runs import tracked_run
    from danlu.tracking.promote import promote
    from danlu.tracking.registry import register_model

    model, tok = load_model(lively_model_dir)
    torch.manual_seed(0)
    peft_model = get_peft_model(model, PrefixTuningConfig(task_type="CAUSAL_LM",
                                                          num_virtual_tokens=4))
    with torch.no_grad():
        for param in peft_model.parameters():
            if param.requires_grad:
                param.add_(torch.randn_like(param))
    export(peft_model, tok, tmp_path, base_ref="outputs/pretrain/model")
    cfg = load_config(registered_project / "params.yaml")
    with tracked_run(cfg, "sft") as run:
        version = register_model(cfg, run, tmp_path / "model", "danlu-prefix", {})
    params = str(registered_project / "params.yaml")
    via_folder = chat(str(tmp_path / "model"), "--prompt", "hi", *GREEDY)
    via_registry = chat(f"models:/danlu-prefix/{version}", "--params", params, "--prompt", "hi",
                        *GREEDY)
    assert via_registry.exit_code == 0, via_registry.output
    assert via_registry.stdout == via_folder.stdout
