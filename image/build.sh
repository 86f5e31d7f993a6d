#!/bin/bash
# Build the appliance disk image out/vcbox-<version>.img (issue 5, DESIGN D9):
#   1. the release bundle (image/release.py) is the code the image gets;
#   2. a sparse raw disk: msdos label, one ext4 partition on a loop device;
#   3. mmdebstrap writes Debian 12 (bookworm + updates + security) straight into that
#      partition; its customize hook (this script, --customize) creates the appliance
#      venv from PyPI, runs playbooks/site.yml in the chroot (connection local,
#      vcbox_runtime=false) and installs GRUB (i386-pc), which boots the Debian kernel
#      with root=UUID, the console on ttyS0 and net.ifnames=0 (the first NIC is eth0,
#      the LAN interface).
# Only the Debian mirror and PyPI are reached. Needs root, a loop device, mmdebstrap and
# fdisk (scripts/setup.sh).
#   image/build.sh [OUT_DIR]   (default: out/; prints the image's path)
# FreeSWITCH (in no Debian suite) comes from the package folder scripts/setup.sh uses:
# VCBOX_FREESWITCH_DEBS, default ../shared/freeswitch/debs; without packages there the
# image is built without it and its freeswitch role records why (the dashboard says so).
# Environment: VCBOX_CACHE (default .cache: the APT cache the next build reuses),
# VCBOX_IMAGE_SIZE (4G), VCBOX_DEBIAN_MIRROR, VCBOX_DEBIAN_SECURITY; for harness
# development only: VCBOX_IMAGE_PLAYBOOK (a playbook run instead of the bundle's site.yml,
# copied next to it) and VCBOX_IMAGE_ANSIBLE_ARGS (more ansible-playbook arguments).
set -euo pipefail

export VCBOX_T0=${VCBOX_T0:-$(date +%s)}
log() { printf '[image %4ds] %s\n' "$(($(date +%s) - VCBOX_T0))" "$*" >&2; }
die() { printf 'image: %s\n' "$*" >&2; exit 1; }

# --- the customize hook: mmdebstrap runs it on this host with the chroot's path ------
# The chroot has /proc, /sys and /dev mounted by mmdebstrap; VCBOX_* come from the build.
customize() {
    local root=$1
    log "customize: host name, fstab, GRUB defaults"
    printf 'vcbox\n' >"$root/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\tvcbox\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
        >"$root/etc/hosts"
    printf 'UUID=%s\t/\text4\terrors=remount-ro\t0\t1\n' "$VCBOX_ROOT_UUID" >"$root/etc/fstab"
    # So that update-grub (run by a kernel upgrade on the appliance) keeps the console
    # and interface names of the grub.cfg written below.
    mkdir -p "$root/etc/default/grub.d"
    cat >"$root/etc/default/grub.d/vcbox.cfg" <<EOF
# vcbox (image/build.sh): serial console, eth0 is the first NIC
GRUB_TIMEOUT=1
GRUB_CMDLINE_LINUX="$VCBOX_CMDLINE"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
EOF

    # No service may start in the chroot: it would start on this host.
    printf '#!/bin/sh\n# vcbox image build: no service starts in the chroot\nexit 101\n' \
        >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    cp -a "$VCBOX_STAGE/src" "$root/tmp/vcbox-src"
    cp "$VCBOX_STAGE/bundle.tar.gz" "$root/tmp/vcbox-bundle.tar.gz"
    local playbook=/tmp/vcbox-src/playbooks/site.yml
    local -a fs_args=()
    if [[ -d $VCBOX_STAGE/freeswitch-debs ]]; then
        cp -a "$VCBOX_STAGE/freeswitch-debs" "$root/tmp/vcbox-freeswitch-debs"
        fs_args=(-e vcbox_freeswitch_deb_dir=/tmp/vcbox-freeswitch-debs)
    fi
    if [[ -n $VCBOX_IMAGE_PLAYBOOK ]]; then
        playbook=/tmp/vcbox-src/playbooks/vcbox-image-dev.yml
        cp "$VCBOX_IMAGE_PLAYBOOK" "$root$playbook"
    fi
    # This host's CA bundle (it may trust an egress proxy), for pip during the build only.
    cp "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$root/tmp/vcbox-ca.crt"

    local -a env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive
        PIP_CERT=/tmp/vcbox-ca.crt PIP_NO_CACHE_DIR=1 PIP_NO_INPUT=1
        PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180
        ANSIBLE_CONFIG=/tmp/vcbox-src/ansible.cfg ANSIBLE_NOCOLOR=1)
    log "customize: /opt/vcbox/venv from requirements-runtime.txt (PyPI)"
    chroot "$root" "${env[@]}" python3 -m venv /opt/vcbox/venv
    chroot "$root" "${env[@]}" /opt/vcbox/venv/bin/pip install --quiet \
        -r /tmp/vcbox-src/requirements-runtime.txt

    log "customize: ansible-playbook $playbook (connection local, vcbox_runtime=false)"
    # shellcheck disable=SC2086 # VCBOX_IMAGE_ANSIBLE_ARGS is a list of words
    chroot "$root" "${env[@]}" sh -c 'cd /tmp/vcbox-src && exec "$@"' sh \
        /opt/vcbox/venv/bin/ansible-playbook -i localhost, -c local "$playbook" \
        -e vcbox_runtime=false -e vcbox_controlplane_src=/tmp/vcbox-src \
        -e vcbox_controlplane_bundle=/tmp/vcbox-bundle.tar.gz "${fs_args[@]}" \
        $VCBOX_IMAGE_ANSIBLE_ARGS

    bootloader "$root"

    rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/dpkg/dpkg.cfg.d/99mmdebstrap"
    rm -rf "$root/tmp/vcbox-src" "$root/tmp/vcbox-bundle.tar.gz" "$root/tmp/vcbox-ca.crt" \
        "$root/tmp/vcbox-freeswitch-debs" "$root/root/.ansible" "$root/root/.cache"
    # Nothing secret is shared by the appliances made from one image: no SSH host keys
    # (vcbox-ssh-hostkeys.service makes them on first boot), no control-plane store (the
    # control plane makes one with fresh secrets at its first start and renders every
    # config again), no TLS key (made then too), no machine id (systemd makes one).
    rm -f "$root"/etc/ssh/ssh_host_*
    find "$root/var/lib/vcbox" -mindepth 1 -delete
    rm -rf "$root/etc/vcbox/tls"
    : >"$root/etc/machine-id"
    rm -f "$root/var/lib/dbus/machine-id"
    # mmdebstrap copied this host's resolv.conf for the build; the appliance's network
    # configuration owns it from now on.
    if [[ -f $root/etc/resolv.conf && ! -L $root/etc/resolv.conf ]]; then
        : >"$root/etc/resolv.conf"
    fi
    log "customize: done"
}

# GRUB from the image's own grub-pc-bin, run in the chroot: grub-probe finds the disk of
# a partition through udevadm, which the image has and a build host may lack.
bootloader() {
    local root=$1 node link
    for link in vmlinuz initrd.img; do
        [[ -e $root/$link ]] || die "/$link is missing in the image"
    done
    for node in "$VCBOX_LOOP" "$VCBOX_PART"; do
        mknod "$root$node" b "$((16#$(stat -c %t "$node")))" "$((16#$(stat -c %T "$node")))"
    done
    log "customize: grub-install on $VCBOX_LOOP"
    chroot "$root" grub-install --target=i386-pc --modules="part_msdos ext2" "$VCBOX_LOOP"
    rm -f "$root$VCBOX_LOOP" "$root$VCBOX_PART"
    # /vmlinuz and /initrd.img follow kernel upgrades (Debian keeps the links current).
    cat >"$root/boot/grub/grub.cfg" <<EOF
# vcbox (image/build.sh); a kernel upgrade regenerates it with update-grub
set default=0
set timeout=1
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
insmod part_msdos
insmod ext2
search --no-floppy --fs-uuid --set=root $VCBOX_ROOT_UUID
menuentry 'vcbox' {
    linux /vmlinuz root=UUID=$VCBOX_ROOT_UUID ro $VCBOX_CMDLINE
    initrd /initrd.img
}
EOF
}

if [[ ${1:-} == --customize ]]; then
    customize "$2"
    exit 0
fi

# --- the build -------------------------------------------------------------------------
repo=$(cd "$(dirname "$0")/.." && pwd)
self="$repo/image/build.sh"
out_dir=$(realpath -m "${1:-$repo/out}")
cache=$(realpath -m "${VCBOX_CACHE:-$repo/.cache}")
size=${VCBOX_IMAGE_SIZE:-4G}
mirror=${VCBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${VCBOX_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
dev_playbook=${VCBOX_IMAGE_PLAYBOOK:+$(realpath "$VCBOX_IMAGE_PLAYBOOK")}

[[ $(id -u) -eq 0 ]] || die "run as root (loop devices, mount, chroot)"
for tool in mmdebstrap sfdisk losetup partx mkfs.ext4; do
    command -v "$tool" >/dev/null || die "$tool is missing (bash scripts/setup.sh)"
done

# What the image starts from: a bootable systemd host, its bootloader, and what the
# playbook needs to run (python3 for the venv and Ansible's apt module). The roles
# install and configure the services.
include=(systemd-sysv udev dbus kmod e2fsprogs iproute2 iputils-ping netbase procps less
    ca-certificates python3 python3-venv python3-apt initramfs-tools grub-pc-bin grub2-common)
# The kernel comes after initramfs-tools is configured: one initramfs build instead of
# two (the kernel's and initramfs-tools' own trigger), 40 s less.
kernel=linux-image-amd64
cmdline="console=tty0 console=ttyS0,115200n8 net.ifnames=0"

bundle=$(python3 "$repo/image/release.py" --root "$repo" --out "$out_dir")
version=$(basename "$bundle" .tar.gz)
version=${version#vcbox-}
image="$out_dir/vcbox-$version.img"
log "vcbox $version from $bundle"

stage=$(mktemp -d /tmp/vcbox-image.XXXXXX)
partial="$out_dir/.vcbox-$version.img.partial"
mnt="$stage/root"
loop=""
chroot_pids() {
    local proc
    for proc in /proc/[0-9]*; do
        [[ $(readlink "$proc/root" 2>/dev/null) == "$mnt"* ]] && echo "${proc#/proc/}"
    done
    return 0
}
cleanup() {
    local rc=$? pids
    # An interrupted build may leave processes of its own in the chroot (dpkg, a
    # maintainer script): they would keep the disk busy.
    pids=$(chroot_pids)
    if [[ -n $pids ]]; then
        # shellcheck disable=SC2086
        kill -TERM $pids 2>/dev/null || true
        sleep 2
        pids=$(chroot_pids)
        # shellcheck disable=SC2086
        [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
    fi
    if mountpoint -q "$mnt"; then
        umount -R "$mnt" || umount -R --lazy "$mnt" || true
    fi
    if [[ -n $loop ]]; then
        partx -d "$loop" 2>/dev/null || true
        losetup -d "$loop" || true
    fi
    rm -rf "$stage"
    rm -f "$partial"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The code: the release bundle's content (the controlplane role unpacks the bundle itself).
mkdir -p "$stage/src" "$mnt"
tar -xzf "$bundle" -C "$stage/src"
for need in requirements-runtime.txt playbooks/site.yml ansible.cfg; do
    [[ -e $stage/src/$need ]] || die "the bundle lacks $need"
done
cp "$bundle" "$stage/bundle.tar.gz"
fs_debs=${VCBOX_FREESWITCH_DEBS:-$repo/../shared/freeswitch/debs}
if compgen -G "$fs_debs/*.deb" >/dev/null; then
    mkdir -p "$stage/freeswitch-debs"
    cp "$fs_debs"/*.deb "$stage/freeswitch-debs/"
    log "FreeSWITCH from $(cd "$fs_debs" && pwd)"
else
    log "FreeSWITCH: no packages in $fs_debs; the image is built without it"
fi

# The disk.
mkdir -p "$out_dir" "$cache/image-apt"
rm -f "$partial"
truncate -s "$size" "$partial"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk --quiet "$partial"
loop=$(losetup --find --show --partscan "$partial")
part="${loop}p1"
# Without udev the partition's node may need a nudge.
for _ in $(seq 50); do
    [[ -b $part ]] && break
    partx -a "$loop" 2>/dev/null || true
    sleep 0.1
done
[[ -b $part ]] || die "$part did not appear"
uuid=$(cat /proc/sys/kernel/random/uuid)
mkfs.ext4 -q -F -L vcbox-root -U "$uuid" "$part"
# No cache flushes while building (each would fsync the image file on this host); the
# final sync and umount make the disk whole.
mount -o barrier=0,noatime "$part" "$mnt"
log "disk: $size, $part, root UUID $uuid"

# The system. The APT cache (.deb files) goes in first and comes back out once the
# packages are in, and again after the playbook; mmdebstrap's cleanup empties it in the
# image. (No pip cache: the PyPI answers this host gets carry no caching headers.)
# force-unsafe-io: no fsync per unpacked file (a loop device makes them costly).
export VCBOX_CACHE=$cache VCBOX_STAGE=$stage VCBOX_LOOP=$loop VCBOX_PART=$part \
    VCBOX_ROOT_UUID=$uuid VCBOX_CMDLINE=$cmdline VCBOX_IMAGE_PLAYBOOK=$dev_playbook \
    VCBOX_IMAGE_ANSIBLE_ARGS=${VCBOX_IMAGE_ANSIBLE_ARGS:-}
(cd "$cache" && mmdebstrap --mode=root --variant=apt --format=directory \
    --include="$(IFS=,; echo "${include[*]}")" \
    --dpkgopt=force-unsafe-io \
    --skip=essential/unlink \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives' \
    --setup-hook='sync-in image-apt /var/cache/apt/archives/' \
    --customize-hook="chroot \"\$1\" apt-get install --yes --no-install-recommends $kernel" \
    --customize-hook='sync-out /var/cache/apt/archives image-apt' \
    --customize-hook="\"$self\" --customize \"\$1\"" \
    --customize-hook='sync-out /var/cache/apt/archives image-apt' \
    bookworm "$mnt" \
    "deb $mirror bookworm main" \
    "deb $mirror bookworm-updates main" \
    "deb $security bookworm-security main")
rm -rf "$cache/image-apt/lock" "$cache/image-apt/partial"

sync
umount -R "$mnt"
partx -d "$loop" 2>/dev/null || true
losetup -d "$loop"
loop=""
mv -f "$partial" "$image"
log "image: $image ($(du -h --apparent-size "$image" | cut -f1), $(du -h "$image" | cut -f1) used)"
echo "$image"
