# jes-runner image: a wheel built in a builder stage, installed with its
# dependencies into a virtualenv that the runtime stage copies. The runtime runs
# as UID/GID 10001, needs no writable root filesystem (only the results volume
# and /tmp), and handles SIGTERM itself (exec-form ENTRYPOINT: PID 1 is the runner).
#
#   docker build -t jes-runner .      # or: podman build -t jes-runner .   (public base, network)
#   az acr build -r MYACR -t jes-runner:0.1.0 .        # no BuildKit needed: classic syntax only
#   docker build --platform linux/amd64 -t jes-runner . # from Apple Silicon for AKS (amd64 nodes)
#   .ci/build-image                   # offline, on a local debootstrap base (these CI machines)
#
# Size (~235 MB on python:3.11-slim): the image holds what the scheduled runner imports.
# Left out: the `report` extra (matplotlib, numpy, Pillow, openpyxl: ~150 MB; the image
# sets JES_REPORT=false -- write reports from the results files elsewhere), the kubernetes
# client's asyncio stack (aiohttp and its helpers: never imported by the runner) and the
# kubernetes client's bytecode (~50 MB; it loads its API modules lazily, ~0.2 s a run).
#
# Offline builds: put wheels (dependencies, setuptools, wheel) in .ci-work/wheels and pass
#   --build-arg WHEELS_DIR=/src/.ci-work/wheels --network none
# A TLS-inspecting proxy's CA is never in the shipped image: copy it into the context as
# .ci-work/pip-ca.pem and pass --build-arg PIP_CA=/src/.ci-work/pip-ca.pem; only the builder
# stage (never pushed) sees it. No `RUN --mount`: plain `docker build` without BuildKit,
# `podman build` and `az acr build` all read this file.

ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- builder
FROM ${BASE_IMAGE} AS builder
# lets .ci/build-image prune this stage's leftover image after a build
LABEL io.jes-runner.stage=builder
# Offline: install only from these wheels (a path in the build context, under /src).
ARG WHEELS_DIR=""
# A CA bundle for pip behind a TLS-inspecting proxy (a path under /src); empty: the system's.
ARG PIP_CA=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY . /src
RUN set -eu; \
    if [ -n "$PIP_CA" ]; then export PIP_CERT="$PIP_CA"; fi; \
    if [ -n "$WHEELS_DIR" ]; then export PIP_NO_INDEX=1 PIP_FIND_LINKS="$WHEELS_DIR"; fi; \
    python3 -m venv /opt/build && \
    /opt/build/bin/pip wheel --no-deps --wheel-dir /dist /src && \
    python3 -m venv --without-pip /opt/venv && \
    /opt/build/bin/pip --python /opt/venv/bin/python install /dist/jes_runner-*.whl && \
    /opt/build/bin/pip --python /opt/venv/bin/python uninstall -y -q \
        aiohttp aiohttp-retry aiohappyeyeballs aiosignal frozenlist multidict propcache yarl && \
    find /opt/venv/lib -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} + && \
    find /opt/venv/lib -depth -type d -name __pycache__ -exec rm -rf {} + && \
    /opt/venv/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
        -x '/site-packages/kubernetes/' /opt/venv/lib >/dev/null && \
    /opt/venv/bin/python -c "import jes_runner.cli.main, jes_runner.cli.session, jes_runner.runner, \
        jes_runner.kube.lifecycle, jes_runner.sinks.metrics.push, jes_runner.measure.preflight, \
        kubernetes.client, kubernetes.config, kubernetes.watch" && \
    /opt/venv/bin/jes-runner --help >/dev/null && /opt/venv/bin/jes-runner run --help >/dev/null

# ---------------------------------------------------------------- runtime
FROM ${BASE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="jes-runner" \
      org.opencontainers.image.description="Measure SAS Viya batch jobs run sequentially versus concurrently; results JSON and Prometheus metrics." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/jes-runner/jes-runner" \
      org.opencontainers.image.vendor="jes-runner"

RUN set -eu; \
    groupadd --gid 10001 jes; \
    useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
            --shell /usr/sbin/nologin jes; \
    mkdir -p /app/config /results; \
    chown 10001:10001 /results; \
    chmod 0775 /results

COPY --from=builder /opt/venv /opt/venv
COPY config/job_configs.json /app/config/job_configs.json

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    JES_REPORT=false \
    JES_JOB_CONFIG=/app/config/job_configs.json \
    JES_OUTPUT_DIR=/results \
    JES_SECRETS_DIR=/var/run/secrets/jes

WORKDIR /app
USER 10001:10001
ENTRYPOINT ["jes-runner"]
CMD ["run"]
