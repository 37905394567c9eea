# The production sandbox image: where the coding agent and the repository's
# own build and test commands run (one container per job, see
# docs/ARCHITECTURE.md "Sandbox"). Build it where a registry is reachable:
#
#   docker build -f docker/sandbox.Dockerfile -t maxion-sandbox:latest docker/
#
# Maxion itself never pulls: a missing image fails the job with this command.
# Maxion needs from the image: sh, tar, timeout, df, sleep, mkdir (coreutils
# and tar), a user with uid/gid 1000, and the directories /workspace and
# /home/sandbox (the run-time tmpfs mounts land on them).
FROM debian:bookworm-slim

ARG DEBIAN_FRONTEND=noninteractive

# The toolchains most repositories need. The coding agent CLI is added by a
# later issue. No sudo: nothing in the sandbox may become root.
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

USER 1000:1000
WORKDIR /workspace
CMD ["sleep", "infinity"]
