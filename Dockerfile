# agentdesk: a small image that runs as a non-root user and installs only from the package
# registries (Debian's for git, PyPI's for Python packages).
#   docker build -t agentdesk .
#   docker build --build-arg AGENTDESK_EXTRAS=implement -t agentdesk:implement .
# The same image runs every process: `agentdesk serve` (the default), `agentdesk scheduler`,
# `agentdesk db upgrade`.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
# Optional extras of the agentdesk package, comma-separated (e.g. `implement`).
ARG AGENTDESK_EXTRAS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN python -m venv /opt/agentdesk \
    && /opt/agentdesk/bin/pip install --upgrade pip \
    && /opt/agentdesk/bin/pip install ".${AGENTDESK_EXTRAS:+[${AGENTDESK_EXTRAS}]}"

FROM python:${PYTHON_VERSION}-slim
# git: the repository tools clone and fetch the repositories agents may read (REPOS).
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --user-group agentdesk
COPY --from=build /opt/agentdesk /opt/agentdesk
WORKDIR /app
COPY --chown=agentdesk:agentdesk agents ./agents
COPY --chown=agentdesk:agentdesk manifest.json ./
RUN mkdir -p /app/data && chown agentdesk:agentdesk /app/data
USER agentdesk
ENV PATH=/opt/agentdesk/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AGENTS_DIR=/app/agents \
    DATABASE_URL=sqlite:////app/data/agentdesk.db \
    REPOS_CACHE_DIR=/app/data/repos \
    PORT=3000
EXPOSE 3000
# Liveness: the process answers and its database does (`/readyz` is for readiness).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '3000')}/healthz\", timeout=4)"]
CMD ["agentdesk", "serve"]
