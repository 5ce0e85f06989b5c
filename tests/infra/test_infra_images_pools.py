"""Static checks of infra/'s images and work-pool templates: base images pinned, workers install
the locked project (the CPU or the CUDA build of torch), the build context sends what the images
copy, and the pool templates pass the installed prefect's validation and request GPUs."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from infra_files import DOCKER, REPO, defaults, dockerfile, instructions, pool, render


# --- Dockerfiles ------------------------------------------------------------------------------

def project_torch_pin() -> str:
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d for d in deps if d.startswith("torch=="))


@pytest.mark.parametrize("name", ["worker.Dockerfile", "worker-cuda.Dockerfile", "mlflow.Dockerfile"])
def test_base_images_are_pinned(name: str) -> None:
    text = dockerfile(name)
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.M))
    for base in instructions(text, "FROM"):
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base.split()[0])
        _, _, tag = image.rpartition(":")
        assert tag and "/" not in tag and tag != "latest", f"{name}: {image} is not pinned"


@pytest.mark.parametrize("name", ["worker.Dockerfile", "worker-cuda.Dockerfile"])
def test_worker_images_install_the_locked_project_as_make_setup_does(name: str) -> None:
    text = dockerfile(name)
    runs = instructions(text, "RUN")
    torch = [r for r in runs if f"pip install {project_torch_pin()}" in r]
    assert torch, f"{name}: torch is not installed by its pin ({project_torch_pin()})"
    lock = [i for i, r in enumerate(runs) if "-r requirements.lock" in r and "uv pip install" in r]
    own = [i for i, r in enumerate(runs) if re.search(r"--no-deps (-e )?\.( |$)", r)]
    assert lock and own and runs.index(torch[0]) < lock[0] < own[0], "torch, then the lock, then danlu"
    assert "requirements.lock" in " ".join(instructions(text, "COPY"))
    users = instructions(text, "USER")
    assert users and users[-1].strip() not in {"root", "0"}, f"{name}: runs as root"


def test_the_cpu_worker_gets_the_cpu_build_of_torch() -> None:
    text = dockerfile("worker.Dockerfile")
    assert instructions(text, "FROM")[0].startswith("python:3.11-slim")
    assert f"{project_torch_pin()} --index-url https://download.pytorch.org/whl/cpu" in text


def test_the_cuda_worker_gets_a_cuda_build_of_torch() -> None:
    text = dockerfile("worker-cuda.Dockerfile")
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.M))
    assert re.fullmatch(r"nvidia/cuda:[\d.]+-(cudnn-)?runtime-ubuntu[\d.]+", args["CUDA_IMAGE"])
    # the CUDA builds PyTorch publishes for torch 2.13.0
    assert args["TORCH_CUDA"] in {"cu126", "cu129", "cu130", "cu132"}
    cuda = re.search(r"cuda:(\d+)\.(\d+)", args["CUDA_IMAGE"]).groups()
    assert args["TORCH_CUDA"] == f"cu{cuda[0]}{cuda[1]}", "the base image's CUDA is torch's"
    assert f"{project_torch_pin()} --index-url https://download.pytorch.org/whl/${{TORCH_CUDA}}" in text
    assert "python install 3.11" in text


def test_the_lock_holds_the_team_extra_the_workers_rely_on() -> None:
    import tomllib

    team = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["team"]
    lock = (REPO / "requirements.lock").read_text().lower()
    for requirement in team:
        assert requirement.lower().replace("_", "-") in lock.replace("_", "-"), requirement


def test_the_mlflow_image_pins_what_the_lock_pins() -> None:
    lock = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (REPO / "requirements.lock").read_text(), re.M))
    lock = {k.lower().replace("_", "-"): v for k, v in lock.items()}
    pins = re.findall(r"([A-Za-z0-9_.-]+)==([\w.]+)", " ".join(instructions(dockerfile("mlflow.Dockerfile"), "RUN")))
    assert {name.lower() for name, _ in pins} >= {"mlflow", "psycopg2-binary", "boto3", "flask-wtf"}
    for name, version in pins:
        assert lock[name.lower().replace("_", "-")] == version, f"{name}=={version} differs from the lock"
    assert instructions(dockerfile("mlflow.Dockerfile"), "FROM")[0] == f"ghcr.io/mlflow/mlflow:v{lock['mlflow']}"


@pytest.mark.parametrize("name", ["worker.Dockerfile", "worker-cuda.Dockerfile"])
def test_the_build_context_sends_what_the_image_copies(name: str) -> None:
    ignore = (DOCKER / f"{name}.dockerignore").read_text().splitlines()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore
    for copy in instructions(dockerfile(name), "COPY"):
        for source in copy.split()[:-1]:
            assert source.rstrip("/") in kept, f"{name}: COPY {source} is excluded from the context"


# --- work-pool templates ----------------------------------------------------------------------

@pytest.mark.parametrize("name,pool_type", [("gpu-kubernetes.json", "kubernetes"), ("gpu-docker.json", "docker")])
def test_pool_templates_pass_prefects_validation(name: str, pool_type: str) -> None:
    from prefect._internal.schemas.validators import validate_values_conform_to_schema
    from prefect.server.schemas.actions import WorkPoolCreate
    from prefect.utilities.templating import find_placeholders

    template = pool(name)
    assert set(template) == {"job_configuration", "variables"}
    WorkPoolCreate(name="gpu", type=pool_type, base_job_template=template)
    validate_values_conform_to_schema(defaults(template), template["variables"])
    placeholders = {p.name for p in find_placeholders(json.dumps(template["job_configuration"]))}
    assert placeholders == set(template["variables"]["properties"]), "variables nobody uses"

    broken = json.loads(json.dumps(template))
    del broken["variables"]["properties"]["image"]
    with pytest.raises(ValueError, match="image"):
        WorkPoolCreate(name="gpu", type=pool_type, base_job_template=broken)


@pytest.mark.parametrize("name", ["gpu-kubernetes.json", "gpu-docker.json"])
def test_pool_templates_build_a_prefect_job_configuration(name: str) -> None:
    from prefect.workers.base import BaseJobConfiguration

    class NoClient:  # the templates reference no block and no variable: the client is not called
        def __getattr__(self, attribute):
            raise AssertionError(f"the client was used: {attribute}")

    config = asyncio.run(BaseJobConfiguration.from_template_and_values(
        pool(name), {"env": {"DANLU_X": "1"}}, client=NoClient()))
    assert config.env == {"DANLU_X": "1"}


def k8s_container(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["spec"]["template"]["spec"]["containers"][0]


def test_the_kubernetes_template_limits_gpus_through_a_variable() -> None:
    template = pool("gpu-kubernetes.json")
    gpu = template["variables"]["properties"]["gpu_limit"]
    assert (gpu["type"], gpu["default"]) == ("integer", 1)
    manifest = render(template)["job_manifest"]
    assert (manifest["apiVersion"], manifest["kind"]) == ("batch/v1", "Job")
    container = k8s_container(manifest)
    assert container["name"] == "prefect-job"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "cpu" not in container["resources"]["limits"], "unset variables drop their keys"
    assert k8s_container(render(template, {"gpu_limit": 4})["job_manifest"])["resources"]["limits"]["nvidia.com/gpu"] == 4
    pod = manifest["spec"]["template"]["spec"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["volumes"][0]["emptyDir"]["medium"] == "Memory"
    assert container["volumeMounts"][0]["mountPath"] == "/dev/shm"
    assert container["envFrom"][0]["secretRef"]["optional"] is True


def test_the_kubernetes_template_keeps_prefects_default_fields() -> None:
    """The fields the Kubernetes worker (prefect-kubernetes 0.8.0) reads from its configuration."""
    config = pool("gpu-kubernetes.json")["job_configuration"]
    assert {"command", "env", "labels", "name", "namespace", "annotations", "job_manifest", "cluster_config",
            "job_watch_timeout_seconds", "pod_watch_timeout_seconds", "stream_output"} <= set(config)
    container = k8s_container(config["job_manifest"])
    assert (container["env"], container["args"], container["image"]) == ("{{ env }}", "{{ command }}", "{{ image }}")


def test_the_docker_template_requests_nvidia_devices() -> None:
    from docker.types import DeviceRequest

    template = pool("gpu-docker.json")
    kwargs = render(template)["container_create_kwargs"]
    requests = [DeviceRequest(**r) for r in kwargs["device_requests"]]
    assert [(r.driver, r.count, r.capabilities) for r in requests] == [("nvidia", -1, [["gpu"]])]
    chosen = render(template, {"container_create_kwargs": {"device_requests": [
        {"driver": "nvidia", "device_ids": ["1"], "capabilities": [["gpu"]]}]}})
    assert DeviceRequest(**chosen["container_create_kwargs"]["device_requests"][0]).device_ids == ["1"]
    description = template["variables"]["properties"]["container_create_kwargs"]["description"]
    assert "device_requests" in description and "device_ids" in description
