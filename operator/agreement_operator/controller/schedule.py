"""When each metric's periodic work is due: once per interval, the first time at a random point of it.

A restart with many metrics then spreads their first reads over the interval instead of
sending them all at once.
"""

import random
import threading
import time


class Schedule:
    def __init__(self, interval: float, spread_first: bool = True) -> None:
        """`spread_first`: each key's first time at a random point of the interval (else at once)."""
        self.interval, self.spread_first = interval, spread_first
        self._due: dict[str, float] = {}
        self._guard = threading.Lock()

    def due(self, key: str) -> bool:
        """Whether the work of `key` is due (the first call sets its first time)."""
        now = time.monotonic()
        with self._guard:
            first = now + (random.uniform(0, self.interval) if self.spread_first else 0.0)
            return now >= self._due.setdefault(key, first)

    def take(self, key: str) -> bool:
        """Whether it is due; if so, the next time is an interval from now."""
        if not self.due(key):
            return False
        self.done(key)
        return True

    def done(self, key: str, again_now: bool = False) -> None:
        """The work of `key` was done: next due an interval from now (or at once)."""
        with self._guard:
            self._due[key] = time.monotonic() + (0.0 if again_now else self.interval)

    def again_in(self, key: str, seconds: float) -> None:
        """The work of `key` must be done once more, `seconds` from now."""
        with self._guard:
            self._due[key] = time.monotonic() + seconds

    def forget(self, key: str) -> None:
        with self._guard:
            self._due.pop(key, None)
