#!/usr/bin/env bash
# Prepare a development/CI machine (Debian 12 or 13) for vcbox:
#   1. Debian packages (only the missing ones are installed; nothing is removed)
#   2. Python venv in .venv from requirements.txt (which includes requirements-runtime.txt)
#   3. front-end packages in node_modules from package-lock.json
# Idempotent; a second run does no work and takes well under 2 s.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
START=$(date +%s.%N)

log() { printf 'setup: %s\n' "$*" >&2; }

export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1

# --- 1. Debian packages ------------------------------------------------------
APT_PACKAGES=(
    python3 python3-venv python3-dev gcc
    chromium wrk openssl ca-certificates fonts-noto-cjk make
    # the services whose rendered configs the tests run (DESIGN §4)
    coturn nginx-light openssh-server chrony rsyslog rsyslog-gnutls iproute2 libc-bin nftables
    # the appliance image and role tests (issue 5, DESIGN D9): mmdebstrap, a raw disk with
    # GRUB, qemu (TCG) to boot it, podman with systemd as PID 1 for molecule
    mmdebstrap qemu-system-x86 qemu-utils grub-pc-bin grub2-common fdisk e2fsprogs
    podman runc crun uidmap slirp4netns fuse-overlayfs
)
# Janus is packaged in Debian 12 but not in Debian 13.
if apt-cache policy janus 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    APT_PACKAGES+=(janus)
fi
# A node from elsewhere (e.g. nodesource) ships its own npm and conflicts with
# Debian's npm package: only ask Debian for node when there is no npm at all.
if ! command -v npm >/dev/null 2>&1; then
    APT_PACKAGES+=(nodejs npm)
fi

missing_packages() {
    local pkg status
    for pkg in "${APT_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
        [[ $status == ?i* ]] || printf '%s\n' "$pkg"
    done
}

mapfile -t MISSING < <(missing_packages)
if ((${#MISSING[@]})); then
    SUDO=()
    if [[ $(id -u) -ne 0 ]]; then
        if ! command -v sudo >/dev/null 2>&1; then
            log "missing Debian packages: ${MISSING[*]}; run as root or install sudo"
            exit 1
        fi
        SUDO=(sudo)
    fi
    log "installing Debian packages: ${MISSING[*]}"
    APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    "${APT[@]}" update
    # Installing a service must not start it on this machine: the tests own the ports.
    # A policy-rc.d that denies starts is put in place only when none exists already.
    POLICY=/usr/sbin/policy-rc.d
    OWN_POLICY=0
    if [[ ! -e $POLICY ]]; then
        printf '#!/bin/sh\n# vcbox setup: no service starts during install\nexit 101\n' \
            | "${SUDO[@]}" tee "$POLICY" >/dev/null
        "${SUDO[@]}" chmod 755 "$POLICY"
        OWN_POLICY=1
    fi
    trap '[[ $OWN_POLICY == 1 ]] && "${SUDO[@]}" rm -f "$POLICY"' EXIT
    "${APT[@]}" install -y --no-install-recommends "${MISSING[@]}"
    if [[ $OWN_POLICY == 1 ]]; then "${SUDO[@]}" rm -f "$POLICY"; OWN_POLICY=0; fi
fi

# --- 2. Python venv ----------------------------------------------------------
VENV=.venv
VENV_STAMP=$VENV/.vcbox-requirements.sha256
venv_key=$(cat requirements.txt requirements-runtime.txt | sha256sum | cut -d' ' -f1)

if [[ -e $VENV ]] && ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    log "$VENV is broken (its interpreter does not run); recreating it"
    rm -rf "$VENV"
fi
if [[ ! -x $VENV/bin/python ]]; then
    log "creating $VENV with $(command -v python3) ($(python3 --version 2>&1))"
    python3 -m venv "$VENV"
fi
if [[ ! -f $VENV_STAMP || $(cat "$VENV_STAMP") != "$venv_key" ]]; then
    log "installing Python packages from requirements.txt"
    "$VENV/bin/pip" install --no-input -r requirements.txt
    printf '%s\n' "$venv_key" >"$VENV_STAMP"
fi

# community.general (its chroot connection, for the molecule scenarios) from the pinned
# ansible wheel on PyPI: Galaxy is out of reach (DESIGN D9).
bash scripts/collections.sh

# --- 3. node modules ---------------------------------------------------------
NODE_STAMP=node_modules/.vcbox-lock.sha256
node_key=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)

if [[ ! -f $NODE_STAMP || $(cat "$NODE_STAMP") != "$node_key" ]]; then
    log "installing node modules from package-lock.json"
    npm ci --no-audit --no-fund
    printf '%s\n' "$node_key" >"$NODE_STAMP"
fi

log "done in $(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s ($ROOT)"
