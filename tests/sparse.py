"""Big files made at once: sparse files (a size, no blocks), for the disk quotas' tests
(a part's use is the sum of its files' sizes, so ten of them make a 10 GB part)."""

from __future__ import annotations

import os
from pathlib import Path

GB = 1 << 30


def sparse(path: Path, size: int, mtime: float | None = None) -> Path:
    """A file of `size` bytes that takes no disk space; its modification time `mtime`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.truncate(size)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def aged(folder: Path, count: int, size: int, start: float, step: float = 60.0,
         name: str = "file-{i:02d}.bin") -> list[Path]:
    """`count` sparse files in folder, the first the oldest (start), each `step` s newer."""
    return [sparse(folder / name.format(i=i), size, start + i * step) for i in range(count)]
