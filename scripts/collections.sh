#!/usr/bin/env bash
# The Ansible collections the role tests need (DESIGN D9), taken from the pinned `ansible`
# wheel on PyPI since Galaxy is out of reach: community.general, for its chroot connection
# (both molecule scenarios enter their instance with it). Only what is listed is
# unpacked, into .ansible/collections (ansible.cfg's collections_path).
# Idempotent: a second run only compares a stamp.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ANSIBLE_VERSION=12.3.0
WHEEL_SHA256=cd156f82fa87f7a899212b0efa9f7ca3a24d609212de9f78428a572eb01e5414
COLLECTIONS=(community/general)

dest=.ansible/collections
stamp=$dest/.vcbox-collections
want="ansible $ANSIBLE_VERSION: ${COLLECTIONS[*]}"
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
    exit 0
fi

cache=${VCBOX_CACHE:-.cache}/ansible-wheel
wheel=$cache/ansible-$ANSIBLE_VERSION-py3-none-any.whl
mkdir -p "$cache"
if [[ ! -f $wheel ]] || ! sha256sum -c --status <<<"$WHEEL_SHA256  $wheel"; then
    rm -f "$wheel"
    echo "collections: downloading ansible $ANSIBLE_VERSION (wheel, no deps)" >&2
    .venv/bin/pip download --no-input --no-deps --only-binary=:all: \
        -d "$cache" "ansible==$ANSIBLE_VERSION" >&2
fi
sha256sum -c --status <<<"$WHEEL_SHA256  $wheel" || {
    echo "collections: $wheel does not match its pinned sha256" >&2
    exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vcbox-collections.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Python's zipfile, not unzip (one Debian package fewer): only the listed collections.
.venv/bin/python - "$wheel" "$tmp" "${COLLECTIONS[@]}" <<'PY'
import sys
import zipfile

wheel, dest, *collections = sys.argv[1:]
prefixes = tuple(f"ansible_collections/{c}/" for c in collections)
with zipfile.ZipFile(wheel) as z:
    z.extractall(dest, [n for n in z.namelist() if n.startswith(prefixes)])
PY
# What an earlier run unpacked goes first (a collection no longer listed included).
if [[ -f $stamp ]]; then
    for c in $(sed 's/^[^:]*://' "$stamp"); do
        rm -rf "${dest:?}/ansible_collections/$c"
    done
fi
rm -f "$stamp" "$dest"/.vcbox-ansible-*
mkdir -p "$dest/ansible_collections"
for c in "${COLLECTIONS[@]}"; do
    rm -rf "${dest:?}/ansible_collections/$c"
    mkdir -p "$dest/ansible_collections/${c%/*}"
    mv "$tmp/ansible_collections/$c" "$dest/ansible_collections/$c"
done
printf '%s\n' "$want" >"$stamp"
echo "collections: ${COLLECTIONS[*]} from ansible $ANSIBLE_VERSION in $dest" >&2
