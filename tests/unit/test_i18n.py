"""The zh_CN catalog is complete and exact: every msgid the code marks (Python and Jinja
templates, extracted with babel.cfg) has a translation, none is fuzzy, placeholders match,
and the catalog holds nothing the code no longer uses."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from controlplane import i18n

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "controlplane"
PO = i18n.CATALOG_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "_": None, "gettext": None}

_PERCENT = re.compile(r"%\((\w+)\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
_BRACE = re.compile(r"\{(\w+)\}")

Key = tuple[str | None, str]  # (msgctxt, msgid)


def _msgid(message: str | tuple[str, ...]) -> str:
    return message[0] if isinstance(message, tuple) else message


@pytest.fixture(scope="module")
def extracted() -> dict[Key, list[str]]:
    """(context, msgid) -> where it occurs, from the code, as `pybabel extract` sees it."""
    with open(REPO / "babel.cfg") as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(REPO / "babel.cfg"))
    found: dict[Key, list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(SOURCE), method_map, options_map, keywords=KEYWORDS):
        found.setdefault((context, _msgid(message)), []).append(f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def catalog():
    with open(PO, "rb") as fh:
        return read_po(fh, locale="zh_CN")


@pytest.fixture(scope="module")
def entries(catalog) -> dict[Key, object]:
    return {(m.context, _msgid(m.id)): m for m in catalog if m.id}


def test_extraction_sees_python_and_templates(extracted):
    files = {where.rsplit(":", 1)[0] for places in extracted.values() for where in places}
    assert any(f.endswith(".py") for f in files), files
    assert any(f.endswith(".html") for f in files), files
    assert len(extracted) > 100


def test_every_msgid_has_a_translation(extracted, entries):
    missing = {key: places for key, places in extracted.items()
               if key not in entries or not entries[key].string}
    assert not missing, f"msgids without a zh_CN translation: {missing}"


def test_no_fuzzy_translations(catalog):
    assert not catalog.fuzzy, "the catalog header is marked fuzzy"
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy translations: {fuzzy}"


def test_no_obsolete_msgids(extracted, entries, catalog):
    stale = sorted(set(entries) - set(extracted), key=lambda k: (k[0] or "", k[1]))
    assert not stale, f"msgids in messages.po that the code no longer uses: {stale}"
    assert not catalog.obsolete, f"#~ obsolete entries: {list(catalog.obsolete)}"


def test_placeholders_match(entries):
    wrong = {}
    for (_ctx, msgid), message in entries.items():
        text = message.string if isinstance(message.string, str) else message.string[0]
        for pattern in (_PERCENT, _BRACE):
            if Counter(pattern.findall(msgid)) != Counter(pattern.findall(text)):
                wrong[msgid] = text
    assert not wrong, f"placeholders differ between msgid and msgstr: {wrong}"


class _AnyParam(dict):
    def __missing__(self, key: str) -> str:
        return key


def test_translations_survive_percent_formatting(entries):
    # translate() and Jinja's newstyle gettext apply `% params`; a stray % would break them.
    broken = {}
    for (_ctx, msgid), message in entries.items():
        try:
            message.string % _AnyParam()
        except (ValueError, TypeError) as exc:
            broken[msgid] = f"{message.string!r}: {exc}"
    assert not broken, broken


def test_translate_uses_the_catalog():
    assert i18n.translate("zh_CN", "Log in") == "登录"
    assert i18n.translate("en", "Log in") == "Log in"
    assert i18n.translate("zh_CN", "Too many wrong passwords: this user is locked for"
                                   " %(minutes)s minutes.", minutes=3) == (
        "密码连续输错次数过多，该账号已被锁定 3 分钟。")
    assert i18n.translate("en", ("At most %(max)s characters.", {"max": 128})) == (
        "At most 128 characters.")
