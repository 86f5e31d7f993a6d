"""Terminal firmware files (controlplane/firmware.py, SPEC U1): what a file name says, what
is kept, the latest per model. Through the server and a real FreeSWITCH:
tests/integration/test_firmware_api.py."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest

from controlplane import firmware as fw
from controlplane.errors import Conflict, ValidationError
from controlplane.firmware import Firmware, inspect_name

ROM = b"\x00ROM" + bytes(range(256)) * 16


@pytest.mark.parametrize(("name", "model", "version"), [
    ("VC400-63.345.0.40.rom", "VC400", "63.345.0.40"),
    ("vc120_40.1.0.7.rom", "VC120", "40.1.0.7"),
    ("VC110-40.2.0.1.rom", "VC110", "40.2.0.1"),
    ("VCDesktop-1.28.0.22.rom", "VC Desktop", "1.28.0.22"),
    ("T49G-51.80.0.100.rom", "VP-T49", "51.80.0.100"),
    ("SIP-VP-T49G-51.80.0.100.rom", "VP-T49", "51.80.0.100"),
    ("C:\\Downloads\\VC400-63.345.0.40.rom", "VC400", "63.345.0.40"),
])
def test_the_file_name_says_model_and_version(name: str, model: str, version: str) -> None:
    found = inspect_name(name)
    assert (found.model, found.version) == (model, version)
    assert "/" not in found.name and "\\" not in found.name


def test_a_name_without_a_model_needs_the_chosen_one() -> None:
    with pytest.raises(ValidationError) as none:
        inspect_name("63.345.0.40.rom")
    assert "model" in none.value.details
    assert inspect_name("63.345.0.40.rom", "VC400").model == "VC400"
    with pytest.raises(ValidationError) as other:
        inspect_name("VC400-63.345.0.40.rom", "VC120")
    assert "model" in other.value.details


@pytest.mark.parametrize("name", ["VC400-63.345.0.40.bin", "VC400-x.rom", "../VC400-1.2.rom.",
                                  "VC400 $(id) 1.2.rom", "." * 3 + "VC400-1.2.rom",
                                  "VC400-" + "1." * 70 + "1.rom"])
def test_bad_names_are_refused_under_the_file_field(name: str) -> None:
    with pytest.raises(ValidationError) as refused:
        inspect_name(name)
    assert "file" in refused.value.details


def store(tmp_path: Path) -> Firmware:
    return Firmware(tmp_path / "data", tmp_path / "provisioning")


def test_an_added_file_becomes_latest_and_what_is_not_a_rom_is_not_kept(tmp_path: Path,
                                                                        monkeypatch) -> None:
    files = store(tmp_path)
    for data in (b"", b"PK\x03\x04zip", b"\x1f\x8bgz", b"#!/bin/sh", b'{"json": 1}'):
        with pytest.raises(ValidationError):
            files.add(io.BytesIO(data), "VC400-63.345.0.40.rom")
    monkeypatch.setattr(fw, "MAX_BYTES", 1000)
    with pytest.raises(ValidationError):
        files.add(io.BytesIO(ROM), "VC400-63.345.0.40.rom")
    assert not list((tmp_path / "data").rglob("*.rom"))
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    monkeypatch.setattr(fw, "MAX_BYTES", 1 << 20)
    made = files.add(io.BytesIO(ROM), "VC400-63.345.0.30.rom")
    assert made["latest"] and made["size"] == len(ROM)
    files.add(io.BytesIO(ROM), "VC400-63.345.0.40.rom")
    latest = {i["name"]: i["latest"] for i in files.find_all()["items"]}
    assert latest == {"VC400-63.345.0.30.rom": False, "VC400-63.345.0.40.rom": True}
    with pytest.raises(Conflict):
        files.delete_many(["VC400-63.345.0.30.rom", "VC400-63.345.0.40.rom"])
    assert len(files.find_all()["items"]) == 2
    assert files.delete_many(["VC400-63.345.0.30.rom"]) == ["VC400-63.345.0.30.rom"]


def test_the_provisioning_file_names_the_latest_firmware(tmp_path: Path) -> None:
    files = store(tmp_path)
    with pytest.raises(Conflict):
        files.write_provisioning("VC400", "http://192.168.1.10/")
    files.add(io.BytesIO(ROM), "VC400-63.345.0.40.rom")
    path = files.write_provisioning("VC400", "http://192.168.1.10/")
    assert path.name == "vc400.cfg"
    assert "firmware.url = http://192.168.1.10/firmware/vc400/VC400-63.345.0.40.rom" \
        in path.read_text()


def test_outdated_devices_are_those_of_the_model_on_another_version() -> None:
    devices = [SimpleNamespace(user_agent=ua) for ua in (
        "Yealink VC400 63.345.0.10", "Yealink VC400 63.345.0.40", "Yealink SIP-VP-T49G 51.1.0.1",
        "Yealink VC400")]
    assert [d.user_agent for d in fw.outdated(devices, "VC400", "63.345.0.40")] == [
        "Yealink VC400 63.345.0.10", "Yealink VC400"]
    assert len(fw.of_model(devices, "VC400")) == 3
