"""The mux canvas as the tests read it: FreeSWITCH writes it with `conference <name>
vid-write-png <file>`; each member terminal sends a plain picture of its own colour
(PALETTE), so the colour at the centre of a slot tells who is in it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from controlplane.drivers.esl import Esl

# One colour per member terminal: the levels 0, 128 and 255 of each channel, without
# black and grey (the canvas's own background and letterbox).
PALETTE = [(r, g, b) for r in (0, 128, 255) for g in (0, 128, 255) for b in (0, 128, 255)
           if (r, g, b) not in ((0, 0, 0), (128, 128, 128))]
BACKGROUND = [(0, 0, 0), (51, 51, 51)]


def slot_centres(layout: str, width: int, height: int) -> dict[int, tuple[int, int]]:
    """Slot number (1-based, the layout's order) -> its centre on the canvas, for the
    N x N grids of conference_layouts.conf.xml."""
    n = int(layout.split("x")[0])
    size = 360 // n
    margin = (360 - n * size) // 2
    out = {}
    for row in range(n):
        for col in range(n):
            x = (margin + col * size + size / 2) * width / 360
            y = (margin + row * size + size / 2) * height / 360
            out[row * n + col + 1] = (int(x), int(y))
    return out


def nearest(rgb: tuple[int, int, int]) -> int | None:
    """The palette index of a colour, None for background (or nothing close)."""
    def dist(c: tuple[int, int, int]) -> int:
        return sum((a - b) ** 2 for a, b in zip(rgb, c, strict=True))
    best = min(range(len(PALETTE)), key=lambda i: dist(PALETTE[i]))
    if min(dist(c) for c in BACKGROUND) < dist(PALETTE[best]) or dist(PALETTE[best]) > 60 ** 2:
        return None
    return best


def canvas(esl: Esl, name: str, layout: str, folder: Path) -> dict[int, int | None]:
    """Slot -> palette index of the member showing there (None: an empty slot), read
    from the canvas FreeSWITCH writes with vid-write-png."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"canvas-{time.monotonic_ns()}.png"
    reply = esl.api(f"conference {name} vid-write-png {path}")
    assert reply.startswith("+OK"), reply
    deadline = time.monotonic() + 5
    while not path.exists() or path.stat().st_size == 0:
        assert time.monotonic() < deadline, f"no canvas written to {path}"
        time.sleep(0.05)
    time.sleep(0.2)  # written by the mixer thread: let it finish
    with Image.open(path) as img:
        rgb = img.convert("RGB")
        out = {}
        for slot, (x, y) in slot_centres(layout, *rgb.size).items():
            pixels = [rgb.getpixel((x + dx, y + dy)) for dx in (-8, 0, 8) for dy in (-8, 0, 8)]
            avg = tuple(sum(p[i] for p in pixels) // len(pixels) for i in range(3))
            out[slot] = nearest(avg)  # type: ignore[arg-type]
    return out


def wait_canvas(esl: Esl, name: str, layout: str, folder: Path,
                expect: Callable[[dict[int, int | None]], bool], timeout: float = 10
                ) -> dict[int, int | None]:
    """The canvas, read again until expect(canvas) holds (the mixer takes a few frames
    to re-fill slots); the last one read when it never does."""
    deadline = time.monotonic() + timeout
    while True:
        seen = canvas(esl, name, layout, folder)
        if expect(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.3)
