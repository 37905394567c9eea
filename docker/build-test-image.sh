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

# --- Real coding agents -------------------------------------------------------
# The real agent programs the agent e2e tests start, pinned (a new version is a
# new tag). Claude Code is the binary bundled in PyPI's claude-agent-sdk wheel,
# Codex CLI the binary in OpenAI's openai-codex-cli-bin wheel; mini-swe-agent
# runs from a venv with the dependencies pinned in agents/mini-swe-agent.lock.
claude_agent_sdk_version=0.2.189 # bundles Claude Code 2.1.332
codex_cli_bin_version=0.163.0    # codex-cli 0.163.0
agent_packages=(python3-venv)

install_agents() {
    local root="$1"
    # pip inside the chroot reaches PyPI with this machine's resolver, CA
    # bundle and proxy settings; none of them stays in the image.
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    cp "$root/etc/ssl/certs/ca-certificates.crt" "$root/tmp/image-ca.pem"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    cp "$here/agents/mini-swe-agent.lock" "$root/tmp/mini-swe-agent.lock"
    local pip_env=(env -u PIP_FIND_LINKS -u PIP_CERT PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
        "http_proxy=${http_proxy:-}" "https_proxy=${https_proxy:-}")
    log "installing mini-swe-agent into /opt/mini-swe-agent"
    chroot "$root" python3 -m venv /opt/mini-swe-agent
    chroot "$root" "${pip_env[@]}" /opt/mini-swe-agent/bin/pip install -q --no-deps --only-binary=:all: \
        -r /tmp/mini-swe-agent.lock >&2
    chroot "$root" "${pip_env[@]}" /opt/mini-swe-agent/bin/pip uninstall -q -y pip >&2
    ln -s /opt/mini-swe-agent/bin/mini "$root/usr/local/bin/mini"
    log "downloading claude-agent-sdk $claude_agent_sdk_version and openai-codex-cli-bin $codex_cli_bin_version"
    mkdir -p "$root/tmp/wheels"
    chroot "$root" "${pip_env[@]}" python3 -m venv /tmp/dl
    chroot "$root" "${pip_env[@]}" /tmp/dl/bin/pip download -q --no-deps --only-binary=:all: -d /tmp/wheels \
        "claude-agent-sdk==$claude_agent_sdk_version" "openai-codex-cli-bin==$codex_cli_bin_version" >&2
    # Only the binaries leave the wheels: the SDK's Python half and the
    # wheel's bubblewrap (no use inside a container) stay out.
    chroot "$root" python3 - <<'PY'
import glob, os, zipfile
for pattern, member, dest in [
    ("/tmp/wheels/claude_agent_sdk-*.whl", "claude_agent_sdk/_bundled/claude", "/usr/local/bin/claude"),
    ("/tmp/wheels/openai_codex_cli_bin-*.whl", "codex_cli_bin/bin/codex", "/usr/local/bin/codex"),
    ("/tmp/wheels/openai_codex_cli_bin-*.whl", "codex_cli_bin/codex-path/rg", "/usr/local/bin/rg"),
]:
    (wheel,) = glob.glob(pattern)
    with zipfile.ZipFile(wheel) as z, open(dest, "wb") as out:
        out.write(z.read(member))
    os.chmod(dest, 0o755)
PY
    chroot "$root" claude --version >&2
    chroot "$root" codex --version >&2
    chroot "$root" /opt/mini-swe-agent/bin/python -c 'import minisweagent.run.mini' >&2
    mv "$root/tmp/image-ca.pem" "$root/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$root/tmp/wheels" "$root/tmp/dl" "$root/tmp/mini-swe-agent.lock" \
        "$root/root/.config" "$root/root/.claude" "$root/root/.claude.json" "$root/root/.codex"
    : >"$root/etc/resolv.conf"
}
# --- end of real coding agents -------------------------------------------------

log() { echo "build-test-image: $*" >&2; }

# The content hash covers this script (package list, build steps) and every
# file of the scripted test agent, so any change yields a new tag. Paths are
# relative: the same content in another checkout (CI's clone) has the same tag.
hash_inputs() {
    {
        (cd "$here" && sha256sum build-test-image.sh)
        if [ -d "$here/test-agent" ]; then
            (cd "$here" && find test-agent -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
        fi
        (cd "$here" && find agents -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
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
include="$(IFS=,; all=("${packages[@]}" "${agent_packages[@]}"); echo "${all[*]}")"
debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" >&2

# The sandbox user; its home and the workspace are tmpfs mounts at run time,
# the directories here are only mount points.
chroot "$root" groupadd --gid 1000 sandbox
chroot "$root" useradd --uid 1000 --gid 1000 --home-dir /home/sandbox --shell /bin/bash sandbox
mkdir -p "$root/workspace" "$root/home/sandbox"
chown 1000:1000 "$root/workspace" "$root/home/sandbox"

install_agents "$root"

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
