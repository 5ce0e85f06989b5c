"""Prefect tags that tell apart the runs of several projects (and commits, and params) in one
Prefect home: project:<folder>, commit:<short sha> (in a git repo), params:<hash>."""

from __future__ import annotations

from prefect import runtime

from danlu.config.project import Config


def run_labels(cfg: Config) -> list[str]:
    from danlu.tracking.lineage import git_commit

    labels = [f"project:{cfg.root.name}"]
    commit = git_commit(cfg.root)
    if commit != "unknown":
        sha, _, dirty = commit.partition("-")
        labels.append(f"commit:{sha[:8]}" + (f"-{dirty}" if dirty else ""))
    return labels + [f"params:{cfg.section_hash()}"]


def tag_this_flow_run(labels: list[str]) -> None:
    """The labels on the running flow run too when it was started without them (by a
    deployment: its tags come from there, not from the caller's `prefect.tags`)."""
    from prefect.client.orchestration import get_client

    missing = [t for t in labels if t not in runtime.flow_run.tags]
    if missing:
        with get_client(sync_client=True) as client:
            client.update_flow_run(runtime.flow_run.id, tags=[*runtime.flow_run.tags, *missing])
