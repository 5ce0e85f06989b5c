"""The champion gate: a new version takes the champion alias (registry.champion_alias) only when
it beats the current champion on the primary metric by the margin, both scored on the same
tasks in the same evaluation run; otherwise it stays a candidate, with the reason in its tags.
The first version is champion. An experiment's version never is, since serving reads the
champion; `danlu promote` moves the alias by hand."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from danlu.config.project import Config
from danlu.errors import ConfigError, TrackingError
from danlu.tracking.mlflow_runs import client, tracking_uri
from danlu.tracking.registry import experiment_name

log = logging.getLogger("danlu.promote")

METRIC_TAG = "gate.metric"
SCORE_TAG = "gate.score"
CHAMPION_SCORE_TAG = "gate.champion_score"
CHAMPION_VERSION_TAG = "gate.champion_version"
DECISION_TAG = "gate.decision"
REASON_TAG = "gate.reason"
PROMOTED, KEPT, BY_HAND = "promoted", "kept", "promoted by hand"
NONE = "none"  # a tag value for "no champion": MLflow tags are strings


@dataclass(frozen=True)
class GateResult:
    """What the gate decided for one candidate; `champion` is the champion before the gate."""

    name: str
    candidate: str
    champion: str | None
    metric: str
    candidate_score: float
    champion_score: float | None
    promoted: bool
    reason: str

    @property
    def decision(self) -> str:
        return PROMOTED if self.promoted else KEPT

    def summary(self) -> str:
        return f"{self.name} version {self.candidate}: {self.decision} ({self.reason})"


@dataclass(frozen=True)
class Promotion:
    """A move of the champion alias by hand: `previous` is the champion before it (or None)."""

    name: str
    version: str
    previous: str | None
    reason: str

    @property
    def moved(self) -> bool:
        return self.previous != self.version


def champion_version(cfg: Config, name: str):
    """The version of `name` that holds the champion alias (an MLflow ModelVersion), or None:
    no such alias yet, or no such registered model yet."""
    from mlflow.exceptions import MlflowException

    c = client(cfg)
    try:
        aliases = dict(c.get_registered_model(name).aliases or {})
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise TrackingError(f"MLflow at {tracking_uri(cfg)}: cannot read model {name!r}: "
                            f"{exc}") from exc
    version = aliases.get(cfg.registry.champion_alias)
    return None if version is None else c.get_model_version(name, str(version))


def decide(candidate_score: float, champion_score: float | None, *, higher_is_better: bool,
           margin: float, metric: str = "score", champion: str = "the champion"
           ) -> tuple[bool, str]:
    """(promote?, why): promote when there is no champion, or when the candidate is better by
    more than `margin`; a tie, a gain within the margin or a loss keeps it. `metric` and
    `champion` only name the two in the reason."""
    if math.isnan(margin) or margin < 0:
        raise ConfigError(f"champion gate: margin {margin} must be a number >= 0")
    if math.isnan(candidate_score):
        return False, f"{metric} is NaN: nothing to compare with {champion}"
    if champion_score is None:
        return True, f"first version: no champion yet ({metric} {candidate_score:.6g})"
    if math.isnan(champion_score):
        return False, f"{champion}'s {metric} is NaN: cannot tell which is better"
    gain = candidate_score - champion_score if higher_is_better \
        else champion_score - candidate_score
    # A gain that equals the margin up to rounding (0.26 - 0.25 is 0.010000000000000009) is
    # not "more than the margin".
    beats = gain > margin and not math.isclose(gain, margin, rel_tol=1e-9, abs_tol=1e-12)
    way = f"{'higher' if higher_is_better else 'lower'} is better"
    if beats:
        return True, (f"{metric} {candidate_score:.6g} beats {champion}'s {champion_score:.6g} "
                      f"by {gain:.6g}, more than margin {margin:g} ({way})")
    return False, (f"{metric} {candidate_score:.6g} does not beat {champion}'s "
                   f"{champion_score:.6g} by margin {margin:g} ({way})")


def gate(cfg: Config, name: str, candidate_version: str | int, *, metric: str,
         candidate_score: float, champion_score: float | None,
         champion_version: str | int | None, higher_is_better: bool,
         margin: float) -> GateResult:
    """Decide for `candidate_version` of `name` against `champion_version` (None: there was no
    champion to evaluate), both scored on `metric` in the same run; move the champion alias
    when it wins and tag the candidate with the scores, the decision and the reason. A
    candidate that already is the champion is left as it is."""
    candidate = str(candidate_version)
    evaluated = None if champion_version is None else str(champion_version)
    if (evaluated is None) != (champion_score is None):
        raise TrackingError(f"champion gate for {name} version {candidate}: champion_version "
                            f"({evaluated}) and champion_score ({champion_score}) go together: "
                            "give both (the champion scored in this run) or neither")
    _check_version(cfg, name, candidate)
    alias = cfg.registry.champion_alias
    current = champion_version_number(cfg, name)

    def result(promoted: bool, reason: str) -> GateResult:
        return GateResult(name, candidate, current, metric, candidate_score, champion_score,
                          promoted, reason)

    if current == candidate:
        # Its gate tags say how it became champion; a rerun of the evaluation keeps them.
        return result(False, f"already {alias}")
    experiment = experiment_name(cfg)
    if experiment is not None:
        promoted, reason = False, (f"experiment {experiment}: an experiment's version never "
                                   f"becomes @{alias} by itself (by hand: danlu promote "
                                   f"{name} {candidate})")
    elif current != evaluated:
        # The alias moved between scoring and deciding: the comparison is not with the champion.
        promoted, reason = False, (f"@{alias} is {_named(current)} but the evaluation compared "
                                   f"with {_named(evaluated)}: evaluate again")
    else:
        promoted, reason = decide(candidate_score, champion_score,
                                  higher_is_better=higher_is_better, margin=margin,
                                  metric=metric,
                                  champion=f"champion v{current}" if current else "the champion")
    if promoted:
        client(cfg).set_registered_model_alias(name, alias, candidate)
    _set_tags(cfg, name, candidate, {
        METRIC_TAG: metric, SCORE_TAG: str(float(candidate_score)),
        CHAMPION_SCORE_TAG: NONE if champion_score is None else str(float(champion_score)),
        CHAMPION_VERSION_TAG: current or NONE,
        DECISION_TAG: PROMOTED if promoted else KEPT, REASON_TAG: reason})
    gated = result(promoted, reason)
    log.info("champion gate: %s", gated.summary())
    return gated


def promote(cfg: Config, name: str, version: str | int, *, reason: str) -> Promotion:
    """Make `version` of `name` the champion by hand (any version, an experiment's too), and
    tag it with the reason; a version that already is champion is left as it is."""
    version = str(version)
    _check_version(cfg, name, version)
    previous = champion_version_number(cfg, name)
    alias = cfg.registry.champion_alias
    if previous == version:
        return Promotion(name, version, previous, f"already @{alias}")
    client(cfg).set_registered_model_alias(name, alias, version)
    reason = reason.strip() or "no reason given"
    _set_tags(cfg, name, version, {DECISION_TAG: BY_HAND, REASON_TAG: reason,
                                   CHAMPION_VERSION_TAG: previous or NONE})
    log.info("%s: @%s moved from %s to version %s by hand (%s)", name, alias, _named(previous),
             version, reason)
    return Promotion(name, version, previous, reason)


def champion_version_number(cfg: Config, name: str) -> str | None:
    found = champion_version(cfg, name)
    return None if found is None else str(found.version)


def _named(version: str | None) -> str:
    return "no version" if version is None else f"version {version}"


def _check_version(cfg: Config, name: str, version: str) -> None:
    """A TrackingError that lists what exists when `name` or its `version` does not."""
    from mlflow.exceptions import MlflowException

    uri = tracking_uri(cfg)
    # MLflow would create an empty database there, and the error would hide the wrong folder.
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        raise TrackingError(f"{uri[len('sqlite:///'):]}: no model registry here (run the "
                            "pipeline first, or give --params of the project that has one)")
    c = client(cfg)
    try:
        c.get_registered_model(name)
    except MlflowException as exc:
        known = sorted(m.name for m in c.search_registered_models())
        raise TrackingError(f"no registered model {name!r} in {tracking_uri(cfg)} (registered: "
                            f"{', '.join(known) or 'none'})") from exc
    versions = sorted(int(v.version) for v in c.search_model_versions(f"name = '{name}'"))
    if not version.isdigit() or int(version) not in versions:
        raise TrackingError(f"model {name!r} has no version {version!r} (its versions: "
                            f"{', '.join(map(str, versions)) or 'none'})")


def _set_tags(cfg: Config, name: str, version: str, tags: dict[str, str]) -> None:
    c = client(cfg)
    for key, value in tags.items():
        c.set_model_version_tag(name, version, key, value)
