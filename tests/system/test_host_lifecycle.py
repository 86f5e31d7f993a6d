"""A converged host's life (issue 5, SPEC G1 and G2), on one podman container with systemd
as PID 1 (molecule's podman scenario, tests/system/molecule_support.py):

1. the administrator is created through the setup wizard's API, settings in several
   sections are changed, accounts and rooms created and the trial started, all through
   nginx on the published port;
2. playbooks/upgrade.yml, run on the host, upgrades it with a bundle of version N+1 built
   from this checkout: every setting, account, room and the license are as before, and
   the rendered configs still carry the changed values;
3. playbooks/factory_reset.yml in mode settings, then in mode all, removes exactly what
   controlplane/maintenance.py says (G2) and keeps everything else.

The host is molecule's podman scenario: its test sequence (the second converge changes
nothing, verify.yml passes) runs on it first (issue 5).

The tests run in this order and share the host: each states what it starts from."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from controlplane.license import TRIAL_DOC
from controlplane.secrets import DOC as SECRETS
from controlplane.store.documents import META, SINGLETON_ID
from tests.conftest import Client, create_admin
from tests.release_builder import builder
from tests.system.molecule_support import (
    REPO,
    PodmanHost,
    check_scenario,
    destroy_podman,
    missing_prerequisites,
    podman_host,
)

pytestmark = pytest.mark.timeout(1800)

CONTAINER = "vcbox-lifecycle"
APP = "/opt/vcbox/app"
RELEASES = "/opt/vcbox/releases"
DATA = "/var/lib/vcbox"
PLAYBOOK = "/opt/vcbox/venv/bin/ansible-playbook"
SECTIONS = ("call", "network", "services", "ports", "time", "smtp", "syslog")
# Answer keys that are not settings: the server's clock.
VOLATILE = ("server_time",)

# Changes in several sections; none touches the network the container depends on.
CHANGES: dict[str, dict[str, Any]] = {
    "call": {"max_video_resolution": "1080p30", "equal_layout": "3x3"},
    "services": {"ssh_port": 2222},
    "ports": {"mcu": {"min": 50000, "max": 58999}},
    # The same UTC offset as the default zone: accounts' and rooms' local creation times
    # read the same before and after a restart into the new zone.
    "time": {"timezone": "Asia/Taipei"},
    "syslog": {"server": "192.0.2.50", "port": 1514, "transport": "tcp"},
}
# What the changes above render, and what the defaults render, per file.
RENDERED = {
    "/etc/ssh/sshd_config": ("Port 2222", "Port 22\n"),
    "/etc/timezone": ("Asia/Taipei", "Asia/Shanghai"),
    # Without a server nothing forwards: no file.
    "/etc/rsyslog.d/60-vcbox-forward.conf": ("192.0.2.50", None),
    "/etc/janus/janus.jcfg": ("50000-58999", "50000-59999"),
}
ACCOUNTS = (("Ann", "1001"), ("Bob", "1002"), ("王小明", "1003"))
MARKER_LOG = f"{DATA}/logs/web/lifecycle-test.log"


@dataclass
class State:
    """What the API showed and the host held after step 1."""

    defaults: dict[str, dict[str, Any]]
    settings: dict[str, dict[str, Any]]
    accounts: list[dict[str, Any]]
    rooms: list[dict[str, Any]]
    license: dict[str, Any]
    documents: dict[str, Any]
    rendered: dict[str, str | None]
    oplog: list[dict[str, Any]]


# -- helpers ---------------------------------------------------------------------------

def wait_for_api(host: PodmanHost, timeout: float = 120) -> None:
    """Until the control plane answers through nginx (after a restart)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            res = requests.get(host.base_url + "/api/v1/setup", timeout=5)
            if res.status_code == 200:
                return
            last = f"{res.status_code} {res.text[:200]}"
        except requests.RequestException as exc:
            last = str(exc)
        time.sleep(1)
    raise AssertionError(f"the control plane did not answer through nginx: {last}")


def login(host: PodmanHost) -> Client:
    client = Client(host.base_url)
    res = client.login()
    assert res.status_code == 200, res.text
    return client


def check(res: requests.Response, status: int = 200) -> Any:
    assert res.status_code == status, (
        f"{res.request.method} {res.url}: {res.status_code} {res.text}")
    return res.json()


def sections(client: Client) -> dict[str, dict[str, Any]]:
    out = {}
    for name in SECTIONS:
        doc = check(client.get(f"/api/v1/settings/{name}"))
        out[name] = {k: v for k, v in doc.items() if k not in VOLATILE}
    return out


def accounts(client: Client) -> list[dict[str, Any]]:
    return check(client.get("/api/v1/accounts", params={"limit": 1000}))["items"]


def rooms(client: Client) -> list[dict[str, Any]]:
    return check(client.get("/api/v1/rooms", params={"limit": 1000}))["items"]


def license_state(client: Client) -> dict[str, Any]:
    """GET /api/v1/license without days_left, which counts down at midnight."""
    doc = check(client.get("/api/v1/license"))
    doc.pop("days_left")
    return doc


def oplog(client: Client) -> list[dict[str, Any]]:
    return check(client.get("/api/v1/operation-log", params={"limit": 1000}))["items"]


def documents(host: PodmanHost) -> dict[str, Any]:
    return json.loads(host.exec("cat", f"{DATA}/documents.json").stdout)


def rendered(host: PodmanHost) -> dict[str, str | None]:
    """The files of RENDERED as the host holds them; None for an absent one."""
    files: dict[str, str | None] = {}
    for path in RENDERED:
        proc = host.exec("cat", path, check=False)
        files[path] = proc.stdout if proc.returncode == 0 else None
    return files


def history_rows(host: PodmanHost) -> dict[str, int] | None:
    """Rows per table of the history database; None when the file is absent."""
    script = (
        "import json, os, sqlite3, sys\n"
        f"p = '{DATA}/history.sqlite3'\n"
        "if not os.path.exists(p): print('null'); sys.exit()\n"
        "db = sqlite3.connect(p)\n"
        "names = [r[0] for r in db.execute(\"SELECT name FROM sqlite_master WHERE type='table'"
        " AND name NOT LIKE 'sqlite_%'\")]\n"
        "print(json.dumps({n: db.execute(f'SELECT count(*) FROM \"{n}\"').fetchone()[0]"
        " for n in names}))\n")
    return json.loads(host.exec("/opt/vcbox/venv/bin/python", "-c", script).stdout)


def check_history_since(host: PodmanHost, since: float) -> None:
    """The history database holds nothing from before `since`: no sessions, login
    failures or reset tokens, and only operation-log entries made after it (the
    playbook's re-render logs one)."""
    rows = history_rows(host)
    assert rows is not None and rows.get("oplog"), rows
    assert not any(n for table, n in rows.items() if table != "oplog"), rows
    script = ("import sqlite3\n"
              f"db = sqlite3.connect('{DATA}/history.sqlite3')\n"
              "print(db.execute('SELECT min(ts) FROM oplog').fetchone()[0])\n")
    oldest = float(host.exec("/opt/vcbox/venv/bin/python", "-c", script).stdout)
    assert oldest >= since, (oldest, since)


def put_marker_log(host: PodmanHost) -> None:
    """A file under the data dir's logs folder, which a factory reset empties."""
    folder = Path(MARKER_LOG).parent
    host.exec("sh", "-c", f"mkdir -p {folder} && echo 'GET /' > {MARKER_LOG}")
    assert host.exec("test", "-s", MARKER_LOG, check=False).returncode == 0


def run_playbook(host: PodmanHost, playbook: str, *extra: str,
                 timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """A playbook of the installed app, run on the host itself as an operator would."""
    argv = ["podman", "exec", "-w", APP, "-e", f"ANSIBLE_CONFIG={APP}/ansible.cfg",
            "-e", "ANSIBLE_NOCOLOR=1", host.container, PLAYBOOK, "-i", "localhost,",
            "-c", "local", f"{APP}/playbooks/{playbook}", *extra]
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    print(f"{playbook} {' '.join(extra)}: {time.monotonic() - start:.0f} s")
    assert proc.returncode == 0, f"{playbook} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    return proc


def next_version(version: str) -> str:
    parts = version.split(".")
    return ".".join([*parts[:-1], str(int(parts[-1]) + 1)])


def build_next_bundle(folder: Path, version: str | None = None,
                      playbook: Callable[[str], str] | None = None) -> tuple[str, Path]:
    """This checkout's release content with __version__ N+1 (or `version`), bundled by
    image/release.py; `playbook` rewrites its playbooks/upgrade.yml."""
    root = folder / "src"
    for rel in builder.collect(REPO):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    current = builder.read_version(REPO)
    version = version or next_version(current)
    if playbook is not None:
        path = root / "playbooks" / "upgrade.yml"
        path.write_text(playbook(path.read_text(encoding="utf-8")), encoding="utf-8")
    init = root / "controlplane" / "__init__.py"
    source = init.read_text(encoding="utf-8")
    assert f'__version__ = "{current}"' in source
    init.write_text(source.replace(f'__version__ = "{current}"', f'__version__ = "{version}"'),
                    encoding="utf-8")
    out = subprocess.run([sys.executable, str(REPO / "image" / "release.py"), "--root",
                          str(root), "--out", str(folder / "out")],
                         capture_output=True, text=True, timeout=300, check=True)
    bundle = Path(out.stdout.strip())
    assert bundle.name == f"vcbox-{version}.tar.gz", out.stdout
    return version, bundle


# -- fixtures --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def host() -> Iterator[PodmanHost]:
    reason = missing_prerequisites("podman")
    if reason:
        pytest.skip(reason)
    start = time.monotonic()
    destroy_podman(CONTAINER)  # what an interrupted run may have left
    with podman_host(CONTAINER) as converged:
        print(f"podman host created and converged: {time.monotonic() - start:.0f} s")
        # The rest of molecule's podman test sequence, on this host before anything
        # changes it (one converge less than a `molecule test` of its own):
        # test_the_podman_scenario_converges_idempotently checks them.
        for step in ("idempotence", "verify"):
            converged.runs.append(converged.molecule.run(step, timeout=900))
        wait_for_api(converged)
        yield converged
    print(f"host lifecycle module, container up to destroyed: {time.monotonic() - start:.0f} s")


@pytest.fixture(scope="module")
def state(host: PodmanHost) -> State:
    """Step 1: the wizard's administrator, changed settings, accounts, rooms, trial."""
    assert check(requests.get(host.base_url + "/api/v1/setup", timeout=30))[
        "configured"] is False
    create_admin(host.base_url)
    client = login(host)
    defaults = sections(client)

    for name, change in CHANGES.items():
        res = client.put(f"/api/v1/settings/{name}", json={**change, "confirm": True},
                         timeout=180)
        check(res)
    changed = sections(client)
    for name, change in CHANGES.items():
        for key, value in change.items():
            assert changed[name][key] == value, (name, key, changed[name])
    assert changed != defaults

    trial = check(client.post("/api/v1/license/trial"))
    assert trial["activation_type"] == "trial" and trial["trial_used"] is True
    for name, number in ACCOUNTS:
        check(client.post("/api/v1/accounts", json={
            "name": name, "account": number, "email": f"u{number}@example.com"}), 201)
    check(client.post("/api/v1/rooms", json={"name": "Board", "kind": "normal"}))
    check(client.post("/api/v1/rooms", json={"name": "Lobby", "kind": "video",
                                              "bound_account": "1002"}))

    files = rendered(host)
    for path, (value, _default) in RENDERED.items():
        assert value in (files[path] or ""), f"{path} does not carry {value!r}:\n{files[path]}"
    return State(defaults=defaults, settings=changed, accounts=accounts(client),
                 rooms=rooms(client), license=license_state(client),
                 documents=documents(host), rendered=files, oplog=oplog(client))


# -- tests -----------------------------------------------------------------------------

def test_the_podman_scenario_converges_idempotently(host: PodmanHost) -> None:
    """molecule's podman scenario (its test sequence: create, converge, idempotence,
    verify, and destroy when this module ends): systemd as PID 1, nginx, janus, coturn
    and the control plane active, the admin page answering through nginx
    (molecule/podman/verify.yml), and a second converge that changes nothing."""
    check_scenario(host.runs, "podman", "vcbox-podman")
    print("molecule podman steps: " + ", ".join(
        f"{run.argv[1]} {run.seconds:.0f} s" for run in host.runs))


def test_upgrade_keeps_every_setting_and_account(host: PodmanHost, state: State,
                                                 tmp_path: Path) -> None:
    assert len(state.accounts) == len(ACCOUNTS) and len(state.rooms) == 2
    client = login(host)
    old = check(client.get("/api/v1/status"))["version"]
    version, bundle = build_next_bundle(tmp_path)
    assert version == next_version(old), (old, version)
    subprocess.run(["podman", "cp", str(bundle), f"{host.container}:/root/{bundle.name}"],
                   check=True, timeout=120)

    run_playbook(host, "upgrade.yml", "-e", f"vcbox_upgrade_bundle=/root/{bundle.name}")
    wait_for_api(host)

    assert host.exec("readlink", APP).stdout.strip() == f"{RELEASES}/{version}"
    client = login(host)
    assert check(client.get("/api/v1/status"))["version"] == version
    assert sections(client) == state.settings
    assert accounts(client) == state.accounts
    assert rooms(client) == state.rooms
    assert license_state(client) == state.license
    assert documents(host) == state.documents
    assert rendered(host) == state.rendered
    # The history survived: the operation log holds everything it held before.
    log = oplog(client)
    assert log[len(log) - len(state.oplog):] == state.oplog

    # Building the host again from the older source refuses to put old code under the
    # new release's name (the roles install the way upgrade.yml does).
    again = host.converge(timeout=900)
    assert again.returncode != 0, again.tail()
    assert f"newer than this bundle ({old})" in again.output, again.tail()
    assert host.exec("readlink", APP).stdout.strip() == f"{RELEASES}/{version}"
    manifest = json.loads(host.exec("cat", f"{RELEASES}/{version}/manifest.json").stdout)
    assert manifest["version"] == version


# A task of the new release's playbook that fails after the release was activated and
# the new code has touched nothing yet but the link.
BREAK_AFTER_ACTIVATE = """
    - name: Break midway
      ansible.builtin.fail:
        msg: this release's playbook fails after its activation

    - name: Make the IVR prompts"""


def browser_page(host: PodmanHost, browser: Any) -> tuple[Any, Any]:
    """A zh-CN page of the session's Chromium on the host's published port, signed in
    as the administrator."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    client = login(host)
    context.add_cookies([{"name": c.name, "value": c.value or "", "url": host.base_url}
                         for c in client.cookies])
    return context, context.new_page()


def upgrade_in_browser(page: Any, base_url: str, bundle: Path, version: str) -> None:
    """Choose the bundle, click Update, confirm the version the dialog names; until the
    page shows that upgrade's progress."""
    from tests.e2e.conftest import shown

    page.goto(base_url + "/maintenance/upgrade")
    page.set_input_files("#upgrade-file", str(bundle))
    page.click("#upgrade-start")
    dialog = page.locator("#dlg-confirm")
    dialog.wait_for(state="visible", timeout=60_000)
    assert dialog.locator('[data-role="message"]').inner_text() == shown(
        "zh-CN", "Upgrade the system to version %(version)s?").replace(
        "%(version)s", version)
    dialog.locator('[data-role="ok"]').click()
    page.locator("#upgrade-title").filter(has_text=version).wait_for(timeout=120_000)


def wait_for_end(page: Any, timeout_s: float = 900) -> str:
    """Until the page shows the upgrade ended; the badge's text. On the way the page
    must have shown tasks running (live progress)."""
    from tests.e2e.conftest import shown

    ends = {shown("zh-CN", w) for w in ("Done", "Failed", "Interrupted")}
    seen_running = False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        badge = page.locator("#upgrade-state").inner_text()
        if page.locator('#upgrade-steps li[data-status="running"]').count():
            seen_running = True
        if badge in ends:
            assert seen_running, "the page never showed a task running"
            return badge
        page.wait_for_timeout(250)
    raise AssertionError(f"the upgrade did not end in {timeout_s} s: {badge}")


def step_names(page: Any) -> dict[str, str]:
    items = page.locator("#upgrade-steps li")
    return {items.nth(i).locator("div").first.inner_text().split("\n")[0]:
            items.nth(i).get_attribute("data-status") for i in range(items.count())}


def test_upgrade_from_the_browser_and_a_failing_one_leaves_n(
        host: PodmanHost, state: State, tmp_path: Path, browser: Any) -> None:
    """G1 from the page: N -> N+1 with its progress shown task by task while the control
    plane restarts under it; then a bundle whose playbook fails midway (after activating
    its release) leaves N running, its link and data as before, and names the step."""
    from tests.e2e.conftest import SHOTS, shown

    client = login(host)
    current = check(client.get("/api/v1/status"))["version"]
    good_version = next_version(current)
    _, good = build_next_bundle(tmp_path / "good", good_version)
    bad_version = next_version(good_version)
    _, bad = build_next_bundle(tmp_path / "bad", bad_version, lambda text: text.replace(
        "\n    - name: Make the IVR prompts", BREAK_AFTER_ACTIVATE, 1))
    assert "Break midway" in (tmp_path / "bad" / "src" / "playbooks" / "upgrade.yml"
                              ).read_text()
    SHOTS.mkdir(parents=True, exist_ok=True)

    # Refused before anything changes: not a bundle (a field error), and the good one
    # without the confirm (409 naming its version); no upgrade has started.
    res = client.post("/api/v1/system/upgrade", files={"file": ("x.tar.gz", b"not gzip")},
                      data={"confirm": "true"}, cookies={"vcbox_lang": "en"})
    assert res.status_code == 400 and "not a gzip file" in res.json()["details"]["file"], \
        res.text
    with open(good, "rb") as fh:
        res = client.post("/api/v1/system/upgrade", files={"file": (good.name, fh)})
    assert res.status_code == 409 and res.json()["version"] == good_version, res.text
    assert check(client.get("/api/v1/system/upgrade"))["run"] is None

    context, page = browser_page(host, browser)
    try:
        page.goto(host.base_url + "/maintenance/upgrade")
        assert page.locator("#upgrade-version").inner_text() == current
        upgrade_in_browser(page, host.base_url, good, good_version)
        assert wait_for_end(page) == shown("zh-CN", "Done")
        page.screenshot(path=str(SHOTS / "upgrade-done.png"), full_page=True)
        steps = step_names(page)
        for name in ("Unpack the release", "Stop the control plane",
                     "Keep a copy of the data for a roll-back", "Activate the new release",
                     "Wait for the new version to answer"):
            assert steps.get(shown("zh-CN", name)) in ("ok", "changed"), (name, steps)
        page.reload()
        page.locator("#upgrade-version").filter(has_text=good_version).wait_for()
        assert host.exec("readlink", APP).stdout.strip() == f"{RELEASES}/{good_version}"
        assert sections(login(host)) == state.settings
        before = documents(host)

        upgrade_in_browser(page, host.base_url, bad, bad_version)
        assert wait_for_end(page) == shown("zh-CN", "Failed")
        page.screenshot(path=str(SHOTS / "upgrade-failed.png"), full_page=True)
        steps = step_names(page)
        assert steps.get("Break midway") == "failed", steps
        assert steps.get(shown("zh-CN", "Roll back to the previous version")) == "ok", steps
        assert "Break midway" in page.locator("#upgrade-note").inner_text()
        page.reload()
        page.locator("#upgrade-version").filter(has_text=good_version).wait_for()
    finally:
        context.close()
    wait_for_api(host)
    assert host.exec("readlink", APP).stdout.strip() == f"{RELEASES}/{good_version}"
    assert host.exec("test", "-e", f"{RELEASES}/{bad_version}", check=False).returncode != 0
    client = login(host)
    assert check(client.get("/api/v1/status"))["version"] == good_version
    assert documents(host) == before
    assert sections(client) == state.settings
    assert accounts(client) == state.accounts


def test_factory_reset_settings_mode(host: PodmanHost, state: State) -> None:
    """G2 a: settings, the administrator, history and logs go; accounts, rooms, the
    license, the trial marker and the service secrets stay."""
    old_session = login(host)
    before = documents(host)
    assert {"admin", "accounts", "rooms", "license", "license_trial", "secrets"} <= set(before)
    assert {f"settings.{name}" for name in CHANGES} <= set(before)
    assert any(history_rows(host).values())
    put_marker_log(host)

    reset_at = time.time()  # the container shares this machine's clock
    run_playbook(host, "factory_reset.yml", "-e", "vcbox_reset_mode=settings")
    wait_for_api(host)

    dropped = {name for name in before if name.startswith("settings.") or name == "admin"}
    assert documents(host) == {k: v for k, v in before.items() if k not in dropped}
    check_history_since(host, reset_at)
    assert host.exec("test", "-e", MARKER_LOG, check=False).returncode != 0
    assert host.exec("test", "-d", Path(MARKER_LOG).parent, check=False).returncode == 0

    # The setup wizard runs again: no administrator, old sessions and password are gone.
    setup = check(requests.get(host.base_url + "/api/v1/setup", timeout=30))
    assert setup["configured"] is False
    page = requests.get(host.base_url + "/", timeout=30)
    assert page.url.endswith("/setup") and "wizard-page" in page.text, page.url
    assert old_session.get("/api/v1/accounts").status_code == 401
    assert Client(host.base_url).login().status_code != 200

    create_admin(host.base_url)
    client = login(host)
    assert sections(client) == state.defaults
    assert accounts(client) == state.accounts
    assert rooms(client) == state.rooms
    assert license_state(client) == state.license
    files = rendered(host)
    for path, (_value, default) in RENDERED.items():
        if default is None:
            assert files[path] is None, f"{path} is still there:\n{files[path]}"
        else:
            assert default in (files[path] or ""), f"{path} lacks {default!r}:\n{files[path]}"


def test_factory_reset_all_mode(host: PodmanHost, state: State) -> None:
    """G2 b: everything goes but the trial-used marker."""
    client = login(host)
    assert accounts(client) and rooms(client)
    before = documents(host)
    assert {"admin", "accounts", "rooms", "license", "license_trial", "secrets"} <= set(before)
    put_marker_log(host)

    reset_at = time.time()
    run_playbook(host, "factory_reset.yml", "-e", "vcbox_reset_mode=all")
    wait_for_api(host)

    after = documents(host)
    # The control plane, started again, makes new service secrets (and nothing else) and
    # renders them into the services.
    assert set(after) == {META, TRIAL_DOC, SECRETS}, sorted(after)
    assert after[META] == before[META]
    assert after[TRIAL_DOC] == before[TRIAL_DOC]
    old_secret = before[SECRETS][SINGLETON_ID]["turn_secret"]
    new_secret = after[SECRETS][SINGLETON_ID]["turn_secret"]
    assert new_secret != old_secret
    turn = host.exec("cat", "/etc/turnserver.conf").stdout
    assert f"static-auth-secret={new_secret}\n" in turn
    assert old_secret not in turn
    # A new history database holds only what happened since (the playbook's re-render).
    check_history_since(host, reset_at)
    assert host.exec("test", "-e", MARKER_LOG, check=False).returncode != 0
    assert check(requests.get(host.base_url + "/api/v1/setup", timeout=30))[
        "configured"] is False

    create_admin(host.base_url)
    client = login(host)
    assert sections(client) == state.defaults
    assert accounts(client) == [] and rooms(client) == []
    # No license any more, and no second trial.
    shown = check(client.get("/api/v1/license"))
    assert (shown["status"], shown["activation_type"]) == ("not_activated", ""), shown
    assert shown["trial_used"] is True and shown["trial_available"] is False, shown
    assert client.post("/api/v1/license/trial").status_code == 409
    assert check(client.get("/api/v1/license")) == shown
