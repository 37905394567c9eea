#!/usr/bin/env bash
# Builds the test sandbox image `maxion-sandbox-test:<content hash>` without any
# image registry: a minimal Debian root filesystem from the machine's own apt
# mirror (debootstrap --variant=minbase), the sandbox user (uid/gid 1000) added,
# imported with `docker import`. Does nothing when the tag already exists.
#
# Prints the tag as the last line of stdout and writes it to
# target/maxion-sandbox-test.tag (tests read it from there or $MAXION_TEST_IMAGE).
# Needs root (debootstrap, chroot) and a Docker Engine; installs debootstrap if absent.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
tag_file="${CARGO_TARGET_DIR:-$repo/target}/maxion-sandbox-test.tag"

# What goes into the image. Changing this list changes the tag.
# sudo/util-linux/mount give the hostile tests real setuid binaries to fail with;
# python3 runs the scripted test agent, the listener and the raw-socket probe.
packages=(git bash coreutils ca-certificates python3 util-linux mount sudo procps)

log() { echo "build-test-image: $*" >&2; }

# The content hash covers this script (package list, build steps) and every
# file of the scripted test agent, so any change yields a new tag.
hash_inputs() {
    {
        sha256sum "$here/build-test-image.sh"
        if [ -d "$here/test-agent" ]; then
            (cd "$here" && find test-agent -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
        fi
    } | sha256sum | cut -c1-16
}

tag="maxion-sandbox-test:$(hash_inputs)"
mkdir -p "$(dirname "$tag_file")"

if docker image inspect "$tag" >/dev/null 2>&1; then
    log "$tag already exists"
    echo "$tag" >"$tag_file"
    echo "$tag"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (debootstrap and chroot need it)"
    exit 1
fi

# The Debian release and mirror this machine's apt already uses.
. /etc/os-release
suite="${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}"
mirror="${MAXION_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    # deb822 sources (URIs:/Suites:) first, then one-line sources (deb URL suite ...).
    mirror="$(
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            awk -v s="$suite" '
                /^[[:space:]]*$/ { if (u != "" && ok) { print u; exit } u=""; ok=0; next }
                /^URIs:/ { u=$2 }
                /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) ok=1 }
                END { if (u != "" && ok) print u }' "$f"
        done | head -n1
    )"
fi
if [ -z "$mirror" ]; then
    mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk -v s="$suite" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($(i+1) == s) { print $i; exit } break } }' |
        head -n1)"
fi
if [ -z "$mirror" ]; then
    log "no apt source for '$suite' found in /etc/apt/sources.list*; set MAXION_DEBIAN_MIRROR"
    exit 1
fi

# Reach the archive the way apt does: its proxy settings, if any.
eval "$(apt-config shell http_proxy Acquire::http::Proxy https_proxy Acquire::https::Proxy)"
[ -n "${http_proxy:-}" ] && export http_proxy
[ -n "${https_proxy:-}" ] && export https_proxy

if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap debian-archive-keyring >&2
fi

work="$(mktemp -d /var/tmp/maxion-sandbox-rootfs.XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

log "debootstrap $suite from $mirror (packages: ${packages[*]})"
include="$(IFS=,; echo "${packages[*]}")"
debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" >&2

# The sandbox user; its home and the workspace are tmpfs mounts at run time,
# the directories here are only mount points.
chroot "$root" groupadd --gid 1000 sandbox
chroot "$root" useradd --uid 1000 --gid 1000 --home-dir /home/sandbox --shell /bin/bash sandbox
mkdir -p "$root/workspace" "$root/home/sandbox"
chown 1000:1000 "$root/workspace" "$root/home/sandbox"

if [ -d "$here/test-agent" ]; then
    mkdir -p "$root/opt/maxion"
    cp -r "$here/test-agent" "$root/opt/maxion/test-agent"
    chmod -R a+rX "$root/opt/maxion"
fi

# Smaller image: apt lists, caches and docs are of no use at run time.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*

log "importing as $tag"
tar -C "$root" --numeric-owner -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV HOME=/home/sandbox' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'USER 1000:1000' \
    -c 'WORKDIR /workspace' \
    -c 'CMD ["/bin/bash"]' \
    - "$tag" >&2

echo "$tag" >"$tag_file"
echo "$tag"
