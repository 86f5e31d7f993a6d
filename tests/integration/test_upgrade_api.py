"""The system upgrade's API on a control plane that runs from a source checkout (`make
run`, local services): it shows its version and says why it cannot upgrade itself, and
refuses an upload with that reason, writing nothing. The upgrade itself, from a browser
on a converged host: tests/system/test_host_lifecycle.py; the runner and signatures:
tests/unit/test_upgrade_run.py."""

from __future__ import annotations

import io

from controlplane import __version__
from controlplane.i18n import translate
from tests.conftest import Client, Server

WHY = ("A system upgrade runs on an installed appliance; this control plane runs from a"
       " source checkout (make run), which git updates.")


def test_a_source_checkout_shows_its_version_and_why_it_cannot_upgrade(
        srv: Server, api: Client) -> None:
    res = api.get("/api/v1/system/upgrade")
    assert res.status_code == 200, res.text
    doc = res.json()
    assert doc["version"] == __version__
    assert doc["available"] is False and doc["run"] is None
    assert doc["unavailable"] == translate("zh-CN", WHY)
    assert doc["signature_required"] is False
    en = api.get("/api/v1/system/upgrade", cookies={"vcbox_lang": "en"}).json()
    assert en["unavailable"] == WHY


def test_an_upload_is_refused_with_the_reason_and_nothing_written(
        srv: Server, api: Client) -> None:
    res = api.post("/api/v1/system/upgrade", files={"file": ("vcbox-9.9.tar.gz",
                                                               io.BytesIO(b"x" * 1000))},
                   data={"confirm": "true"}, cookies={"vcbox_lang": "en"})
    assert res.status_code == 409, res.text
    assert res.json()["message"] == WHY
    assert not (srv.data / "upgrade").exists()
    # Without a session: 401; the page itself is there for the administrator.
    assert srv.client().get("/api/v1/system/upgrade").status_code == 401
    page = api.get("/maintenance/upgrade")
    assert page.status_code == 200 and 'id="upgrade-file"' in page.text
