"""How many metric passes run at once, and the queue of the operator's own for the bulk passes beyond them.

kopf starts a worker for every object as soon as its event arrives, and a worker whose handler waits for
a thread keeps the object's parsed event, its cause, patch and loggers: about 40 KB each. A burst of
1,000 new metrics was 1,000 of those in memory at once, where a Go controller keeps a key per object
(docs/performance.md, "The peak of a burst"). Here a pass runs in kopf's handler only while a thread is
free and nothing waits ahead of it, or when a person asked for it (a new generation, a code ConfigMap's
change): those never wait behind a burst. Any other pass (a new metric, the first look after a restart,
a retry of either) waits here as a key, and runs, outside kopf, when a thread is free: in the order
they came, or at the time its retry asked for.
"""

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple


class Queued(NamedTuple):
    uid: str
    namespace: str
    name: str
    resumed: bool  # the first look after a restart (kopf's resume): a metric Ready as specified needs no call
    attempt: int  # retries so far


class Admission:
    def __init__(self, slots: int, run: Callable[[Queued], Awaitable[float | None]]) -> None:
        """`slots`: passes at once (the handlers' threads); `run(queued)`: a queued pass, which answers the
        delay of its retry, or None when it is done."""
        self.slots, self._run = slots, run
        self.running = 0
        self._queued: dict[str, tuple[int, Queued]] = {}  # uid -> (its entry's order, the pass)
        self._due: list[tuple[float, int, str]] = []  # (when, order, uid): a heap; entries replaced since are skipped
        self._order = itertools.count()
        self._changed = asyncio.Event()

    def enter(self, urgent: bool) -> bool:
        """Whether a pass may run now in kopf's handler (then `leave()` after it); a person's change always may."""
        if not urgent and (self.running >= self.slots or self._any_due()):
            return False
        self.running += 1
        return True

    def _any_due(self) -> bool:
        """Whether a queued pass waits for its slot now (one that waits for its retry's time does not count)."""
        return bool(self._due) and self._due[0][0] <= time.monotonic()

    def leave(self) -> None:
        self.running -= 1
        self._changed.set()

    def queue(self, item: Queued, delay: float = 0.0) -> None:
        """`item` runs when a slot is free, not before `delay` seconds (a later call for it replaces it)."""
        order = next(self._order)
        self._queued[item.uid] = (order, item)
        heapq.heappush(self._due, (time.monotonic() + delay, order, item.uid))
        self._changed.set()

    def forget(self, uid: str) -> None:
        """A pass kopf runs for it now (a person's change), or its deletion, makes its queued pass needless."""
        self._queued.pop(uid, None)

    def waiting(self) -> int:
        return len(self._queued)

    async def run(self) -> None:
        """Start queued passes as slots free up and their times come, until cancelled."""
        passes: set[asyncio.Task] = set()
        try:
            while True:
                self._changed.clear()
                for item in self._ready():
                    self.running += 1
                    task = asyncio.create_task(self._one(item), name=f"queued pass of {item.namespace}/{item.name}")
                    passes.add(task)
                    task.add_done_callback(passes.discard)
                await self._wait()
        finally:
            for task in passes:
                task.cancel()

    def _ready(self) -> list[Queued]:
        """The queued passes due now, as many as there are free slots."""
        ready: list[Queued] = []
        now = time.monotonic()
        while self._due and self.running + len(ready) < self.slots and self._due[0][0] <= now:
            _, order, uid = heapq.heappop(self._due)
            current = self._queued.get(uid)
            if current is not None and current[0] == order:
                del self._queued[uid]
                ready.append(current[1])
        return ready

    async def _wait(self) -> None:
        timeout = None
        if self._due and self.running < self.slots:
            timeout = max(0.0, self._due[0][0] - time.monotonic())
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    async def _one(self, item: Queued) -> None:
        try:
            delay = await self._run(item)
        finally:
            self.leave()
        if delay is not None and item.uid not in self._queued:
            self.queue(item._replace(attempt=item.attempt + 1), delay)
