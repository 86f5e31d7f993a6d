"""系统维护 -> 设备升级 (/maintenance/firmware; issue 15 item 2, SPEC U1) in a real Chromium,
zh-CN. The administrator adds a .rom file (its model and version shown before OK), adds a
file whose name names no model (the model chosen in the dialog), sees a file that is not a
firmware image refused in the dialog with nothing kept, finds the newest file of a model
set as its latest (its delete and update buttons off), updates a non-latest file, deletes
one after the confirm question, and runs "update now" after 确定升级？. The devices a real
FreeSWITCH tells to update: tests/integration/test_firmware_api.py.
Screenshots: /tmp/vcbox-shots/firmware-*.png."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.conftest import Client, Server
from tests.e2e.conftest import shown

LANG = "zh_CN"
ROM = b"\x00\x01ROM" + bytes(range(256)) * 32


def t(msgid: str, **values: object) -> str:
    return shown(LANG, msgid, **values)


def rom(folder: Path, name: str, data: bytes = ROM) -> str:
    path = folder / name
    path.write_bytes(data)
    return str(path)


def add(page: Page, path: str) -> None:
    page.click("#firmware-add")
    expect(page.locator("#dlg-firmware-file")).to_be_visible()
    page.set_input_files("#firmware-input", path)


def row(page: Page, name: str):
    return page.locator(f'#firmware-rows tr[data-id="{name}"]')


def test_firmware_from_the_page(page: Page, lab: tuple[Server, Client], shots: Path,
                                tmp_path: Path) -> None:
    srv, client = lab
    page.goto(srv.url + "/maintenance/firmware")
    expect(page.locator("#firmware-rows")).to_contain_text(t("No firmware yet."))
    expect(page.locator("#firmware-models .col")).to_have_count(5)

    # a file named after its model: model and version shown before OK
    add(page, rom(tmp_path, "VC400-63.345.0.30.rom"))
    expect(page.locator("#firmware-found-model")).to_have_text("VC400")
    expect(page.locator("#firmware-found-version")).to_have_text("63.345.0.30")
    page.screenshot(path=shots / "firmware-add.png")
    page.locator("#form-firmware-file [type=submit]").click()
    expect(page.locator("#dlg-firmware-file")).to_be_hidden()
    expect(row(page, "VC400-63.345.0.30.rom")).to_be_visible()

    # not a firmware image: refused in the dialog, nothing kept
    add(page, rom(tmp_path, "VC400-63.345.0.31.rom", b"PK\x03\x04" + ROM))
    expect(page.locator('#form-firmware-file [data-error-for="file"]')).to_contain_text(
        t("This is not a firmware image (.rom) but another kind of file."))
    page.locator("#form-firmware-file [type=submit]").click()
    expect(page.locator('#form-firmware-file [data-error-for="file"]')).to_be_visible()
    page.locator('#dlg-firmware-file [data-bs-dismiss="modal"]').first.click()
    expect(page.locator("#dlg-firmware-file")).to_be_hidden()
    assert [i["name"] for i in client.get("/api/v1/firmware").json()["items"]] == [
        "VC400-63.345.0.30.rom"]

    # a name without a model: the model is chosen in the dialog
    add(page, rom(tmp_path, "63.345.0.40.rom"))
    expect(page.locator("#firmware-model-row")).to_be_visible()
    expect(page.locator('#form-firmware-file [data-error-for="model"]')).to_contain_text(
        t("The file name names no terminal model: choose the model."))
    page.select_option("#firmware-model", "VC400")
    expect(page.locator("#firmware-found-version")).to_have_text("63.345.0.40")
    page.locator("#form-firmware-file [type=submit]").click()
    expect(page.locator("#dlg-firmware-file")).to_be_hidden()

    # the newest file is the latest: its switch on, delete and update off
    newest, older = row(page, "63.345.0.40.rom"), row(page, "VC400-63.345.0.30.rom")
    expect(newest.locator('[data-role="latest"]')).to_be_checked()
    expect(older.locator('[data-role="latest"]')).not_to_be_checked()
    expect(newest.locator('[data-role="delete"]')).to_be_disabled()
    expect(newest.locator('[data-role="replace"]')).to_be_disabled()
    expect(page.locator("#firmware-models")).to_contain_text("63.345.0.40")
    page.screenshot(path=shots / "firmware-list.png")

    # update a file that is not the latest
    older.locator('[data-role="replace"]').click()
    page.set_input_files("#firmware-input", rom(tmp_path, "VC400-63.345.0.35.rom"))
    expect(page.locator("#firmware-found-version")).to_have_text("63.345.0.35")
    page.locator("#form-firmware-file [type=submit]").click()
    expect(page.locator("#dlg-firmware-file")).to_be_hidden()
    expect(row(page, "VC400-63.345.0.35.rom")).to_be_visible()
    expect(older).to_have_count(0)

    # update now: the guide's question, then the answer in a toast
    page.locator('#firmware-models [data-model="VC400"]').click()
    confirm = page.locator("#dlg-confirm")
    expect(confirm).to_contain_text(t(
        "Update every registered %(model)s whose version differs to %(version)s?").replace(
        "%(model)s", "VC400").replace("%(version)s", "63.345.0.40"))
    page.screenshot(path=shots / "firmware-update.png")
    confirm.locator('[data-role="ok"]').click()
    expect(page.locator(".toast").last).to_contain_text(
        t("Every registered device of this model already runs {version}.", version="63.345.0.40"))

    # delete the older one after the question
    row(page, "VC400-63.345.0.35.rom").locator('[data-role="delete"]').click()
    page.locator('#dlg-confirm [data-role="ok"]').click()
    expect(row(page, "VC400-63.345.0.35.rom")).to_have_count(0)
    assert [i["name"] for i in client.get("/api/v1/firmware").json()["items"]] == [
        "63.345.0.40.rom"]
