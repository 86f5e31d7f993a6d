#!/usr/bin/env bash
# The instance of molecule's default scenario: a chroot of the cached bookworm base
# (DESIGN D9), reached with the community.general.chroot connection.
#   chroot.sh create ROOT [--bare]
#                            unpack the base into ROOT, deny service starts (policy-rc.d),
#                            give it the host's DNS and CA trust, mount /proc, /dev/pts,
#                            its apt archive cache (shared/apt-cache.sh) and the pip cache
#                            of every run; prints "created"
#                            when it unpacked, nothing else when ROOT was already there;
#                            --bare: the bare base (apt only, lists empty) of the
#                            fresh-machine test (tests/system/test_fresh_machine.py)
#   chroot.sh pids ROOT      the processes whose root is ROOT, one a line
#   chroot.sh destroy ROOT   end what still runs in ROOT, unmount everything below it,
#                            remove it; prints "destroyed" when there was something
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$(cd "$here/../.." && pwd)
cache=${VCBOX_CACHE:-$project/.cache}
base=$cache/bookworm-base.tar
shared=$cache/molecule

usage() {
    echo "usage: $0 create ROOT [--bare] | pids ROOT | destroy ROOT" >&2
    exit 2
}

# ROOT as an absolute path; never / or a top-level folder.
checked_root() {
    local root
    root=$(realpath -m -- "$1")
    if [[ $root != /*/*/* ]]; then
        echo "chroot.sh: refusing ROOT $root" >&2
        exit 2
    fi
    printf '%s\n' "$root"
}

# The name of the instance's apt archive cache (shared/apt-cache.sh).
apt_name() {
    printf 'chroot-%s\n' "$(basename "$(dirname "$1")")"
}

mounts_below() {
    findmnt -rn -o TARGET | awk -v r="$1" '$0 == r || index($0, r "/") == 1' | sort -r
}

bind() {
    local src=$1 dst=$2
    mkdir -p "$src" "$dst"
    mountpoint -q "$dst" || mount --bind "$src" "$dst"
}

create() {
    local root=$1 base=$base base_args=()
    if [[ ${2:-} == --bare ]]; then
        base=$cache/bookworm-bare.tar
        base_args=(--bare)
    fi
    if [[ ! -e $root/etc/os-release ]]; then
        bash "$project/image/base.sh" "${base_args[@]}" >&2
        rm -rf "$root.tmp"
        mkdir -p "$root.tmp"
        tar -xf "$base" -C "$root.tmp" --numeric-owner
        # apt must not start services (on the host: no systemd runs in the chroot).
        printf '#!/bin/sh\n# molecule chroot: no service starts\nexit 101\n' \
            >"$root.tmp/usr/sbin/policy-rc.d"
        chmod 0755 "$root.tmp/usr/sbin/policy-rc.d"
        cp -L --remove-destination /etc/resolv.conf "$root.tmp/etc/resolv.conf"
        # Trust what the host trusts (a TLS-inspecting egress proxy's CA, if any):
        # apt, pip and curl in the chroot reach the registries through it.
        # (The bare base has no ca-certificates yet: its postinst takes the file in later.)
        mkdir -p "$root.tmp/usr/local/share/ca-certificates"
        cp -L /etc/ssl/certs/ca-certificates.crt \
            "$root.tmp/usr/local/share/ca-certificates/vcbox-molecule-host.crt"
        if [[ -x $root.tmp/usr/sbin/update-ca-certificates ]]; then
            chroot "$root.tmp" update-ca-certificates >/dev/null 2>&1
        fi
        mv "$root.tmp" "$root"
        echo created
    fi
    mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
    # A private pts instance: apt logs through a pseudo-terminal.
    mountpoint -q "$root/dev/pts" || mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
    bind "$("$here/../shared/apt-cache.sh" take "$(apt_name "$root")")" "$root/var/cache/apt/archives"
    bind "$shared/pip" "$root/root/.cache/pip"
}

pids() {
    local pid
    for pid in /proc/[0-9]*; do
        if [[ $(readlink "$pid/root" 2>/dev/null) == "$1" ]]; then
            printf '%s\n' "${pid#/proc/}"
        fi
    done
}

destroy() {
    local root=$1 pids m left
    [[ -e $root || -e $root.tmp ]] || return 0
    mapfile -t pids < <(pids "$root")
    if ((${#pids[@]})); then
        echo "chroot.sh: ending processes left in $root: ${pids[*]}" >&2
        kill -TERM "${pids[@]}" 2>/dev/null || true
        sleep 1
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    for r in "$root" "$root.tmp"; do
        while read -r m; do
            [[ -n $m ]] || continue
            umount "$m" 2>/dev/null || umount -l "$m"
        done < <(mounts_below "$r")
        left=$(mounts_below "$r")
        if [[ -n $left ]]; then
            echo "chroot.sh: still mounted, not removing $r: $left" >&2
            exit 1
        fi
        rm -rf --one-file-system "$r"
    done
    "$here/../shared/apt-cache.sh" give "$(apt_name "$root")"
    echo destroyed
}

[[ $# -eq 2 || ($# -eq 3 && $1 == create && $3 == --bare) ]] || usage
root=$(checked_root "$2")
case $1 in
    create) create "$root" "${3:-}" ;;
    pids) pids "$root" ;;
    destroy) destroy "$root" ;;
    *) usage ;;
esac
