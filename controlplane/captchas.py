"""Image captchas for the forgot-password form (A4): single use, 5 minutes."""

from __future__ import annotations

import secrets
import threading
import time

from captcha.image import ImageCaptcha

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
LIFETIME_S = 300
MAX_PENDING = 5000


class Captchas:
    def __init__(self, clock=time.time) -> None:
        self.clock = clock
        self._pending: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._image = ImageCaptcha(width=130, height=48, font_sizes=(34, 38, 42))

    def new(self) -> tuple[str, bytes]:
        """A fresh captcha: its id and a PNG image of its text."""
        text = "".join(secrets.choice(ALPHABET) for _ in range(4))
        cid = secrets.token_urlsafe(16)
        now = self.clock()
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                self._pending = {k: v for k, v in self._pending.items() if v[1] > now}
                while len(self._pending) >= MAX_PENDING:
                    self._pending.pop(next(iter(self._pending)))
            self._pending[cid] = (text, now + LIFETIME_S)
        png = self._image.generate(text, format="png").getvalue()
        return cid, png

    def answer_for(self, cid: str) -> str | None:
        """The expected text (tests read it here, as a person reads the image)."""
        entry = self._pending.get(cid)
        return entry[0] if entry else None

    def check(self, cid: str, answer: str) -> bool:
        """True when answer matches; the captcha is spent either way."""
        with self._lock:
            entry = self._pending.pop(cid or "", None)
        if entry is None or entry[1] < self.clock():
            return False
        return secrets.compare_digest(entry[0], (answer or "").strip().upper())
