#!/usr/bin/env bash
# The apt archive cache of a molecule instance. apt locks the folder it downloads into, so
# each instance gets its own, seeded from a pool that every instance gives back to at its
# end (hard links, not copies): a second run downloads nothing.
#   apt-cache.sh take NAME   make $VCBOX_CACHE/molecule/apt/NAME from the pool; print it
#   apt-cache.sh give NAME   add NAME's packages to the pool, remove NAME
set -euo pipefail

project=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
apt=${VCBOX_CACHE:-$project/.cache}/molecule/apt
pool=$apt/pool

if [[ $# -ne 2 || ! $2 =~ ^[A-Za-z0-9_.-]+$ || $2 == pool ]]; then
    echo "usage: $0 take|give NAME" >&2
    exit 2
fi
dir=$apt/$2
mkdir -p "$pool"
case $1 in
    take)
        mkdir -p "$dir/partial"
        find "$pool" -maxdepth 1 -name '*.deb' -exec cp -ln -t "$dir" {} +
        printf '%s\n' "$dir"
        ;;
    give)
        if [[ -d $dir ]]; then
            find "$dir" -maxdepth 1 -name '*.deb' -exec cp -ln -t "$pool" {} +
            rm -rf "$dir"
        fi
        ;;
    *)
        echo "usage: $0 take|give NAME" >&2
        exit 2
        ;;
esac
