# vcbox developer entry points. `make run` and `make test` work on a fresh
# Debian 12/13 machine: both first run scripts/setup.sh (fast when done).
# `make run` honours VCBOX_DATA, VCBOX_ROOT and VCBOX_LISTEN (read by the program).

PYTHON := .venv/bin/python
RUFF   := .venv/bin/ruff
# Only the source trees that exist (an empty directory is not in a git checkout).
LINT_PATHS := $(wildcard controlplane tests bench image)

.PHONY: setup run test lint bench reliability release image

setup:
	bash scripts/setup.sh

run: setup
	$(PYTHON) -m controlplane serve

lint: setup
	$(RUFF) check $(LINT_PATHS)

test: setup
	$(RUFF) check $(LINT_PATHS)
	$(PYTHON) -m pytest -q --durations=25 tests/unit tests/integration tests/reliability tests/e2e tests/system

bench: setup
	$(PYTHON) -m bench

# The reliability suite (issue 16 item 3) in longer rounds: RELIABILITY_SCALE times the
# rounds `make test` runs of each case (or VCBOX_RELIABILITY_ROUNDS=N: N rounds each).
# Its counts table ends the output.
RELIABILITY_SCALE ?= 10
reliability: setup
	VCBOX_RELIABILITY_SCALE=$(RELIABILITY_SCALE) $(PYTHON) -m pytest -q --timeout=7200 tests/reliability

# The upgrade bundle (SPEC G1): out/vcbox-<version>.tar.gz with its manifest.json, signed
# when VCBOX_RELEASE_SIGNING_KEY names an Ed25519 private key (PEM).
release: setup
	$(PYTHON) image/release.py --out out $(if $(VCBOX_RELEASE_SIGNING_KEY),--sign $(VCBOX_RELEASE_SIGNING_KEY))

# The appliance disk image (issue 5, DESIGN D9): out/vcbox-<version>.img, built as root
# by image/build.sh (mmdebstrap + the playbooks in a chroot + GRUB); boots under qemu.
image: setup
	bash image/build.sh out
