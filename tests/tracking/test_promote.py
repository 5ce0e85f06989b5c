"""The champion gate and `danlu promote` through a real MLflow registry (sqlite in tmp): the first
version becomes champion; a better one takes the alias; a worse one, a tie or a gain within the
margin stays a candidate with the reason in its tags; an experiment never takes it."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from danlu.cli import app
from danlu.config import load_config
from danlu.errors import ConfigError, TrackingError
from danlu.tracking.mlflow_runs import client, tracked_run
from danlu.tracking.promote import champion_version, decide, gate, promote

_names = itertools.count(1)


@pytest.fixture(scope="module")
def project(tmp_path_factory, repo_root: Path) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    return root


@pytest.fixture(scope="module")
def cfg(project: Path):
    return load_config(project / "params.yaml")


@pytest.fixture(scope="module")
def run_id(cfg) -> str:
    with tracked_run(cfg, "evaluate") as run:
        pass
    return run.run_id


@pytest.fixture(autouse=True)
def not_an_experiment(monkeypatch):
    """These tests may themselves run under `dvc exp run`."""
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)


def new_model(cfg, run_id: str, versions: int) -> tuple[str, list[str]]:
    """A registered model of its own (one name per test: the registry is shared) with
    `versions` versions; the gate reads tags and aliases only, so no weights are logged."""
    name = f"gate-model-{next(_names)}"
    c = client(cfg)
    c.create_registered_model(name)
    artifacts = c.get_run(run_id).info.artifact_uri
    made = [str(c.create_model_version(name, source=f"{artifacts}/{name}-{i}",
                                       run_id=run_id).version) for i in range(versions)]
    return name, made


def aliases(cfg, name: str) -> dict[str, str]:
    return {k: str(v) for k, v in (client(cfg).get_registered_model(name).aliases or {}).items()}


def tags(cfg, name: str, version: str) -> dict[str, str]:
    return dict(client(cfg).get_model_version(name, version).tags)


def run_gate(cfg, name, candidate, score, champion=None, champion_score=None, *,
             higher_is_better=True, margin=0.0, metric="core"):
    return gate(cfg, name, candidate, metric=metric, candidate_score=score,
                champion_score=champion_score, champion_version=champion,
                higher_is_better=higher_is_better, margin=margin)


# decide: the rule alone

def test_decide_first_version_is_promoted():
    assert decide(0.1, None, higher_is_better=True, margin=0.5) == \
        (True, "first version: no champion yet (score 0.1)")


@pytest.mark.parametrize("candidate, champion, higher, margin, promoted", [
    (0.30, 0.25, True, 0.0, True),      # better
    (0.20, 0.25, True, 0.0, False),     # worse
    (0.25, 0.25, True, 0.0, False),     # a tie is not a win
    (0.255, 0.25, True, 0.01, False),   # better, but within the margin
    (0.26, 0.25, True, 0.01, False),    # better by exactly the margin (0.010000000000000009)
    (0.27, 0.25, True, 0.01, True),     # better by more than the margin
    (1.10, 1.20, False, 0.05, True),    # bits per byte: lower is better
    (1.30, 1.20, False, 0.0, False),
    (1.18, 1.20, False, 0.05, False),
])
def test_decide_needs_a_gain_beyond_the_margin(candidate, champion, higher, margin, promoted):
    assert decide(candidate, champion, higher_is_better=higher, margin=margin)[0] is promoted


def test_decide_says_the_numbers():
    promoted, reason = decide(0.231, 0.245, higher_is_better=True, margin=0.01, metric="core",
                              champion="champion v3")
    assert not promoted
    assert reason == ("core 0.231 does not beat champion v3's 0.245 by margin 0.01 "
                      "(higher is better)")
    promoted, reason = decide(1.1, 1.2, higher_is_better=False, margin=0.05,
                              metric="heldout.bits_per_byte", champion="champion v1")
    assert promoted and reason.startswith("heldout.bits_per_byte 1.1 beats champion v1's 1.2 by")
    assert "(lower is better)" in reason


def test_decide_refuses_nan_scores_and_a_negative_margin():
    assert decide(math.nan, None, higher_is_better=True, margin=0.0) == \
        (False, "score is NaN: nothing to compare with the champion")
    promoted, reason = decide(0.3, math.nan, higher_is_better=True, margin=0.0)
    assert not promoted and "NaN" in reason
    with pytest.raises(ConfigError, match="margin -0.1 must be a number >= 0"):
        decide(0.3, 0.2, higher_is_better=True, margin=-0.1)


# gate: the rule applied to the registry

def test_no_champion_yet_the_first_version_becomes_champion(cfg, run_id):
    name, [v1] = new_model(cfg, run_id, 1)
    assert champion_version(cfg, name) is None
    result = run_gate(cfg, name, v1, 0.2)
    assert result.promoted and result.champion is None and result.decision == "promoted"
    assert str(champion_version(cfg, name).version) == v1
    t = tags(cfg, name, v1)
    assert t["gate.decision"] == "promoted" and t["gate.reason"].startswith("first version")
    assert t["gate.metric"] == "core" and t["gate.score"] == "0.2"
    assert t["gate.champion_score"] == "none" and t["gate.champion_version"] == "none"


def test_a_better_version_takes_the_champion_alias(cfg, run_id):
    name, [v1, v2] = new_model(cfg, run_id, 2)
    run_gate(cfg, name, v1, 0.20)
    client(cfg).set_registered_model_alias(name, "candidate", v2)
    result = run_gate(cfg, name, v2, 0.30, champion=v1, champion_score=0.21, margin=0.05)
    assert result.promoted and result.champion == v1
    assert aliases(cfg, name) == {"champion": v2, "candidate": v2}
    t = tags(cfg, name, v2)
    assert t["gate.decision"] == "promoted" and t["gate.champion_version"] == v1
    assert t["gate.score"] == "0.3" and t["gate.champion_score"] == "0.21"
    assert "core 0.3 beats champion v1's 0.21 by 0.09" in t["gate.reason"]


@pytest.mark.parametrize("score, champion_score, margin, why", [
    (0.231, 0.245, 0.01, "core 0.231 does not beat champion v1's 0.245 by margin 0.01"),
    (0.245, 0.245, 0.0, "core 0.245 does not beat champion v1's 0.245 by margin 0"),
    (0.25, 0.245, 0.01, "core 0.25 does not beat champion v1's 0.245 by margin 0.01"),
], ids=["worse", "tie", "within-margin"])
def test_a_version_that_does_not_win_stays_candidate_with_the_reason(
        cfg, run_id, score, champion_score, margin, why):
    name, [v1, v2] = new_model(cfg, run_id, 2)
    run_gate(cfg, name, v1, 0.2)
    client(cfg).set_registered_model_alias(name, "candidate", v2)
    result = run_gate(cfg, name, v2, score, champion=v1, champion_score=champion_score,
                      margin=margin)
    assert not result.promoted and result.decision == "kept"
    assert aliases(cfg, name) == {"champion": v1, "candidate": v2}
    t = tags(cfg, name, v2)
    assert t["gate.decision"] == "kept"
    assert t["gate.reason"] == result.reason and t["gate.reason"].startswith(why)
    assert tags(cfg, name, v1)["gate.decision"] == "promoted"  # the champion's own untouched


def test_lower_is_better_metric(cfg, run_id):
    name, [v1, v2, v3] = new_model(cfg, run_id, 3)
    run_gate(cfg, name, v1, 1.30, higher_is_better=False, metric="heldout.bits_per_byte")
    worse = run_gate(cfg, name, v2, 1.40, champion=v1, champion_score=1.30,
                     higher_is_better=False, margin=0.01, metric="heldout.bits_per_byte")
    better = run_gate(cfg, name, v3, 1.10, champion=v1, champion_score=1.31,
                      higher_is_better=False, margin=0.01, metric="heldout.bits_per_byte")
    assert not worse.promoted and "(lower is better)" in worse.reason
    assert better.promoted
    assert aliases(cfg, name)["champion"] == v3


def test_a_nan_score_is_not_promoted(cfg, run_id):
    name, [v1] = new_model(cfg, run_id, 1)
    result = run_gate(cfg, name, v1, math.nan)
    assert not result.promoted and "NaN" in tags(cfg, name, v1)["gate.reason"]
    assert aliases(cfg, name) == {}


def test_under_a_dvc_experiment_nothing_becomes_champion(cfg, run_id, monkeypatch):
    name, [v1, v2] = new_model(cfg, run_id, 2)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-5f2a1")
    first = run_gate(cfg, name, v1, 0.2)  # even with no champion at all
    assert not first.promoted and aliases(cfg, name) == {}
    assert first.reason.startswith("experiment exp-5f2a1: ")
    assert f"danlu promote {name} {v1}" in first.reason
    assert tags(cfg, name, v1)["gate.decision"] == "kept"
    monkeypatch.delenv("DVC_EXP_NAME")
    run_gate(cfg, name, v1, 0.2)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-5f2a1")
    assert not run_gate(cfg, name, v2, 0.9, champion=v1, champion_score=0.2).promoted
    assert aliases(cfg, name) == {"champion": v1}


def test_the_champion_itself_is_left_as_it_is(cfg, run_id):
    name, [v1] = new_model(cfg, run_id, 1)
    run_gate(cfg, name, v1, 0.2)
    before = tags(cfg, name, v1)
    again = run_gate(cfg, name, v1, 0.1, champion=v1, champion_score=0.1)
    assert not again.promoted and again.reason == "already champion"
    assert tags(cfg, name, v1) == before and aliases(cfg, name) == {"champion": v1}


def test_a_champion_that_moved_since_the_evaluation_is_not_compared(cfg, run_id):
    name, [v1, v2, v3] = new_model(cfg, run_id, 3)
    run_gate(cfg, name, v1, 0.2)
    promote(cfg, name, v2, reason="moved meanwhile")
    result = run_gate(cfg, name, v3, 0.9, champion=v1, champion_score=0.2)
    assert not result.promoted and aliases(cfg, name)["champion"] == v2
    assert result.reason == (f"@champion is version {v2} but the evaluation compared with "
                             f"version {v1}: evaluate again")


def test_gate_errors_name_what_exists(cfg, run_id):
    name, [v1] = new_model(cfg, run_id, 1)
    with pytest.raises(TrackingError, match=rf"model '{name}' has no version '7' "
                                            rf"\(its versions: 1\)"):
        run_gate(cfg, name, "7", 0.2)
    with pytest.raises(TrackingError, match="give both .* or neither"):
        run_gate(cfg, name, v1, 0.2, champion=None, champion_score=0.1)
    with pytest.raises(TrackingError, match=r"no registered model 'no-such-model' .*registered: "
                                            rf".*{name}"):
        run_gate(cfg, "no-such-model", "1", 0.2)


# promote by hand: the function and `danlu promote`

def test_promote_by_hand_moves_the_alias_and_tags_the_version(cfg, run_id, monkeypatch):
    name, [v1, v2] = new_model(cfg, run_id, 2)
    run_gate(cfg, name, v1, 0.3)
    run_gate(cfg, name, v2, 0.1, champion=v1, champion_score=0.3)  # kept by the gate
    monkeypatch.setenv("DVC_EXP_NAME", "exp-5f2a1")  # by hand overrides even an experiment
    done = promote(cfg, name, v2, reason="better answers in a blind review")
    assert (done.previous, done.version, done.moved) == (v1, v2, True)
    assert aliases(cfg, name) == {"champion": v2}
    t = tags(cfg, name, v2)
    assert t["gate.decision"] == "promoted by hand"
    assert t["gate.reason"] == "better answers in a blind review"
    assert t["gate.champion_version"] == v1
    assert not promote(cfg, name, v2, reason="again").moved


def test_danlu_promote_command(cfg, run_id, project: Path):
    name, [v1, v2] = new_model(cfg, run_id, 2)
    params = str(project / "params.yaml")
    runner = CliRunner()
    first = runner.invoke(app, ["promote", name, v1, "--params", params])
    assert first.exit_code == 0, first.output
    assert f"{name}@champion: no version -> version {v1} (no reason given)" in first.output
    second = runner.invoke(app, ["promote", name, v2, "--reason", "rollback of v1",
                                 "--params", params])
    assert second.exit_code == 0, second.output
    assert f"{name}@champion: version {v1} -> version {v2} (rollback of v1)" in second.output
    assert aliases(cfg, name) == {"champion": v2}
    assert tags(cfg, name, v2)["gate.reason"] == "rollback of v1"
    same = runner.invoke(app, ["promote", name, v2, "--params", params])
    assert f"is version {v2} already; nothing moved" in same.output

    missing = runner.invoke(app, ["promote", name, "9", "--params", params])
    assert missing.exit_code != 0 and isinstance(missing.exception, TrackingError)
    assert f"model '{name}' has no version '9' (its versions: 1, 2)" in str(missing.exception)
    assert aliases(cfg, name) == {"champion": v2}


def test_promote_without_a_registry_says_so_and_creates_none(tmp_path: Path, repo_root: Path):
    (tmp_path / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    result = CliRunner().invoke(app, ["promote", "danlu-chat", "1", "--params",
                                      str(tmp_path / "params.yaml")])
    assert isinstance(result.exception, TrackingError)
    assert f"{tmp_path / 'mlflow.db'}: no model registry here" in str(result.exception)
    assert not (tmp_path / "mlflow.db").exists()
