# A danlu worker on CPU: the project installed the way `make setup` does it (torch 2.13.0 first,
# CPU build; then the locked tree with uv; then danlu without dependencies), running
# `prefect worker start` as an unprivileged user. Build from the repository root:
#   docker build -f infra/docker/worker.Dockerfile -t danlu-worker:0.1.0 .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DO_NOT_TRACK=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

# git: DVC and Prefect's git pull steps
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# torch first, by its pin: the CPU build, from PyTorch's CPU index (PyPI's Linux wheel pulls
# several GB of CUDA libraries)
RUN python -m venv /opt/venv \
    && pip install pip==26.3 \
    && pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install uv==0.13.9

WORKDIR /opt/danlu
# the lock alone first, so that a code change does not reinstall the dependencies
COPY requirements.lock ./
# the lock holds every extra (test, bench, dask, team): the team extra's psycopg2, boto3,
# dvc-s3, Flask-WTF and prefect-redis among them
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
assert torch.__version__.split('+')[0] == '2.13.0', torch.__version__"

# the project folder is the user's: a flow run may write beside the code (caches, locks)
RUN useradd --create-home --uid 10001 --shell /bin/bash danlu \
    && mkdir -p /workspace && chown -R danlu:danlu /workspace /opt/danlu
USER danlu
WORKDIR /workspace

CMD ["prefect", "worker", "start", "--pool", "cpu", "--type", "process"]
