#!/bin/bash
# The cached bookworm base that role tests start from (molecule's chroot and podman
# scenarios): a minimal Debian 12 with systemd and Python for Ansible. Built once with
# mmdebstrap from the Debian mirror (security and updates suites included), then reused.
#   image/base.sh [OUT]   (default: $VCBOX_CACHE/bookworm-base.tar, VCBOX_CACHE=.cache)
set -euo pipefail
cache=${VCBOX_CACHE:-$(cd "$(dirname "$0")/.." && pwd)/.cache}
out=${1:-$cache/bookworm-base.tar}
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
    --include=systemd,systemd-sysv,dbus,python3,python3-apt,python3-venv,ca-certificates,iproute2,procps,curl \
    --customize-hook='rm -f "$1"/etc/machine-id; touch "$1"/etc/machine-id' \
    bookworm "$tmp" \
    "deb $mirror bookworm main" \
    "deb $mirror bookworm-updates main" \
    "deb $security bookworm-security main"
mv "$tmp" "$out"
trap - EXIT
echo "base: $out"
