# syntax=docker/dockerfile:1
# The celeriac image: one image for `celeriac worker`, `celeriac beat` and
# `celeriac operator` (ENTRYPOINT celeriac). Build:
#   docker build -t celeriac .
# Your tasks go on top:  FROM celeriac  /  COPY myapp/ /app/myapp/  (WORKDIR is /app,
# which `-A myapp` imports from).
# Offline builds: put wheels of the dependencies (and of hatchling, the build backend) in
# ./wheelhouse and pass --build-arg PIP_NO_INDEX=1; pip then reads nothing but those.
ARG BASE=python:3.11-slim

# Stage 1: build the project's wheel from the sources.
FROM ${BASE} AS wheel
ARG PIP_NO_INDEX
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY . .
RUN python3 -m venv /tmp/build \
 && /tmp/build/bin/pip wheel --no-deps --find-links /src/wheelhouse --wheel-dir /dist . \
 && if [ -d wheelhouse ]; then cp wheelhouse/*.whl /dist/; fi

# Stage 2: a virtualenv holding celeriac, its operator extra and their dependencies.
FROM ${BASE} AS venv
ARG PIP_NO_INDEX
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
COPY --from=wheel /dist/ /dist/
RUN python3 -m venv /opt/celeriac \
 && /opt/celeriac/bin/pip install --no-cache-dir --find-links /dist "celeriac[operator]" \
 && /opt/celeriac/bin/pip uninstall --yes pip setuptools

# Stage 3: the runtime. No compilers, no pip, no caches: the base plus the venv.
FROM ${BASE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="celeriac" \
      org.opencontainers.image.description="A distributed task queue in the spirit of Celery, native to Kubernetes: worker, beat and operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/celeriac/celeriac" \
      org.opencontainers.image.documentation="https://github.com/celeriac/celeriac/blob/main/docs/kubernetes.md"
RUN groupadd --gid 10001 celeriac \
 && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /app \
      --no-create-home --shell /usr/sbin/nologin celeriac \
 && mkdir -p /app \
 && chown 10001:10001 /app
COPY --from=venv /opt/celeriac /opt/celeriac
# PYTHONDONTWRITEBYTECODE: the root filesystem is read-only on Kubernetes (the venv is
# compiled already). PROMETHEUS_MULTIPROC_DIR is set by the chart where an emptyDir is
# mounted, never here.
ENV PATH=/opt/celeriac/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
WORKDIR /app
USER 10001:10001
# Exec form: celeriac is PID 1 and gets SIGTERM itself (a worker drains: stops fetching,
# hands prefetched messages back, lets running tasks finish within the shutdown timeout).
ENTRYPOINT ["celeriac"]
CMD ["--help"]
