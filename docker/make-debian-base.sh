#!/usr/bin/env bash
# Makes a Debian base image without any image registry: a minimal root
# filesystem from a Debian mirror (debootstrap --variant=minbase) imported with
# `docker import`. The images of docker/sandbox.Dockerfile and docker/Dockerfile
# build FROM it where no registry is reachable:
#
#   sudo bash docker/make-debian-base.sh            # prints maxion-debian-base:bookworm
#   docker build --build-arg BASE_IMAGE=maxion-debian-base:bookworm -f docker/sandbox.Dockerfile --target codex docker/
#
# Settings (environment): SUITE (default: this machine's Debian release, else
# bookworm), MAXION_DEBIAN_MIRROR (default: http://deb.debian.org/debian).
# Needs root and a Docker Engine; installs debootstrap if absent.
set -euo pipefail

suite="${SUITE:-$( (. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || true)}"
suite="${suite:-bookworm}"
mirror="${MAXION_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
tag="maxion-debian-base:$suite"

log() { echo "make-debian-base: $*" >&2; }

if docker image inspect "$tag" >/dev/null 2>&1; then
    log "$tag already exists"
    echo "$tag"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (debootstrap needs it)"
    exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap debian-archive-keyring >&2
fi

work="$(mktemp -d /var/tmp/maxion-debian-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
log "debootstrap $suite from $mirror"
debootstrap --variant=minbase "$suite" "$work/rootfs" "$mirror" >&2
# Like the public image: apt sources of the suite, no caches.
echo "deb $mirror $suite main" >"$work/rootfs/etc/apt/sources.list"
rm -rf "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/var/cache/apt/*.bin "$work/rootfs"/var/cache/apt/archives/*.deb
: >"$work/rootfs/etc/resolv.conf"
log "importing as $tag"
tar -C "$work/rootfs" --numeric-owner -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'CMD ["/bin/bash"]' \
    - "$tag" >&2
echo "$tag"
