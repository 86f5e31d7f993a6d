#!/bin/bash
# The cached bookworm bases the tests start from. Built once with mmdebstrap from the
# Debian mirror (security and updates suites included), then reused.
#   image/base.sh [OUT]          role tests (molecule's chroot and podman scenarios): a
#                                minimal Debian 12 with systemd and Python for Ansible
#                                (default: $VCBOX_CACHE/bookworm-base.tar, VCBOX_CACHE=.cache)
#   image/base.sh --bare [OUT]   the fresh-machine test: Debian 12 with apt and nothing
#                                else, package lists empty (default: .../bookworm-bare.tar)
set -euo pipefail
cache=${VCBOX_CACHE:-$(cd "$(dirname "$0")/.." && pwd)/.cache}
include=systemd,systemd-sysv,dbus,python3,python3-apt,python3-venv,ca-certificates,iproute2,procps,curl
name=bookworm-base.tar
if [ "${1:-}" = --bare ]; then
    include=""
    name=bookworm-bare.tar
    shift
fi
out=${1:-$cache/$name}
mirror=${VCBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${VCBOX_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
if [ -s "$out" ]; then
    echo "base: $out (cached)"
    exit 0
fi
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
mmdebstrap --mode=root --variant=apt --format=tar \
    ${include:+--include=$include} \
    --customize-hook='rm -f "$1"/etc/machine-id; touch "$1"/etc/machine-id' \
    bookworm "$tmp" \
    "deb $mirror bookworm main" \
    "deb $mirror bookworm-updates main" \
    "deb $security bookworm-security main"
mv "$tmp" "$out"
trap - EXIT
echo "base: $out"
