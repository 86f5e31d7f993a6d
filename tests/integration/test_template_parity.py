"""The control plane and the Ansible roles render the same files from templates/.

The control plane renders every template with its own Jinja environment
(controlplane/apply/render.py); the roles render the same files with
ansible.builtin.template. Both get the context of controlplane/apply/context.py (the roles
read it through roles/controlplane/files/context.py, as on the appliance: ROOT=/,
VCBOX_SERVICE_MODE=systemd). Here Ansible's own template module renders every template
on this machine (connection local, no become), with the options the roles pass, into a
temp folder only, and each file must be byte for byte what the control plane writes. Each
settings case is an inventory host of its own, so one playbook run renders them all.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane import secrets
from controlplane.apply.context import build
from controlplane.apply.render import TEMPLATES, render_all, template_names
from controlplane.config import Config
from controlplane.settings import Settings
from controlplane.store import Documents
from tests.components import locate

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
SRC_PREFIX = "{{ vcbox_templates_dir }}/"
# The options of ansible.builtin.template that shape the output, as the roles set them
# (checked by test_roles_pass_the_options_the_parity_playbook_uses).
RENDER_OPTIONS = {"lstrip_blocks": True}

# A combination of settings other than the defaults that takes the other branch of the
# templates' conditions: static LAN, WAN on, NAT, a route, HTTPS on, SSH off, another
# time zone with DST off (a fixed offset), manual time, remote syslog over TLS, other
# layouts and language.
NON_DEFAULT: list[tuple[str, dict[str, Any]]] = [
    ("network", {
        "domain": "conf.example.org",
        "lan": {"enabled": True, "dhcp": False, "address": "192.168.10.5",
                "netmask": "255.255.255.0", "gateway": "192.168.10.1",
                "dns1": "192.168.10.53", "dns2": "9.9.9.9"},
        "wan": {"enabled": True, "dhcp": True},
        "nat": {"enabled": True, "public_ip": "203.0.113.7"},
        "routes": [{"destination": "10.20.0.0", "netmask": "255.255.0.0",
                    "gateway": "192.168.10.254", "nic": "lan"}],
    }),
    ("call", {"max_video_resolution": "1080p30", "equal_layout": "3x3",
              "one_plus_n_layout": "1+5", "ivr_language": "en",
              "max_uplink_kbps": 1024, "max_downlink_kbps": 4096}),
    ("services", {"http_port": 8000, "https_enabled": True, "https_port": 8443,
                  "https_nat_port": 443, "ssh_enabled": False, "ssh_port": 2222,
                  "sip_port": 5070, "sip_tls_port": 5071}),
    ("time", {"dst": "off", "timezone": "Europe/Berlin", "source": "manual",
              "manual_datetime": "2026-01-31T09:30:00"}),
    ("syslog", {"server": "logs.example.com", "port": 6514, "transport": "tls"}),
]


def role_template_paths() -> dict[str, set[str]]:
    """Every template path a role renders from vcbox_templates_dir -> the task files."""
    defaults: dict[str, Any] = {}
    for path in sorted(ROLES.glob("*/defaults/main.yml")):
        defaults.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    found: dict[str, set[str]] = {}
    for path in sorted(ROLES.glob("*/tasks/*.yml")):
        for task in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            args = task.get("ansible.builtin.template") or task.get("template")
            if not args:
                continue
            src = args["src"]
            assert src.startswith(SRC_PREFIX), f"{path}: {src} is not under templates/"
            rel = src.removeprefix(SRC_PREFIX)
            if "{{ item }}" in rel:
                loop = task["loop"]
                if isinstance(loop, str):
                    match = re.fullmatch(r"\{\{\s*(\w+)\s*\}\}", loop)
                    assert match, f"{path}: cannot read the loop {loop!r}"
                    loop = defaults[match.group(1)]
                names = [rel.replace("{{ item }}", item) for item in loop]
            else:
                names = [rel]
            for name in names:
                found.setdefault(name, set()).add(path.relative_to(REPO).as_posix())
    return found


def template_tasks() -> list[tuple[str, dict[str, Any]]]:
    tasks = []
    for path in sorted(ROLES.glob("*/tasks/*.yml")):
        for task in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            args = task.get("ansible.builtin.template") or task.get("template")
            if args:
                tasks.append((f"{path.relative_to(REPO)}: {task['name']}", args))
    return tasks


def test_every_template_a_role_references_exists() -> None:
    paths = role_template_paths()
    assert paths, "no role renders a template from vcbox_templates_dir"
    missing = {name: sorted(files) for name, files in paths.items()
               if not (TEMPLATES / name).is_file()}
    assert not missing, f"roles reference templates that templates/ lacks: {missing}"


def test_roles_pass_the_options_the_parity_playbook_uses() -> None:
    shaping = ("trim_blocks", "lstrip_blocks", "newline_sequence", "block_start_string",
               "block_end_string", "variable_start_string", "variable_end_string",
               "comment_start_string", "comment_end_string", "output_encoding")
    for where, args in template_tasks():
        options = {key: args[key] for key in shaping if key in args}
        assert options == RENDER_OPTIONS, f"{where}: {options} (the parity test uses "\
            f"{RENDER_OPTIONS}: render with the same options everywhere, or adapt the test)"


# -- rendering -------------------------------------------------------------------------

def control_plane_context(data: Path, changes: list[tuple[str, dict[str, Any]]],
                          ) -> dict[str, Any]:
    """What roles/controlplane/files/context.py prints on the appliance (ROOT=/, systemd,
    the directory listener on 8089), from a store in `data`: nothing is written to /."""
    config = Config(data_dir=data, root=Path("/"), service_mode="systemd",
                    directory_port=8089)
    data.mkdir(parents=True, exist_ok=True)
    docs = Documents(config.documents_path)
    try:
        settings = Settings(docs)
        pending: dict[str, dict[str, Any]] = {}
        for section, change in changes:
            prepared = settings.prepare(section, change, pending)
            assert prepared.changed, f"{section}: {change} changes nothing"
            settings.save(prepared)
            pending[section] = prepared.new
        return build(settings.all(), secrets.ensure(docs), config)
    finally:
        docs.close()


PLAYBOOK = """\
- name: Render every template as the roles do
  hosts: all
  connection: local
  gather_facts: false
  become: false
  tasks:
    - name: Render the templates
      ansible.builtin.template:
        src: "{{ vcbox_templates_dir }}/{{ item }}"
        dest: "{{ parity_out }}/{{ item }}"
        mode: "0600"
%(options)s
      loop: "{{ parity_templates }}"
"""
# The settings the parity test renders, by the name of the inventory host that renders
# them: one ansible-playbook run renders both, the hosts side by side (forks).
CASES: dict[str, list[tuple[str, dict[str, Any]]]] = {"defaults": [], "non-default": NON_DEFAULT}


def ansible_render(tmp: Path, contexts: dict[str, dict[str, Any]], names: tuple[str, ...],
                   ) -> dict[str, dict[str, bytes]]:
    """Each context rendered by ansible.builtin.template, on an inventory host of its own
    name: host -> template name -> bytes."""
    playbook = Path(locate("ansible-playbook"))
    hosts = {}
    for host, context in contexts.items():
        out = tmp / "out" / host
        for name in names:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
        hosts[host] = {
            **context,
            # What vcbox_common's "{{ role_path }}/../../templates" points at.
            "vcbox_templates_dir": str(TEMPLATES),
            "parity_out": str(out),
            "parity_templates": list(names),
            "ansible_python_interpreter": sys.executable,
        }
    options = "\n".join(f"        {key}: {json.dumps(value)}"
                        for key, value in RENDER_OPTIONS.items())
    (tmp / "render.yml").write_text(PLAYBOOK % {"options": options}, encoding="utf-8")
    (tmp / "inventory.json").write_text(json.dumps({"all": {"hosts": hosts}}),
                                        encoding="utf-8")
    (tmp / "ansible.cfg").write_text(
        "[defaults]\nretry_files_enabled = False\ninterpreter_python = auto_silent\n",
        encoding="utf-8")
    for folder in ("collections", "home", "local_tmp", "remote_tmp", "cache"):
        (tmp / folder).mkdir()
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("ANSIBLE_")]:
        del env[key]
    env.update({
        "ANSIBLE_CONFIG": str(tmp / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(tmp / "collections"),
        "ANSIBLE_HOME": str(tmp / "home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "local_tmp"),
        "ANSIBLE_REMOTE_TEMP": str(tmp / "remote_tmp"),
        "ANSIBLE_BECOME": "False",
        "ANSIBLE_NOCOLOR": "1",
        "XDG_CACHE_HOME": str(tmp / "cache"),
    })
    proc = subprocess.run(
        [str(playbook), "-i", str(tmp / "inventory.json"), str(tmp / "render.yml")],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=100, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {host: {name: (tmp / "out" / host / name).read_bytes() for name in names}
            for host in contexts}


@dataclass
class Rendered:
    ours: dict[str, dict[str, bytes | None]]
    theirs: dict[str, dict[str, bytes]]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """Every case rendered by the control plane and, in one run, by Ansible."""
    tmp = tmp_path_factory.mktemp("parity")
    contexts = {host: control_plane_context(tmp / "data" / host, changes)
                for host, changes in CASES.items()}
    names = template_names()
    ours = {host: render_all(context) for host, context in contexts.items()}
    for host, files in ours.items():
        assert set(files) == set(names), host
    return Rendered(ours, ansible_render(tmp / "ansible", contexts, names))


def _diff(name: str, ours: bytes, theirs: bytes) -> str:
    lines = difflib.unified_diff(
        ours.decode("utf-8", "replace").splitlines(keepends=True),
        theirs.decode("utf-8", "replace").splitlines(keepends=True),
        f"control plane: {name}", f"ansible: {name}")
    return "".join(lines) or f"(differ only in bytes: {ours!r} != {theirs!r})"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", list(CASES))
def test_ansible_renders_the_files_the_control_plane_writes(rendered: Rendered,
                                                            case: str) -> None:
    ours, theirs = rendered.ours[case], rendered.theirs[case]
    omitted = sorted(name for name, content in ours.items() if content is None)
    if CASES[case]:
        # The non-default settings turn on every optional file.
        assert omitted == [], omitted
    not_blank = [name for name in omitted if theirs[name].strip()]
    assert not not_blank, (
        f"the control plane omits these files but Ansible renders content: {not_blank}")

    diffs = [_diff(name, content, theirs[name]) for name, content in sorted(ours.items())
             if content is not None and content != theirs[name]]
    assert not diffs, f"{len(diffs)} file(s) differ:\n" + "\n".join(diffs)
