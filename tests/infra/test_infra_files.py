"""Static checks of infra/'s compose stack: every file parses, images are pinned, ports stay on
loopback, services wait for healthy dependencies, every variable is documented, and the Prefect
settings and MLflow flags are the ones the installed prefect 3.8.8 and mlflow 3.17.2 know.
Images and work-pool templates: test_infra_images_pools.py. No Docker engine needed."""

from __future__ import annotations

import configparser
import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from infra_files import (COMPOSE, INFRA, REPO, command, env_example, environment, interpolate, is_one_shot,
                         pool, services, variables_used)


def prefect_setting_names() -> set[str]:
    """Every environment variable the installed prefect (and prefect-redis) reads as a setting:
    each field's PREFECT_... name and its aliases, nested settings included."""
    import inspect

    from pydantic import AliasChoices
    from prefect.settings import Settings
    from prefect.settings.base import PrefectBaseSettings
    from prefect_redis.client import RedisMessagingSettings

    names: set[str] = set()

    def walk(cls: type[PrefectBaseSettings]) -> None:
        prefix = cls.model_config.get("env_prefix", "")
        for field_name, field in cls.model_fields.items():
            if inspect.isclass(field.annotation) and issubclass(field.annotation, PrefectBaseSettings):
                walk(field.annotation)
                continue
            names.add(f"{prefix}{field_name}".upper())
            if isinstance(field.validation_alias, AliasChoices):
                names.update(c.upper() for c in field.validation_alias.choices if isinstance(c, str))

    walk(Settings)
    walk(RedisMessagingSettings)
    return names


# --- every file parses ------------------------------------------------------------------------

def config_files() -> list[Path]:
    return sorted(p for p in INFRA.rglob("*") if p.is_file()
                  and (p.suffix in {".yaml", ".yml", ".json", ".ini"} or p.name == "aws-config"))


@pytest.mark.parametrize("path", config_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_config_file_parses(path: Path) -> None:
    text = path.read_text()
    if path.suffix in {".yaml", ".yml"}:
        assert isinstance(yaml.safe_load(text), dict)
    elif path.suffix == ".json":
        assert isinstance(json.loads(text), dict)
    else:
        parser = configparser.ConfigParser()
        parser.read_string(text, source=str(path))
        assert parser.sections(), f"{path}: no section"


def test_the_config_files_are_found() -> None:
    names = {p.name for p in config_files()}
    assert {"compose.yaml", "gpu-kubernetes.json", "gpu-docker.json", "basic_auth.ini"} <= names


@pytest.mark.parametrize("script", ["servers.sh", "postgres/init-databases.sh", "rustfs/create-buckets.sh"])
def test_shell_scripts_parse(script: str) -> None:
    shell = "sh" if script.endswith("create-buckets.sh") else "bash"
    result = subprocess.run([shell, "-n", str(INFRA / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- compose: images, ports, health, dependencies ---------------------------------------------

def test_every_image_is_pinned_to_a_tag() -> None:
    for name, service in services().items():
        image = service.get("image")
        assert image, f"{name}: no image (a built service names its image and tag too)"
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and not tag.endswith("-latest"), f"{name}: {image} is not pinned"


def test_built_images_have_their_dockerfile() -> None:
    built = {name: s["build"] for name, s in services().items() if "build" in s}
    assert set(built) == {"mlflow", "worker-cpu", "worker-gpu"}
    for name, build in built.items():
        context = (INFRA / build["context"]).resolve()
        assert context == REPO, f"{name}: the build context is the repository root"
        assert (context / build["dockerfile"]).is_file(), f"{name}: {build['dockerfile']} missing"


def published_ports() -> list[tuple[str, str]]:
    ports = []
    for name, service in services().items():
        for port in service.get("ports", []):
            ports.append((name, port))
        assert "expose" not in service or all(isinstance(p, (int, str)) for p in service["expose"])
    return ports


def test_every_port_binds_to_loopback_by_default() -> None:
    env = env_example()
    assert env["DANLU_BIND_ADDRESS"] == "127.0.0.1"
    ports = published_ports()
    assert {name for name, _ in ports} == {"prefect-server", "mlflow", "rustfs"}
    for name, port in ports:
        if isinstance(port, dict):  # long syntax
            host = str(port.get("host_ip", ""))
        else:
            parts = re.split(r":(?![^{]*\})", str(port))  # colons outside ${...}
            assert len(parts) == 3, f"{name}: {port!r} does not name the host address"
            host = parts[0]
        loopback_default = re.fullmatch(r"\$\{[A-Z_]+:-127\.0\.0\.1\}", host)
        assert host == "127.0.0.1" or loopback_default, f"{name}: {port!r} is not on 127.0.0.1"
        assert interpolate(host, env) == "127.0.0.1"
        assert interpolate(host, {}) == "127.0.0.1", f"{name}: without an env file too"


def test_databases_and_redis_publish_no_port() -> None:
    for name in ("postgres", "redis"):
        assert "ports" not in services()[name], f"{name} must stay on the compose network"


def test_every_long_running_service_has_a_healthcheck() -> None:
    long_running = {n for n, s in services().items() if not is_one_shot(s)}
    assert long_running >= {"postgres", "redis", "prefect-server", "prefect-services", "mlflow",
                            "rustfs", "worker-cpu", "worker-gpu"}
    for name in long_running:
        check = services()[name].get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name}: no healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, f"{name}: {check['test']!r}"


def test_one_shot_jobs_are_waited_for_until_they_succeed() -> None:
    jobs = {n for n, s in services().items() if is_one_shot(s)}
    assert jobs == {"bucket-init"}
    waited = {dep for s in services().values() for dep, spec in s.get("depends_on", {}).items()
              if spec.get("condition") == "service_completed_successfully"}
    assert waited == jobs


def test_every_dependency_exists_and_has_a_condition() -> None:
    all_services = services()
    for name, service in all_services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for dependency, spec in depends.items():
            assert dependency in all_services, f"{name} depends on unknown {dependency}"
            condition = spec.get("condition")
            assert condition in {"service_healthy", "service_completed_successfully"}, \
                f"{name} -> {dependency}: condition {condition!r}"
            if condition == "service_healthy":
                assert "healthcheck" in all_services[dependency], f"{dependency} has no healthcheck"
            else:
                assert is_one_shot(all_services[dependency])


def test_mounted_files_exist() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                assert (INFRA / source).is_file(), f"{name}: {source} is missing"


# --- compose: variables and secrets -----------------------------------------------------------

def test_every_variable_is_documented_in_env_example_and_back() -> None:
    used = variables_used(COMPOSE.read_text())
    documented = set(env_example())
    assert used - documented == set(), "used in compose.yaml, missing from .env.example"
    assert documented - used == set(), "in .env.example, unused by compose.yaml"


def test_the_compose_file_interpolates_with_the_example_env() -> None:
    env = env_example()
    text = COMPOSE.read_text()
    for line in text.splitlines():
        interpolate(line, env)  # raises on a required variable that is missing
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate(text, {k: v for k, v in env.items() if k != "POSTGRES_PASSWORD"})


def test_secrets_are_not_written_in_the_compose_file() -> None:
    secret = re.compile(r"PASSWORD|SECRET|AUTH_STRING|ACCESS_KEY|REDISCLI_AUTH")
    for name, service in services().items():
        for key, value in environment(service).items():
            if secret.search(key):
                assert variables_used(value), f"{name}: {key} is a literal, not ${{...}}"
    for url in re.findall(r"(?:postgresql(?:\+asyncpg)?|redis)://[^\s\"']+", COMPOSE.read_text()):
        userinfo = url.split("://", 1)[1].split("@", 1)
        if len(userinfo) == 2 and ":" in userinfo[0]:
            assert variables_used(userinfo[0].split(":", 1)[1]), f"literal password in {url}"


def test_env_example_names_only_real_prefect_and_mlflow_variables() -> None:
    """A PREFECT_ or MLFLOW_ name in the env file is the setting of that name, nothing else."""
    import mlflow.environment_variables as mlflow_env

    mlflow_names = {v.name for v in vars(mlflow_env).values() if hasattr(v, "name") and hasattr(v, "get")}
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" in mlflow_names
    prefect_names = prefect_setting_names()
    for name in env_example():
        if name.startswith("PREFECT_"):
            assert name in prefect_names, f"{name} is not a Prefect setting: call it DANLU_..."
        if name.startswith("MLFLOW_"):
            assert name in mlflow_names, f"{name} is not an MLflow variable: call it DANLU_..."


def test_env_example_holds_no_real_secret() -> None:
    for name, value in env_example().items():
        if re.search(r"PASSWORD|SECRET|AUTH_STRING", name):
            assert "CHANGE_ME" in value, f"{name}: give a placeholder, not a secret"


# --- Prefect ----------------------------------------------------------------------------------

def prefect_env_vars() -> dict[str, set[str]]:
    by_service: dict[str, set[str]] = {}
    for name, service in services().items():
        by_service[name] = {key for key in environment(service) if key.startswith("PREFECT_")}
    return by_service


def test_prefect_setting_names_exist_in_the_installed_prefect() -> None:
    known = prefect_setting_names()
    assert {"PREFECT_API_URL", "PREFECT_SERVER_API_AUTH_STRING",
            "PREFECT_REDIS_MESSAGING_HOST"} <= known  # the walker finds them
    assert "PREFECT_SERVER_API_CORS_ORIGINS" not in known
    for name, keys in prefect_env_vars().items():
        assert keys - known == set(), f"{name}: unknown Prefect settings"


def prefect_settings_of(service: str, monkeypatch: pytest.MonkeyPatch):
    from prefect.settings import Settings
    from prefect_redis.client import RedisMessagingSettings

    env = env_example()
    for key in list(__import__("os").environ):
        if key.startswith("PREFECT_"):
            monkeypatch.delenv(key)
    for key, value in environment(services()[service]).items():
        monkeypatch.setenv(key, interpolate(value, env))
    return Settings(), RedisMessagingSettings()


@pytest.mark.parametrize("service", ["prefect-server", "prefect-services"])
def test_prefect_server_settings_load_as_intended(service: str, monkeypatch) -> None:
    settings, redis = prefect_settings_of(service, monkeypatch)
    server = settings.server
    assert server.database.connection_url.get_secret_value().startswith("postgresql+asyncpg://prefect:")
    assert server.database.connection_url.get_secret_value().endswith("@postgres:5432/prefect")
    assert server.events.messaging_broker == "prefect_redis.messaging"
    assert server.events.messaging_cache == "prefect_redis.messaging"
    assert server.events.causal_ordering == "prefect_redis.ordering"
    assert server.concurrency.lease_storage == "prefect_redis.lease_storage"
    assert server.docket.url.startswith("redis://") and server.docket.url.endswith("@redis:6379/1")
    assert (redis.host, redis.port, redis.db) == ("redis", 6379, 0)
    assert redis.password == env_example()["REDIS_PASSWORD"]
    assert server.api.auth_string.get_secret_value() == env_example()["PREFECT_API_AUTH_STRING"]
    assert server.api.csrf_protection_enabled is True
    for setting in ("cors_allowed_origins", "cors_allowed_methods", "cors_allowed_headers"):
        assert "*" not in getattr(server.api, setting), f"{setting} allows everything"
    assert server.analytics_enabled is False


def cli_options(function) -> set[str]:
    """The --options of a prefect CLI command (cyclopts), read from its signature."""
    import inspect
    import typing

    options = set()
    for parameter in inspect.signature(function).parameters.values():
        for meta in getattr(parameter.annotation, "__metadata__", ()):
            for names in (getattr(meta, "name", None), getattr(meta, "alias", None)):
                if names:
                    options.update([names] if isinstance(names, str) else names)
            if "bool" in str(typing.get_args(parameter.annotation)[0]):  # --flag / --no-flag
                options.update(f"--no-{n[2:]}" for n in (getattr(meta, "name", None) or ()))
    return options


def test_prefect_commands_use_options_the_installed_cli_has() -> None:
    from prefect.cli.server import start, start_services
    from prefect.cli.worker import start as worker_start

    commands = {("prefect", "server", "start"): start, ("prefect", "server", "services", "start"): start_services,
                ("prefect", "worker", "start"): worker_start}
    seen = 0
    for name, service in services().items():
        cmd = command(service)
        for prefix, function in commands.items():
            if tuple(cmd[:len(prefix)]) == prefix:
                seen += 1
                flags = {part.split("=", 1)[0] for part in cmd[len(prefix):] if part.startswith("-")}
                assert flags - cli_options(function) == set(), f"{name}: unknown options"
    assert seen == 4
    assert "--with-healthserver" not in cli_options(worker_start)  # the check can fail


def test_prefect_api_and_services_run_apart() -> None:
    assert command(services()["prefect-server"])[:3] == ["prefect", "server", "start"]
    assert "--no-services" in command(services()["prefect-server"])
    assert command(services()["prefect-services"]) == ["prefect", "server", "services", "start"]


@pytest.mark.parametrize("service,pool", [("worker-cpu", "cpu"), ("worker-gpu", "gpu")])
def test_workers_poll_their_pool_with_a_limit(service: str, pool: str, monkeypatch) -> None:
    cmd = command(services()[service])
    assert cmd[:3] == ["prefect", "worker", "start"]
    assert cmd[cmd.index("--pool") + 1] == pool
    assert interpolate(cmd[cmd.index("--limit") + 1], env_example()).isdigit()
    assert "--with-healthcheck" in cmd
    settings, _ = prefect_settings_of(service, monkeypatch)
    assert settings.api.url == "http://prefect-server:4200/api"
    assert settings.api.auth_string.get_secret_value() == env_example()["PREFECT_API_AUTH_STRING"]
    assert settings.worker.webserver.port == 8080  # the port the healthcheck calls
    assert "8080/health" in " ".join(services()[service]["healthcheck"]["test"])


def test_the_gpu_worker_reserves_nvidia_gpus() -> None:
    worker = services()["worker-gpu"]
    assert worker["profiles"] == ["gpu"], "a host without GPUs starts the stack without it"
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices and all(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert "deploy" not in services()["worker-cpu"]
    assert services()["worker-gpu"]["build"]["dockerfile"].endswith("worker-cuda.Dockerfile")


# --- MLflow -----------------------------------------------------------------------------------

def mlflow_server_options() -> tuple[set[str], Any]:
    from mlflow.cli import server

    options = {opt for p in server.params for opt in (*p.opts, *p.secondary_opts)}
    app_name = next(p for p in server.params if p.name == "app_name")
    return options, app_name


def test_mlflow_server_flags_exist_in_the_installed_mlflow() -> None:
    options, app_name = mlflow_server_options()
    help_text = subprocess.run([sys.executable, "-m", "mlflow", "server", "--help"],
                               capture_output=True, text=True, check=True).stdout
    cmd = command(services()["mlflow"])
    assert cmd[:2] == ["mlflow", "server"]
    flags = {part.split("=", 1)[0] for part in cmd[2:] if part.startswith("-")}
    assert flags - options == set(), "flags that `mlflow server` does not know"
    assert all(flag in help_text for flag in flags)
    assert {"--serve-artifacts", "--artifacts-destination", "--app-name", "--allowed-hosts",
            "--cors-allowed-origins", "--backend-store-uri"} <= flags
    values = dict(part.split("=", 1) for part in cmd[2:] if "=" in part)
    assert values["--backend-store-uri"].startswith("postgresql+psycopg2://"), "the image has psycopg2 only"
    assert values["--app-name"] == "basic-auth" and "basic-auth" in app_name.type.choices
    assert interpolate(values["--artifacts-destination"], env_example()) == "s3://mlflow"
    assert "*" not in interpolate(values["--cors-allowed-origins"], env_example())
    assert interpolate(values["--allowed-hosts"], env_example()) != "*"


def test_mlflow_auth_config_denies_by_default_and_takes_the_admin_from_env(monkeypatch) -> None:
    from mlflow.server.auth.config import read_auth_config
    from mlflow.server.auth.permissions import get_permission
    from sqlalchemy.engine import make_url

    mlflow_env = environment(services()["mlflow"])
    mount = next(v for v in services()["mlflow"]["volumes"] if "basic_auth.ini" in v)
    assert mount.split(":")[1] == mlflow_env["MLFLOW_AUTH_CONFIG_PATH"]
    assert {"MLFLOW_FLASK_SERVER_SECRET_KEY", "MLFLOW_AUTH_ADMIN_USERNAME",
            "MLFLOW_AUTH_ADMIN_PASSWORD", "PGUSER", "PGPASSWORD"} <= set(mlflow_env)

    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(INFRA / mount.split(":")[0]))
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_USERNAME", "team-admin")
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", "from-env")
    config = read_auth_config()
    assert config.default_permission == "NO_PERMISSIONS"
    assert not get_permission(config.default_permission).can_read
    assert (config.admin_username, config.admin_password) == ("team-admin", "from-env")
    url = make_url(config.database_uri)
    assert (url.get_backend_name(), url.host, url.database) == ("postgresql", "postgres", "mlflow_auth")
    assert url.get_driver_name() == "psycopg2", "SQLAlchemy 2.1's default postgresql driver is psycopg 3"
    assert url.username is None and url.password is None, "credentials come from PGUSER/PGPASSWORD"


def test_the_databases_the_services_use_are_the_ones_created() -> None:
    script = (INFRA / "postgres" / "init-databases.sh").read_text()
    created = set(re.findall(r"CREATE DATABASE (\w+)", script))
    assert created == {"prefect", "mlflow", "mlflow_auth"}
    text = COMPOSE.read_text() + (INFRA / "mlflow" / "basic_auth.ini").read_text()
    used = set(re.findall(r"postgres:5432/(\w+)", text))
    assert used == created


# --- the Prefect services' healthcheck --------------------------------------------------------

def healthcheck_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("services_healthcheck", INFRA / "prefect" / "services_healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_services_healthcheck_finds_the_services_process(tmp_path: Path) -> None:
    check = healthcheck_module()
    (tmp_path / "self").mkdir()
    (tmp_path / "12").mkdir()
    (tmp_path / "12" / "cmdline").write_bytes(b"/usr/bin/python\0/usr/local/bin/prefect\0server\0start\0")
    assert not check.services_running(tmp_path)
    (tmp_path / "13").mkdir()
    (tmp_path / "13" / "cmdline").write_bytes(b"/usr/bin/python\0/usr/local/bin/prefect\0server\0services\0start\0")
    assert check.services_running(tmp_path)


def test_services_healthcheck_checks_redis(monkeypatch) -> None:
    check = healthcheck_module()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        monkeypatch.setenv("PREFECT_REDIS_MESSAGING_HOST", "127.0.0.1")
        monkeypatch.setenv("PREFECT_REDIS_MESSAGING_PORT", str(port))
        assert check.redis_reachable()
    assert not check.redis_reachable()
