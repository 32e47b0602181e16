# The Storefront API image.
#
# Build:  docker build -t storefront-app .
# Any Debian-based image with Python 3.11 at `python3` can be the base (both stages must use
# the same one, because the virtual environment links to the base's interpreter):
#         docker build --build-arg BASE_IMAGE=my-python:3.11 -t storefront-app .
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
# builder: resolves nothing, installs exactly what uv.lock pins into /opt/venv.
FROM ${BASE_IMAGE} AS builder
ARG UV_VERSION=0.13.9
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON=python3 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
# uv lives in a throwaway virtual environment: this works on any Debian-based Python, including
# ones whose system interpreter refuses pip installs (PEP 668).
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install "uv==${UV_VERSION}"
WORKDIR /app
# Dependencies first, alone, so editing the sources (or the README, which only the project's
# own metadata reads) does not reinstall them.
COPY pyproject.toml uv.lock ./
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-install-project
COPY app/ ./app/
COPY operator/storefront_operator/ ./operator/storefront_operator/
COPY migrations/ ./migrations/
# alembic.ini is optional (the app configures Alembic in code); the glob lets it be absent.
COPY README.md pyproject.toml alembic.in[i] ./
# The project itself is installed pointing at /app (editable), so the code that runs is the
# code in /app: the one directory the development loop syncs changed files into.
RUN /opt/uv/bin/uv sync --frozen --no-dev \
 && find /app -name '__pycache__' -prune -exec rm -rf {} + \
 && python3 -m compileall -q /app/app /app/operator /app/migrations

# ---------------------------------------------------------------------------------------------
# runtime: the interpreter, the virtual environment and the sources; no uv, no pip cache,
# no compilers, no tests. Runs as a numeric non-root user and writes nothing outside /tmp,
# so it works with readOnlyRootFilesystem and an emptyDir at /tmp.
FROM ${BASE_IMAGE} AS runtime
RUN groupadd --system --gid 10001 storefront \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin storefront
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
ENV PATH=/opt/venv/bin:${PATH} \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TMPDIR=/tmp
# The version, commit and date come last: a build argument in scope changes the cache key of
# every RUN after it, so declared earlier a new commit would copy the whole environment again.
# Here a commit that changes no file of the image changes only its metadata, not its layers.
ARG STOREFRONT_VERSION=0.0.0-dev
ARG STOREFRONT_GIT_SHA=unknown
ARG BUILD_DATE=unknown
LABEL org.opencontainers.image.title="storefront-app" \
      org.opencontainers.image.description="Storefront commerce API (FastAPI on uvicorn)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Storefront" \
      org.opencontainers.image.version="${STOREFRONT_VERSION}" \
      org.opencontainers.image.revision="${STOREFRONT_GIT_SHA}" \
      org.opencontainers.image.created="${BUILD_DATE}"
ENV STOREFRONT_VERSION=${STOREFRONT_VERSION} \
    STOREFRONT_GIT_SHA=${STOREFRONT_GIT_SHA}
WORKDIR /app
USER 10001:10001
EXPOSE 8000
CMD ["python", "-m", "app.cli", "serve"]

# ---------------------------------------------------------------------------------------------
# dev: the runtime image serving with auto-reload, for `skaffold dev`. The root filesystem
# stays read-only, so the sources are copied to /tmp/src (an emptyDir) at start; skaffold's
# file sync writes changed files there and uvicorn reloads.
FROM runtime AS dev
ENV STOREFRONT_DEV_SOURCE_DIR=/tmp/src
CMD ["/bin/sh", "-c", "mkdir -p \"$STOREFRONT_DEV_SOURCE_DIR\" && cp -R /app/. \"$STOREFRONT_DEV_SOURCE_DIR\" && cd \"$STOREFRONT_DEV_SOURCE_DIR\" && exec python -m uvicorn app.main:app --host 0.0.0.0 --port 8000 --reload --reload-dir \"$STOREFRONT_DEV_SOURCE_DIR/app\""]

# The last stage is what a plain `docker build` produces: the production image.
FROM runtime
