#!/usr/bin/env bash
# Prepare a development/CI machine (Debian 12 or 13) for vcbox:
#   1. Debian packages (only the missing ones are installed; nothing is removed)
#   2. Python venv in .venv from requirements.txt (which includes requirements-runtime.txt)
#      and the IVR prompts in .cache/prompts, made with it
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
    chromium wrk openssl ca-certificates fonts-noto-cjk make tzdata
    # what the tests take from every Debian system (molecule chroot scenario)
    coreutils mount tar
    # nsenter: the browser join test starts Chromium in its own network namespace
    util-linux
    # the services whose rendered configs the tests run (DESIGN §4)
    coturn nginx-light openssh-server chrony rsyslog rsyslog-gnutls iproute2 libc-bin nftables
    # the appliance image and role tests (issue 5, DESIGN D9): mmdebstrap, a raw disk with
    # GRUB, qemu (TCG) to boot it, podman with systemd as PID 1 for molecule
    mmdebstrap qemu-system-x86 qemu-utils grub-pc-bin grub2-common fdisk e2fsprogs
    podman runc crun uidmap slirp4netns fuse-overlayfs
    # SIP terminals for the FreeSWITCH tests (DESIGN §4)
    sip-tester baresip-core
    # IVR prompts made from the message catalogs (issue 11): speech, then resampling
    espeak-ng sox
    # the video the SIP terminals send in meeting tests (RTP made with ffmpeg)
    ffmpeg
)

SUDO=()
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
fi
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
APT_UPDATED=0

apt_update() {
    if [[ $(id -u) -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
        log "the package lists need an update: run as root or install sudo"
        exit 1
    fi
    "${APT[@]}" update
    APT_UPDATED=1
}

# True when no package list has been fetched yet (a fresh machine or container):
# apt-cache then knows only what is installed.
apt_lists_empty() {
    ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

# True when apt can install PKG from the configured sources. No pipe into `grep -q`:
# under pipefail, grep's early exit kills apt-cache with SIGPIPE and the test is false.
apt_candidate() {
    local policy
    policy=$(apt-cache policy "$1" 2>/dev/null) || return 1
    [[ $policy =~ Candidate:\ [0-9] ]]
}

installed() {
    local status
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null || true)
    [[ $status == ?i* ]]
}

# Janus is packaged in Debian 12 but not in Debian 13: asked of apt, after the lists
# were fetched once.
if ! installed janus; then
    if apt_lists_empty; then apt_update; fi
    if apt_candidate janus; then
        APT_PACKAGES+=(janus)
    else
        log "janus: no Debian package in the configured sources; the Janus tests skip here"
    fi
else
    APT_PACKAGES+=(janus)
fi
# FreeSWITCH is in no Debian suite: its packages are built from public source into
# ../shared/freeswitch/debs (VCBOX_FREESWITCH_DEBS names another folder). Installed
# when that folder has them; elsewhere the FreeSWITCH tests skip, saying so.
# They are built for Debian 12: elsewhere (Debian 13) they are not installed, and the
# FreeSWITCH tests skip saying so.
FREESWITCH_DEBS=${VCBOX_FREESWITCH_DEBS:-$ROOT/../shared/freeswitch/debs}
FREESWITCH_FILES=()
CODENAME=$(. /etc/os-release 2>/dev/null && printf '%s' "${VERSION_CODENAME:-}")
if [[ $CODENAME != bookworm ]]; then
    log "FreeSWITCH: its packages are for Debian 12 (bookworm), this is ${CODENAME:-unknown}"
elif compgen -G "$FREESWITCH_DEBS/freeswitch_*.deb" >/dev/null; then
    FREESWITCH_DEBS=$(cd "$FREESWITCH_DEBS" && pwd)
    FREESWITCH_FILES=("$FREESWITCH_DEBS"/*.deb)
    APT_PACKAGES+=(freeswitch libsofia-sip-ua0 libspandsp3)
fi
# A node from elsewhere (e.g. nodesource) ships its own npm and conflicts with
# Debian's npm package: only ask Debian for node when there is no npm at all.
if ! command -v npm >/dev/null 2>&1; then
    APT_PACKAGES+=(nodejs npm)
fi

# `setup.sh --print-packages`: the Debian packages this machine gets, one a line.
if [[ ${1:-} == --print-packages ]]; then
    printf '%s\n' "${APT_PACKAGES[@]}"
    exit 0
fi

missing_packages() {
    local pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        installed "$pkg" || printf '%s\n' "$pkg"
    done
}

mapfile -t MISSING < <(missing_packages)
if ((${#MISSING[@]})); then
    if [[ $(id -u) -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
        log "missing Debian packages: ${MISSING[*]}; run as root or install sudo"
        exit 1
    fi
    log "installing Debian packages: ${MISSING[*]}"
    if ((!APT_UPDATED)); then apt_update; fi
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
    # The FreeSWITCH packages install from their files; apt resolves their dependencies.
    INSTALL=()
    for pkg in "${MISSING[@]}"; do
        case $pkg in
            freeswitch | libsofia-sip-ua0 | libspandsp3) ;;
            *) INSTALL+=("$pkg") ;;
        esac
    done
    if ((${#INSTALL[@]} < ${#MISSING[@]})); then INSTALL+=("${FREESWITCH_FILES[@]}"); fi
    "${APT[@]}" install -y --no-install-recommends "${INSTALL[@]}"
    if [[ $OWN_POLICY == 1 ]]; then "${SUDO[@]}" rm -f "$POLICY"; OWN_POLICY=0; fi
fi

# Janus's SIP plugin runs on Debian's sofia-sip 1.12 from a folder of its own (the
# FreeSWITCH packages replace the system's with their 1.13, on which the plugin crashes:
# controlplane/drivers/processes.py JANUS_LIB_DIR). The package and folder are the janus
# role's defaults.
JANUS_DEFAULTS=roles/janus/defaults/main.yml
janus_default() { sed -n "s/^$1: *\"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" "$JANUS_DEFAULTS"; }
SOFIA_PACKAGE=$(janus_default vcbox_janus_sofia_package)
JANUS_LIB_DIR=$(janus_default vcbox_janus_lib_dir)
SOFIA_STAMP=$JANUS_LIB_DIR/.vcbox-package
if installed janus && [[ $(cat "$SOFIA_STAMP" 2>/dev/null) != "$SOFIA_PACKAGE" ]]; then
    log "unpacking $SOFIA_PACKAGE into $JANUS_LIB_DIR for Janus"
    if ((!APT_UPDATED)) && apt_lists_empty; then apt_update; fi
    SOFIA_WORK=$(mktemp -d)
    (cd "$SOFIA_WORK" && apt-get download "$SOFIA_PACKAGE" \
        && dpkg-deb -x ./*.deb unpacked)
    "${SUDO[@]}" mkdir -p "$JANUS_LIB_DIR"
    "${SUDO[@]}" cp -a "$SOFIA_WORK"/unpacked/usr/lib/*/libsofia-sip-ua.so.0* "$JANUS_LIB_DIR/"
    printf '%s\n' "$SOFIA_PACKAGE" | "${SUDO[@]}" tee "$SOFIA_STAMP" >/dev/null
    rm -rf "$SOFIA_WORK"
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

# IVR prompts (issue 11): spoken from the message catalogs with espeak-ng and sox into
# .cache/prompts, where local mode's FreeSWITCH plays them from (VCBOX_PROMPTS names
# another folder). Its manifest says when they are current: then nothing is made.
# (`python -m controlplane prompts`, minus the control plane's other imports.)
"$VENV/bin/python" -m controlplane.prompts --out "${VCBOX_PROMPTS:-$ROOT/.cache/prompts}"

# --- 3. node modules ---------------------------------------------------------
NODE_STAMP=node_modules/.vcbox-lock.sha256
node_key=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)

if [[ ! -f $NODE_STAMP || $(cat "$NODE_STAMP") != "$node_key" ]]; then
    log "installing node modules from package-lock.json"
    npm ci --no-audit --no-fund
    printf '%s\n' "$node_key" >"$NODE_STAMP"
fi

log "done in $(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s ($ROOT)"
