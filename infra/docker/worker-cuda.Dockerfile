# A danlu worker on NVIDIA GPUs: the same install as worker.Dockerfile, with torch 2.13.0's CUDA
# build. Build from the repository root:
#   docker build -f infra/docker/worker-cuda.Dockerfile -t danlu-worker-cuda:0.1.0 .
#
# torch 2.13.0 is published for cu126, cu129, cu130 and cu132 (no cu128 since 2.12); the default
# here is cu130, PyTorch's stable CUDA line, from https://download.pytorch.org/whl/cu130: it needs
# an NVIDIA driver >= 580 on the host. For an older driver (>= 560) build with
#   --build-arg TORCH_CUDA=cu126 --build-arg CUDA_IMAGE=nvidia/cuda:12.6.3-runtime-ubuntu24.04
# The torch wheel brings its own CUDA libraries (nvidia-* packages); the base image gives the
# container toolkit's environment (NVIDIA_VISIBLE_DEVICES, NVIDIA_DRIVER_CAPABILITIES).
ARG CUDA_IMAGE=nvidia/cuda:13.0.2-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

ARG TORCH_CUDA=cu130
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_PYTHON_INSTALL_DIR=/opt/python \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DO_NOT_TRACK=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

# Ubuntu 24.04 ships Python 3.12; the project (and the CPU image) runs 3.11: uv installs a
# standalone CPython 3.11 for the virtual environment.
RUN python3 -m venv /opt/bootstrap \
    && /opt/bootstrap/bin/pip install uv==0.13.9 \
    && /opt/bootstrap/bin/uv python install 3.11 \
    && /opt/bootstrap/bin/uv venv --python 3.11 --seed /opt/venv \
    && pip install pip==26.3 \
    && pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/${TORCH_CUDA} \
    && pip install uv==0.13.9 \
    && rm -rf /opt/bootstrap

WORKDIR /opt/danlu
COPY requirements.lock ./
RUN uv pip install --compile-bytecode --python /opt/venv/bin/python -r requirements.lock

COPY pyproject.toml README.md params.yaml dvc.yaml ./
COPY src ./src
COPY flows ./flows
# editable, as `make setup` does: flows/ and params.yaml stay at /opt/danlu, the project path
# that `danlu deploy` gives its deployments (the same in the cpu and the gpu image). gcc builds
# the extractor's C extension (danlu.curate._blockscan) and leaves with the apt lists.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && CC=gcc uv pip install --python /opt/venv/bin/python --no-deps -e . \
    && apt-get purge -y --auto-remove gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* \
    && python -m compileall -q src flows \
    && python -c "import danlu.curate._blockscan, torch, danlu, flows, psycopg2, boto3, dvc_s3, prefect_redis; \
assert torch.__version__.split('+')[0] == '2.13.0', torch.__version__; \
assert torch.version.cuda, 'not a CUDA build of torch'"

# the project folder is the user's: a flow run may write beside the code (caches, locks)
RUN useradd --create-home --uid 10001 --shell /bin/bash danlu \
    && mkdir -p /workspace && chown -R danlu:danlu /workspace /opt/danlu
USER danlu
WORKDIR /workspace

CMD ["prefect", "worker", "start", "--pool", "gpu", "--type", "process"]
