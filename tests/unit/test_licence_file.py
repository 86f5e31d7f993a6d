"""The project's own licence, said the same way everywhere (issue 9): LICENSE, package.json,
pyproject.toml."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_license_file_and_metadata_agree() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    package = json.loads((REPO / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((REPO / "package-lock.json").read_text(encoding="utf-8"))
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert package["license"] == lock["packages"][""]["license"] == "Apache-2.0"
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
