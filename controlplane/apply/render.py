"""Render every template of templates/ (the tree mirrors the target paths under ROOT)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(os.environ.get("VCBOX_TEMPLATES") or Path(__file__).parents[2] / "templates")
# Files of templates/ that are documentation, not a target.
SKIP = {"README.md"}


def _autoescape(name: str | None) -> bool:
    # XML configs (FreeSWITCH) get escaping; everything else is plain text.
    return bool(name) and name.endswith(".xml")  # type: ignore[union-attr]


@cache
def environment(root: Path = TEMPLATES) -> Environment:
    return Environment(
        loader=FileSystemLoader(str(root)),
        autoescape=_autoescape,  # noqa: S701 - on for XML; the other configs are not markup
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def template_names(root: Path = TEMPLATES) -> tuple[str, ...]:
    names = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in SKIP and not path.name.startswith("."):
            names.append(path.relative_to(root).as_posix())
    return tuple(names)


def render_all(context: Mapping[str, Any], root: Path = TEMPLATES) -> dict[str, bytes | None]:
    """{path relative to ROOT: content}, None where the file must not exist (a template
    that renders to nothing but blanks)."""
    env = environment(root)
    out: dict[str, bytes | None] = {}
    for name in template_names(root):
        text = env.get_template(name).render(context)
        out[name] = text.encode("utf-8") if text.strip() else None
    return out
