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


class Backoff:
    """When each key is looked at again: `first` seconds after it is first seen, then twice as long each
    time, at most `ceiling`. For metrics Stalled by something outside the resource: soon after the fault,
    then no more often than the resync interval, and never a hot loop."""

    def __init__(self, first: float, ceiling: float) -> None:
        self.first, self.ceiling = first, max(first, ceiling)
        self._next: dict[str, tuple[float, float]] = {}  # key -> (when, the delay that led there)
        self._guard = threading.Lock()

    def due(self, key: str) -> bool:
        now = time.monotonic()
        with self._guard:
            when, _ = self._next.setdefault(key, (now + self.first, self.first))
            return now >= when

    def again(self, key: str) -> None:
        """Looked at, and not yet fixed: the next look twice as far away (at most `ceiling`)."""
        with self._guard:
            _, delay = self._next.get(key, (0.0, self.first / 2))
            delay = min(delay * 2, self.ceiling)
            self._next[key] = (time.monotonic() + delay, delay)

    def forget(self, key: str) -> None:
        with self._guard:
            self._next.pop(key, None)
