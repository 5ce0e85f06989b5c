"""DVC for a team: the data on an S3 remote (the team's S3 server here; real S3 in production),
pushed with `verify` on, pulled on a fresh clone; a run refuses to start on data the remote
lacks; DVC's lock is waited for, not failed on, when two runs meet."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def sh(cwd: Path, *argv: str, env: dict | None = None, check: bool = True):
    out = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=600)
    if check:
        assert out.returncode == 0, f"{argv}: {out.stdout[-2000:]}{out.stderr[-2000:]}"
    return out


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def repo(team, tmp_path_factory, repo_root: Path) -> Path:
    """A project as a team keeps it: git + DVC, data/ tracked by data.dvc, the S3 remote."""
    from danlu.sample.bundle import restore

    root = tmp_path_factory.mktemp("dvc-team") / "project"
    root.mkdir()
    env = team.env()
    (root / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    restore(root / "data")
    sh(root, "git", "init", "-q")
    sh(root, "git", "config", "user.email", "ci@danlu.invalid")
    sh(root, "git", "config", "user.name", "ci")
    dvc = str(BIN / "dvc")
    sh(root, dvc, "init", "-q", env=env)
    sh(root, dvc, "add", "-q", "data", env=env)
    sh(root, dvc, "remote", "add", "-d", "team", "s3://dvc/danlu", env=env)
    sh(root, dvc, "remote", "modify", "team", "endpointurl", team.s3_url, env=env)
    sh(root, dvc, "remote", "modify", "team", "verify", "true", env=env)
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "data on the team remote")
    return root


def test_a_run_waits_for_its_data_to_be_pushed(team_env, repo: Path):
    team = team_env
    from danlu.config.load import load_config
    from danlu.dvc_files import default_remote, missing_from_remote
    from danlu.errors import DataError
    from danlu.pipeline import check_data_pushed

    cfg = load_config(repo / "params.yaml", [])
    run = sh(repo, str(BIN / "danlu"), "run", "--stages", "curate", env=team.env(), check=False)
    assert run.returncode == 1
    assert "not in DVC remote 'team'" in run.stderr and "dvc push" in run.stderr
    remote, missing = missing_from_remote(repo)
    # every file, and the directory's listing
    assert remote == "team" and missing == sorted(["data", *(f"data/{f}" for f in digest(
        repo / "data"))])
    sh(repo, str(BIN / "dvc"), "push", "-q", env=team.env())
    assert missing_from_remote(repo) == ("team", [])
    check_data_pushed(cfg)  # passes now
    (repo / ".dvc" / "config.local").write_text(
        "[core]\n    remote = mirror\n['remote \"mirror\"']\n    url = /mnt/mirror\n")
    try:
        assert default_remote(repo) == ("mirror", "/mnt/mirror")  # config.local wins
        check_data_pushed(cfg)  # auto: a folder remote is not a team's; not consulted
    finally:
        (repo / ".dvc" / "config.local").unlink()
    with pytest.raises(DataError, match="no default DVC remote"):
        check_data_pushed(_without_remote(repo))


def _without_remote(repo: Path):
    """cfg of a copy of the project with no default remote, require_pushed_data: true."""
    import shutil

    from danlu.config.load import load_config

    copy = repo.parent / "no-remote"
    if not copy.exists():
        shutil.copytree(repo, copy, ignore=shutil.ignore_patterns("data"))
        config = copy / ".dvc" / "config"
        config.write_text("\n".join(line for line in config.read_text().splitlines()
                                    if "remote = team" not in line) + "\n")
    return load_config(copy / "params.yaml", ["tracking.require_pushed_data=true"])


def test_a_fresh_clone_pulls_the_same_data_and_is_in_sync(team, repo: Path, tmp_path: Path):
    env = team.env()
    sh(repo, str(BIN / "dvc"), "push", "-q", env=env)
    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    assert not (clone / "data").exists()
    sh(clone, str(BIN / "dvc"), "pull", "-q", env=env)
    assert digest(clone / "data") == digest(repo / "data")
    status = sh(clone, str(BIN / "dvc"), "status", "-c", env=env).stdout
    assert "in sync" in status, status


def test_two_runs_wait_for_dvc_s_lock_instead_of_failing(team_env, repo: Path):
    team = team_env
    """One process holds the repository's lock for a few seconds; danlu's DVC writes (and
    `dvc --wait-for-lock ...`) wait for it; plain `dvc status` fails at once, as DVC does."""
    from danlu.dvc_files import commit

    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom dvc.repo import Repo\n"
        f"with Repo({str(repo)!r}) as r, r.lock:\n"
        "    print('held', flush=True); time.sleep(6)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = sh(repo, str(BIN / "dvc"), "status", "data.dvc", env=team.env(), check=False)
        assert busy.returncode != 0 and "lock" in (busy.stdout + busy.stderr).lower()
        start = time.monotonic()
        assert commit(repo, "data.dvc")  # waited, then committed
        waited = time.monotonic() - start
        assert waited > 1.0, waited
    finally:
        holder.wait(timeout=60)
    waiting = subprocess.Popen([sys.executable, "-c", (
        "import time\nfrom dvc.repo import Repo\n"
        f"with Repo({str(repo)!r}) as r, r.lock:\n    time.sleep(4)\n")])
    try:
        time.sleep(1.5)
        out = sh(repo, str(BIN / "dvc"), "--wait-for-lock", "status", "data.dvc", env=team.env())
        assert out.returncode == 0
    finally:
        waiting.wait(timeout=60)
