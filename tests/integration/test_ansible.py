"""The Ansible roles (issue 5, DESIGN D9): defaults generated from the settings sections,
ansible-lint (production profile, offline) and the playbook's syntax.

Nothing here runs the playbook against this host: it would install and reconfigure it.
Regenerate the shared defaults with `.venv/bin/python tests/integration/test_ansible.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from controlplane.apply.context import NOT_RENDERED  # noqa: E402
from controlplane.sections import SECTIONS  # noqa: E402
from tests.components import locate  # noqa: E402

DEFAULTS = REPO / "roles" / "vcbox_common" / "defaults" / "main.yml"

HEADER = """\
---
# GENERATED from controlplane/sections (SPEC §9) by tests/integration/test_ansible.py:
# do not edit; run `.venv/bin/python tests/integration/test_ansible.py` instead.
# Every settings key as vcbox_<key> (syslog as vcbox_syslog_<key>; smtp is not rendered).
# On a host where the control plane is installed, the controlplane role replaces these
# with the values of its store, so a later run keeps the administrator's settings.

"""

# What controlplane/apply/context.py adds to the settings, at their appliance values.
RUNTIME = """
# Runtime values (controlplane/apply/context.py), as on the appliance (ROOT=/).
# false at image build in a chroot: nothing is started, restarted or reloaded.
vcbox_runtime: true
vcbox_prefix: ""
vcbox_controlplane_port: 8080
vcbox_directory_port: 8089
# sofia's SIP capture (HEP v3) to the control plane, for the terminal logs (O4).
vcbox_hep_port: 9060
vcbox_controlplane_url: "http://127.0.0.1:{{ vcbox_controlplane_port }}"
vcbox_directory_url: "http://127.0.0.1:{{ vcbox_directory_port }}"
vcbox_xml_curl_user: freeswitch
vcbox_lan_ifname: eth0
vcbox_wan_ifname: eth1
# The address media binds to while the interfaces use DHCP.
vcbox_media_ip: 127.0.0.1
vcbox_public_ip: ""
vcbox_tls_cert: /etc/vcbox/tls/vcbox.crt
vcbox_tls_key: /etc/vcbox/tls/vcbox.key
vcbox_tz_name: "{{ vcbox_timezone }}"
vcbox_lan_prefixlen: null
vcbox_wan_prefixlen: null
vcbox_routes_cidr: []
vcbox_static_gateway: false
# "" = nginx listens on every address.
vcbox_web_listen_address: ""

# Where the appliance keeps its code and data.
vcbox_app_dir: /opt/vcbox/app
vcbox_venv: /opt/vcbox/venv
vcbox_data_dir: /var/lib/vcbox
# The one copy of every config template (the repository's top-level templates/).
vcbox_templates_dir: "{{ role_path }}/../../templates"
"""


def settings_defaults() -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, section in SECTIONS.items():
        if name in NOT_RENDERED:
            continue
        for key, value in section.defaults.items():
            flat[f"vcbox_{section.var_prefix}{key}"] = value
    return flat


def generated() -> str:
    body = yaml.safe_dump(settings_defaults(), default_flow_style=False, sort_keys=False,
                          allow_unicode=True, width=88, explicit_start=False)
    return HEADER + "# Settings (SPEC §9)\n" + body + RUNTIME


def test_defaults_are_generated_from_the_sections() -> None:
    assert DEFAULTS.read_text(encoding="utf-8") == generated(), (
        "roles/vcbox_common/defaults/main.yml differs from controlplane.sections: run "
        "`.venv/bin/python tests/integration/test_ansible.py`")
    loaded = yaml.safe_load(DEFAULTS.read_text(encoding="utf-8"))
    for key, value in settings_defaults().items():
        assert loaded[key] == value


def test_the_janus_role_unpacks_sofia_where_the_control_plane_looks() -> None:
    from controlplane.drivers.processes import JANUS_LIB_DIR

    janus = yaml.safe_load((REPO / "roles/janus/defaults/main.yml").read_text("utf-8"))
    assert janus["vcbox_janus_lib_dir"] == str(JANUS_LIB_DIR)
    assert janus["vcbox_janus_sofia_package"].startswith("libsofia-sip-ua0=1.12.")


def _tool(name: str) -> Path:
    return Path(locate(name))


def _env(tmp_path: Path) -> dict[str, str]:
    # No network, no collection installs, nothing written outside tmp_path.
    env = dict(os.environ)
    empty = tmp_path / "collections"
    empty.mkdir(exist_ok=True)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(empty),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
        "ANSIBLE_HOME": str(tmp_path / "home"),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "NO_COLOR": "1",
    })
    return env


@pytest.mark.timeout(60)
def test_ansible_lint_production_profile_offline(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(_tool("ansible-lint")), "--offline", "--profile", "production", "--nocolor",
         "playbooks/site.yml", "playbooks/factory_reset.yml", "playbooks/upgrade.yml",
         "roles/"],
        cwd=REPO, env=_env(tmp_path), capture_output=True, text=True, timeout=55)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("playbook", ["site.yml", "factory_reset.yml", "upgrade.yml"])
def test_site_playbook_syntax(tmp_path: Path, playbook: str) -> None:
    proc = subprocess.run(
        [str(_tool("ansible-playbook")), "--syntax-check", "-i", "localhost,",
         f"playbooks/{playbook}"],
        cwd=REPO, env=_env(tmp_path), capture_output=True, text=True, timeout=55)
    assert proc.returncode == 0, proc.stdout + proc.stderr


if __name__ == "__main__":
    DEFAULTS.write_text(generated(), encoding="utf-8")
    print(f"wrote {DEFAULTS.relative_to(REPO)}")
