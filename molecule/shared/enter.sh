#!/usr/bin/env bash
# How Ansible gets into a molecule instance: the "chroot program" of the
# community.general.chroot connection (ansible_chroot_exe in the inventories), run as
#   enter.sh ROOT SHELL -c CMD
# - ROOT a directory (default scenario): chroot into it.
# - ROOT a link to /proc/PID/root (podman scenario; podman.sh makes it): enter the
#   namespaces of the container's PID 1 with the container's capability bounding set, as
#   `podman exec` would, without its ~0.3 s start per command and with pipelining (the
#   containers.podman connection has none): a converge takes minutes less.
# Either way the command starts with a clean environment, not this machine's.
set -euo pipefail

root=$1
shift
clean=(/usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    HOME=/root LANG=C.UTF-8 LOGNAME=root USER=root)

if [[ -L $root && $(readlink "$root") =~ ^/proc/([0-9]+)/root$ ]]; then
    pid=${BASH_REMATCH[1]}
    # The capabilities the container runs with (CapBnd of its PID 1), by name.
    mapfile -t names < <(setpriv --list-caps)
    bounding=$((16#$(awk '$1 == "CapBnd:" { print $2 }' "/proc/$pid/status")))
    caps=-all
    for i in "${!names[@]}"; do
        if (((bounding >> i) & 1)); then
            caps+=",+${names[i]}"
        fi
    done
    exec nsenter --target "$pid" --mount --uts --ipc --net --pid -- \
        /usr/bin/setpriv --bounding-set "$caps" -- "${clean[@]}" "$@"
fi
exec chroot "$root" "${clean[@]}" "$@"
