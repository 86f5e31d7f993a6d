#!/usr/bin/env bash
# The instance of molecule's podman scenario: the cached bookworm base as a local image
# (`podman import`, no registry) run with systemd as PID 1 (DESIGN D9: runc, lowered
# ulimits), its port 80 published on 127.0.0.1 (a free port).
#   podman.sh create NAME    import the base when its image is missing, run NAME, wait for
#                            systemd, give it the host's CA trust and the appliance's two
#                            NICs, link $VCBOX_CACHE/molecule/podman/NAME/root to its
#                            /proc/PID/root (for shared/enter.sh); prints "created" when it
#                            started the container, nothing else when NAME already runs
#   podman.sh port NAME      the host port that reaches NAME's port 80 (127.0.0.1)
#   podman.sh destroy NAME   stop and remove NAME; prints "destroyed" when it existed
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$(cd "$here/../.." && pwd)
cache=${VCBOX_CACHE:-$project/.cache}
base=$cache/bookworm-base.tar
shared=$cache/molecule
repo=localhost/vcbox-bookworm-base

usage() {
    echo "usage: $0 create|port|destroy NAME" >&2
    exit 2
}

running() {
    [[ $(podman container inspect --format '{{.State.Running}}' "$1" 2>/dev/null) == true ]]
}

# The image of the current base tar, tagged with the tar's checksum; older tags go.
image() {
    local tag ref old
    bash "$project/image/base.sh" >&2
    tag=$(sha256sum "$base" | cut -c1-16)
    ref=$repo:$tag
    if ! podman image exists "$ref"; then
        podman import --quiet --change 'CMD ["/sbin/init"]' "$base" "$ref" >/dev/null
        while read -r old; do
            [[ $old == "$ref" ]] || podman rmi "$old" >/dev/null 2>&1 || true
        done < <(podman images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$repo")
    fi
    printf '%s\n' "$ref"
}

# podman's defaults (nofile 1048576, nproc 4194304) exceed what runc may set here:
# 16384, or this shell's hard limit when that is lower.
limit() {
    local hard
    hard=$(ulimit "$1")
    if [[ $hard == unlimited ]] || ((hard > 16384)); then
        hard=16384
    fi
    printf '%s:%s\n' "$hard" "$hard"
}

# Where Ansible enters the container (molecule/shared/enter.sh).
link() {
    local name=$1 pid
    pid=$(podman container inspect --format '{{.State.Pid}}' "$name")
    mkdir -p "$shared/podman/$name"
    ln -sfn "/proc/$pid/root" "$shared/podman/$name/root"
}

create() {
    local name=$1 ref state i archives
    if running "$name"; then
        link "$name"
        return 0
    fi
    podman rm -f "$name" >/dev/null 2>&1 || true
    ref=$(image)
    archives=$("$here/../shared/apt-cache.sh" take "podman-$name")
    mkdir -p "$shared/pip"
    # NET_ADMIN: the firewall role checks and loads its nftables rules, in the container's
    # own network namespace. The container's link is mgmt0, not the appliance's LAN/WAN
    # (eth0/eth1): systemd-networkd there leaves the harness's link alone.
    podman run --detach --name "$name" --hostname vcbox \
        --runtime runc --systemd=always \
        --ulimit "nofile=$(limit -Hn)" --ulimit "nproc=$(limit -Hu)" \
        --cap-add NET_ADMIN --network bridge:interface_name=mgmt0 --publish 127.0.0.1::80 \
        --volume "$archives:/var/cache/apt/archives" \
        --volume "$shared/pip:/root/.cache/pip" \
        "$ref" /sbin/init >/dev/null
    for ((i = 0; i < 60; i++)); do
        state=$(podman exec "$name" systemctl is-system-running 2>/dev/null || true)
        [[ $state == running || $state == degraded ]] && break
        sleep 0.5
    done
    if [[ $state != running && $state != degraded ]]; then
        echo "podman.sh: systemd in $name did not come up (state: ${state:-none})" >&2
        podman logs "$name" >&2 || true
        exit 1
    fi
    # Trust what the host trusts (a TLS-inspecting egress proxy's CA, if any): apt, pip
    # and curl in the container reach the registries through it.
    podman cp /etc/ssl/certs/ca-certificates.crt \
        "$name:/usr/local/share/ca-certificates/vcbox-molecule-host.crt"
    podman exec "$name" update-ca-certificates >/dev/null 2>&1
    # A container cannot own the clock (CLOCK_REALTIME is this machine's; the container
    # has no CAP_SYS_TIME and must not get it): chronyd runs with -x, serving time
    # without setting it, instead of being skipped by its unit's ConditionCapability.
    podman exec "$name" sh -c 'mkdir -p /etc/systemd/system/chrony.service.d &&
        printf "%s\n" "# molecule (podman.sh): no clock control in a container" \
            "[Unit]" "ConditionCapability=" "[Service]" "ExecStart=" \
            "ExecStart=!/usr/sbin/chronyd \$DAEMON_OPTS -x" \
            >/etc/systemd/system/chrony.service.d/molecule-no-clock.conf'
    # The appliance's LAN and WAN NICs (eth0, eth1: the control plane applies its network
    # settings to them), each a veth whose peer stays in the container.
    podman exec "$name" sh -c 'for nic in eth0 eth1; do
        ip link add "$nic" type veth peer name "$nic-peer" && ip link set "$nic-peer" up
    done'
    link "$name"
    echo created
}

port() {
    podman port "$1" 80/tcp | head -n1 | sed 's/.*://'
}

destroy() {
    local name=$1
    rm -rf "${shared:?}/podman/$name"
    podman container exists "$name" || return 0
    podman rm --force --time 10 "$name" >/dev/null
    "$here/../shared/apt-cache.sh" give "podman-$name"
    echo destroyed
}

[[ $# -eq 2 ]] || usage
case $1 in
    create) create "$2" ;;
    port) port "$2" ;;
    destroy) destroy "$2" ;;
    *) usage ;;
esac
