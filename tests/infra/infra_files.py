"""What the infra tests share: the paths under infra/ and readers of the compose file, the env
example, the Dockerfiles and the work-pool templates."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
COMPOSE = INFRA / "compose.yaml"
ENV_EXAMPLE = INFRA / ".env.example"
DOCKER = INFRA / "docker"
POOLS = INFRA / "work-pools"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR; not $$ (an escape)
VAR_REF = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
ONE_SHOT = {"no", None}  # restart policy of jobs that run once and exit


# --- helpers ---------------------------------------------------------------------------------

def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def env_example() -> dict[str, str]:
    values = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", name), f".env.example:{number}: {line!r}"
        assert name not in values, f".env.example:{number}: {name} given twice"
        values[name] = value
    return values


def variables_used(text: str) -> set[str]:
    return {m.group(1) or m.group(4) for m in VAR_REF.finditer(text)}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation of one string, with `env` as the env file."""
    def replace(m: re.Match) -> str:
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3)
        if name in env and (env[name] != "" or op not in (":-", ":?")):
            return env[name]
        if op in (":-", "-"):
            return interpolate(arg, env)
        raise KeyError(f"{name} is not set")
    return VAR_REF.sub(replace, value).replace("$$", "$")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command", [])
    return cmd.split() if isinstance(cmd, str) else [str(part) for part in cmd]


def is_one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") in ONE_SHOT


def dockerfile(name: str) -> str:
    return (DOCKER / name).read_text()


def instructions(text: str, keyword: str) -> list[str]:
    """The arguments of every `keyword` instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    return [line.split(None, 1)[1] for line in joined.splitlines()
            if line.strip().upper().startswith(keyword + " ")]


def pool(name: str) -> dict[str, Any]:
    return json.loads((POOLS / name).read_text())


def defaults(template: dict[str, Any]) -> dict[str, Any]:
    return {name: spec["default"] for name, spec in template["variables"]["properties"].items()
            if spec.get("default") is not None}


def render(template: dict[str, Any], values: dict[str, Any] | None = None) -> dict[str, Any]:
    from prefect.utilities.templating import apply_values

    return apply_values(template["job_configuration"], {**defaults(template), **(values or {})})
