"""Failed logins, counted per email and per client address, to slow down password guessing.

After ``limit`` failed logins within ``window`` seconds for one email, or from one client
address, further logins of that email (or from that address) are refused with ``429
rate_limited`` and ``Retry-After`` until the oldest failure leaves the window, before any
password is checked (so a locked account costs the server no scrypt work either). A
successful login clears its email's failures. Counts live in the process: with several
server processes behind a balancer each counts on its own, so the effective limit is
``limit`` per process.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from satchel.server.errors import ApiError

__all__ = ["LoginThrottle"]

#: Keys remembered at most (the oldest are forgotten first): bounds memory under a flood.
KEYS_KEPT: Final = 100_000


class LoginThrottle:
    """Failure counts per key (``email:...``, ``addr:...``) in a sliding window."""

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def keys(email: str, address: str | None) -> list[str]:
        keys = [f"email:{email.strip().lower()}"]
        if address:
            keys.append(f"addr:{address}")
        return keys

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def check(self, keys: list[str]) -> None:
        """Raise ``rate_limited`` (429) when any key has used up its failures."""
        now = self._clock()
        with self._lock:
            wait = 0.0
            for key in keys:
                times = self._recent(key, now)
                if times is not None and len(times) >= self.limit:
                    wait = max(wait, times[0] + self.window - now)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                "rate_limited",
                f"too many failed logins; try again in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )

    def failed(self, keys: list[str]) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if times is None:
                    if len(self._failures) >= KEYS_KEPT:
                        self._failures.pop(next(iter(self._failures)))
                    times = self._failures[key] = deque(maxlen=self.limit)
                times.append(now)

    def succeeded(self, email: str) -> None:
        with self._lock:
            self._failures.pop(self.keys(email, None)[0], None)
