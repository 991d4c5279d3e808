"""The periodic work on Ready metrics (drift repair, the looks at function errors and usage), and the looks
again at metrics Stalled by something outside the resource: one loop of the operator's own, instead of a
kopf timer on every metric.

A kopf timer is an asyncio task per object, for good, and it keeps the object's last body for
its ticks: about 54 KiB of the operator's memory per metric (docs/performance.md). This loop
keeps a small summary of each metric from a kopf index (namespace, name, whether it is Ready,
when it last changed), wakes once a second, and reads a metric from the apiserver only when a
check of it is due: 1,000 metrics at the default intervals are a few reads a second.

It runs only while this replica is the active one of its kopf peering (peering.py), as kopf's
own handlers do, and in a few threads of its own, so that the periodic work never takes a
worker from a person's change.
"""

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

logger = logging.getLogger(__name__)

PERIOD_SECONDS = 1.0


class Summary(NamedTuple):
    """What the loop keeps of a metric between its checks."""

    namespace: str
    name: str
    ready: bool  # Ready at its generation: the periodic work is for those
    changed: float  # time.monotonic() of the last watch event
    # ... and for those Stalled at their generation by something outside the resource, looked at again
    stalled_outside: bool = False


class PeriodicWork:
    def __init__(
        self,
        summaries: Mapping[str, Iterable[Summary]],
        due: Callable[[str, Summary], bool],
        work: Callable[[str, Summary], None],
        active: Callable[[], bool],
        threads: int,
    ) -> None:
        """`summaries`: uid -> the summaries kopf's index holds for it; `due(uid, summary)`: whether any
        check of it is due; `work(uid, summary)`: the checks, in a thread; `active()`: whether this replica
        may act."""
        self._summaries, self._due, self._work, self._active = summaries, due, work, active
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="periodic")

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(PERIOD_SECONDS)
                await self.tick()
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def tick(self) -> int:
        """The checks due now, done; how many metrics were looked at."""
        due = [(uid, summary) for uid, store in list(self._summaries.items()) for summary in list(store)
               if self._due(uid, summary)]
        if not due:
            return 0
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(self._pool, self._active):
            return 0
        await asyncio.gather(*(loop.run_in_executor(self._pool, self._work_on, uid, summary)
                               for uid, summary in due))
        return len(due)

    def _work_on(self, uid: str, summary: Summary) -> None:
        try:
            self._work(uid, summary)
        # The loop outlives a bug in one metric's checks, as kopf outlives one in a handler: the traceback
        # is logged, and the other metrics are still looked after.
        except Exception:
            logger.exception("[%s/%s] the periodic checks failed", summary.namespace, summary.name)
