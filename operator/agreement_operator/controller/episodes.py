"""One Event per episode: a metric that meets the same retryable failure pass after pass (Lambda throttling,
AWS or Label Studio unavailable), or stays Stalled by the same cause outside it (an IAM policy, a Label Studio
key), posts its Warning once, when the episode starts, and one Normal Event, `Recovered`, when it is Ready
again, saying how long the episode lasted and how many passes met it.

An outage of 30 s with a retry every second or two wrote a Warning Event object per pass: thousands at 1,000
metrics, and `kubectl describe` became a scroll. Waits that are the operator's normal pacing (the quota's
turn, Lambda's Pending state) are no failure and post nothing; a Stall posts its own Warning and ends the
episode. Episodes live in the operator's memory: after a restart in the middle of one, its Warning is posted
once more.
"""

import threading
import time
from dataclasses import dataclass

from agreement_operator import failures
from agreement_operator.target import Event, Phase


@dataclass
class _Episode:
    reason: str
    started: float
    passes: int = 1


class Episodes:
    def __init__(self, clock=time.monotonic) -> None:
        self._open: dict[str, _Episode] = {}
        self._guard = threading.Lock()
        self._clock = clock

    def events(self, uid: str, phase: Phase, reason: str, events: list[Event]) -> list[Event]:
        """The Events of a pass that ended in `phase` with `reason`, as they should be posted."""
        with self._guard:
            episode = self._open.get(uid)
            outside = phase is Phase.STALLED and reason in failures.OUTSIDE_THE_RESOURCE
            episodic = phase is Phase.RECONCILING or outside
            failing = episodic and any(event.warning and event.reason == reason for event in events)
            if failing and episode is not None and episode.reason == reason:
                episode.passes += 1
                return [event for event in events if not (event.warning and event.reason == reason)]
            if failing:
                self._open[uid] = _Episode(reason, self._clock())
                return events
            if phase is Phase.RECONCILING:  # pacing (Pending, the quota's turn): the episode goes on
                return events
            self._open.pop(uid, None)
        if episode is None or phase is not Phase.READY:
            return events
        lasted = self._clock() - episode.started
        return [*events, Event("Recovered", f"Ready again after {lasted:.0f} s of {episode.reason} "
                                            f"({episode.passes} passes met it)")]

    def forget(self, uid: str) -> None:
        with self._guard:
            self._open.pop(uid, None)
