# The production sandbox image: where the coding agent and the repository's
# own build and test commands run (one container per job, see
# docs/ARCHITECTURE.md "Sandbox"). One stage per agent profile, on a common
# toolchain base:
#
#   docker build -f docker/sandbox.Dockerfile --target claude-code -t maxion-sandbox:claude-code docker/
#   (targets: base, claude-code, codex, mini-swe-agent, pi, all)
#
# Builds with BuildKit and with the classic builder (DOCKER_BUILDKIT=0, as
# .ci/run does where the CLI has no buildx plugin).
#
# BASE_IMAGE is the Debian image to start from: the public one where a
# registry is reachable, or one made without a registry by
# docker/make-debian-base.sh (debootstrap), e.g.
#   --build-arg BASE_IMAGE=maxion-debian-base:bookworm
#
# Maxion itself never pulls: a missing image fails the job with this command.
# Maxion needs from the image: sh, tar, timeout, df, sleep, mkdir (coreutils
# and tar), a user with uid/gid 1000, and the directories /workspace and
# /home/sandbox (the run-time tmpfs mounts land on them). The agents' versions
# are the ones docker/build-test-image.sh pins and the tests run.
ARG BASE_IMAGE=debian:bookworm-slim
# pi needs Node.js 22.19 or newer (Debian bookworm has 18): its stage takes
# node from this image.
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${BASE_IMAGE} AS base
ARG DEBIAN_FRONTEND=noninteractive
# The toolchains most repositories need. No sudo: nothing in the sandbox may
# become root.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        bash coreutils tar git ca-certificates curl procps \
        build-essential pkg-config \
        python3 python3-pip python3-venv \
        nodejs npm \
    && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
RUN groupadd --gid 1000 sandbox \
    && useradd --uid 1000 --gid 1000 --home-dir /home/sandbox --shell /bin/bash sandbox \
    && mkdir -p /workspace /home/sandbox \
    && chown 1000:1000 /workspace /home/sandbox
ENV HOME=/home/sandbox \
    LANG=C.UTF-8 \
    PATH=/home/sandbox/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NPM_CONFIG_PREFIX=/home/sandbox/.local
WORKDIR /workspace
CMD ["sleep", "infinity"]

# The stages that download (PyPI, npm) trust the certificates in
# docker/build-ca/*.pem besides the image's own bundle: for builds behind a
# TLS-intercepting proxy (.ci/run puts the machine's bundle there). Only these
# stages see them; the agent stages copy the programs out, never the
# certificates. Sourcing /tmp/trust.sh points pip and npm at them.
FROM base AS fetch
USER root
COPY build-ca/ /tmp/build-ca/
RUN printf '%s\n' \
        'set -- /tmp/build-ca/*.pem' \
        'if [ -e "$1" ]; then cat /etc/ssl/certs/ca-certificates.crt "$@" >/tmp/build-ca.bundle' \
        '  export PIP_CERT=/tmp/build-ca.bundle NPM_CONFIG_CAFILE=/tmp/build-ca.bundle; fi' >/tmp/trust.sh \
    && python3 -m venv /tmp/dl

# Codex CLI 0.163.0 (OpenAI's openai-codex-cli-bin wheel) and its ripgrep,
# taken out of the wheel. Each agent's download is a stage of its own, ahead
# of the stages that need it, so that a build of one target (also by the
# classic builder, which builds every stage before the target) fetches only
# that agent.
FROM fetch AS codex-bin
ARG CODEX_CLI_BIN_VERSION=0.163.0
RUN . /tmp/trust.sh \
    && /tmp/dl/bin/pip download --no-cache-dir --no-deps --only-binary=:all: -d /wheels \
        "openai-codex-cli-bin==${CODEX_CLI_BIN_VERSION}" \
    && python3 -c 'import glob, zipfile; [zipfile.ZipFile(w).extractall("/x") for w in glob.glob("/wheels/*.whl")]' \
    && install -m 0755 /x/codex_cli_bin/bin/codex /usr/local/bin/codex \
    && install -m 0755 /x/codex_cli_bin/codex-path/rg /usr/local/bin/rg

FROM base AS codex
COPY --from=codex-bin /usr/local/bin/codex /usr/local/bin/rg /usr/local/bin/
USER 1000:1000

# Claude Code 2.1.332: the binary bundled in PyPI's claude-agent-sdk wheel.
FROM fetch AS claude-bin
ARG CLAUDE_AGENT_SDK_VERSION=0.2.189
RUN . /tmp/trust.sh \
    && /tmp/dl/bin/pip download --no-cache-dir --no-deps --only-binary=:all: -d /wheels \
        "claude-agent-sdk==${CLAUDE_AGENT_SDK_VERSION}" \
    && python3 -c 'import glob, zipfile; [zipfile.ZipFile(w).extractall("/x") for w in glob.glob("/wheels/*.whl")]' \
    && install -m 0755 /x/claude_agent_sdk/_bundled/claude /usr/local/bin/claude

FROM base AS claude-code
COPY --from=claude-bin /usr/local/bin/claude /usr/local/bin/claude
USER 1000:1000

# mini-swe-agent 2.4.6 in a venv, its dependencies pinned; the venv is built
# where the certificates are and copied to the same path.
FROM fetch AS mini-build
COPY agents/mini-swe-agent.lock /tmp/mini-swe-agent.lock
RUN . /tmp/trust.sh \
    && python3 -m venv /opt/mini-swe-agent \
    && /opt/mini-swe-agent/bin/pip install --no-cache-dir --no-deps --only-binary=:all: -r /tmp/mini-swe-agent.lock \
    && /opt/mini-swe-agent/bin/pip uninstall -y pip

FROM base AS mini-swe-agent
COPY --from=mini-build /opt/mini-swe-agent /opt/mini-swe-agent
RUN ln -s /opt/mini-swe-agent/bin/mini /usr/local/bin/mini
USER 1000:1000

# pi (npm: @earendil-works/pi-coding-agent), built where npm's registry is
# reachable, with the node binary it needs.
FROM ${NODE_IMAGE} AS pi-build
ARG PI_VERSION=0.75.5
COPY --from=fetch /tmp/build-ca/ /tmp/build-ca/
COPY --from=fetch /tmp/trust.sh /tmp/trust.sh
RUN . /tmp/trust.sh \
    && npm install -g --ignore-scripts "@earendil-works/pi-coding-agent@${PI_VERSION}" && npm cache clean --force

FROM base AS pi
COPY --from=pi-build /usr/local/bin/node /usr/local/bin/node
COPY --from=pi-build /usr/local/lib/node_modules/@earendil-works /usr/local/lib/node_modules/@earendil-works
RUN ln -s ../lib/node_modules/@earendil-works/pi-coding-agent/dist/cli.js /usr/local/bin/pi
USER 1000:1000

# Every agent in one image.
FROM mini-swe-agent AS all
USER root
COPY --from=claude-bin /usr/local/bin/claude /usr/local/bin/claude
COPY --from=codex-bin /usr/local/bin/codex /usr/local/bin/rg /usr/local/bin/
COPY --from=pi-build /usr/local/bin/node /usr/local/bin/node
COPY --from=pi-build /usr/local/lib/node_modules/@earendil-works /usr/local/lib/node_modules/@earendil-works
RUN ln -s ../lib/node_modules/@earendil-works/pi-coding-agent/dist/cli.js /usr/local/bin/pi
USER 1000:1000
