"""zh-CN (default) and English through gettext catalogs kept as .po files (Babel).

Source strings (msgids) are English; the zh_CN catalog translates them. Catalogs are
compiled in memory at start-up, so there is no build step.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from controlplane.errors import Message

LANGUAGES: dict[str, str] = {"zh_CN": "简体中文", "en": "English"}
DEFAULT_LANGUAGE = "zh_CN"
CATALOG_DIR = Path(__file__).parent / "web" / "i18n"


def N_(message: str) -> str:
    """Mark a string for extraction without translating it here."""
    return message


def normalize(language: str | None) -> str:
    if not language:
        return DEFAULT_LANGUAGE
    language = language.replace("-", "_")
    if language in LANGUAGES:
        return language
    if language.lower().startswith("zh"):
        return "zh_CN"
    if language.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


@cache
def translations(language: str) -> gettext.NullTranslations:
    po = CATALOG_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return gettext.NullTranslations()
    import io

    with open(po, "rb") as fh:
        catalog = read_po(fh, locale=language)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def translate(language: str, message: Message | None, **params: Any) -> str:
    """Translate a msgid (or a (msgid, params) pair) and fill in its %(name)s params."""
    if message is None:
        return ""
    if isinstance(message, tuple):
        message, extra = message
        params = {**extra, **params}
    text = translations(normalize(language)).gettext(message)
    if params:
        try:
            return text % params
        except (KeyError, ValueError, TypeError):
            return text
    return text
