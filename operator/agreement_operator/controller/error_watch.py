"""When a Ready metric's function errors are looked at, and what that writes: status.functionErrors
and a Warning Event (FunctionErrors) when new errors appear.

Every `interval` seconds (AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS, default 300, 0 never),
each Ready metric's errors are read through its target's ErrorReader (target.py): a Logs
Insights query for a function of the operator's own, started in one tick and read in a later
one; a Label Studio project's function logs, in one request.

Ready keeps meaning "deployed as specified": errors change status.functionErrors, never the
conditions. A function never invoked (no log group) writes nothing; logs the operator may not
read are said in status.functionErrors.message; neither fails the metric. The looks are rounds of
the periodic loop (controller/periodic.py): a running query's results are asked for every
QUERY_POLL_SECONDS, and a look that must wait for its turn at the Logs budget comes back at it.
"""

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from agreement_operator import failures
from agreement_operator.controller.schedule import Schedule
from agreement_operator.function import log_errors
from agreement_operator.target import ErrorReader, Event, cause_of, failed_read

# A query still not done this long after it started is dropped, and the next round starts another.
_QUERY_PATIENCE_SECONDS = 120.0
# How often a running query's results are asked for: Logs Insights takes a few seconds, and each ask
# is a call against the Logs budget (and a read of the metric).
QUERY_POLL_SECONDS = 5.0


@dataclass
class Check:
    """What one look found: status.functionErrors (None: nothing to write yet) and the Events to post."""

    status: dict | None = None
    events: list[Event] = field(default_factory=list)
    new_errors: int = 0


@dataclass
class _Query:
    pending: str
    started: float
    next_poll: float


class ErrorWatch:
    """The schedule of every metric's looks, and the queries still running."""

    def __init__(self, interval: float, spread_first: bool = True) -> None:
        """`spread_first`: each metric's first look at a random point of the interval (else at once)."""
        self.interval = interval
        self._schedule = Schedule(interval, spread_first)
        self._queries: dict[str, _Query] = {}
        self._guard = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    def wanted(self, uid: str) -> bool:
        """Whether this metric's look is due, or its query's results may be ready."""
        if not self.enabled:
            return False
        with self._guard:
            query = self._queries.get(uid)
        if query is not None:
            return time.monotonic() >= query.next_poll
        return self._schedule.due(uid)

    def forget(self, uid: str) -> None:
        self._schedule.forget(uid)
        with self._guard:
            self._queries.pop(uid, None)

    def check(self, uid: str, reader: ErrorReader, previous: Mapping | None) -> Check:
        """One tick: start reading the function's errors, or take what an earlier tick started."""
        with self._guard:
            query = self._queries.get(uid)
        try:
            look = reader.look(query.pending if query else None)
        except failures.QuotaWait as waiting:  # back at its turn, not at every round before it
            self._later(uid, query, waiting.delay or 0.0)
            return Check()
        except failures.ReconcileFailure as failure:
            self._done(uid)
            return _unreadable(reader.scope, failure, previous)
        if look.pending is not None:
            now = time.monotonic()
            if query is None:
                with self._guard:
                    self._queries[uid] = _Query(look.pending, now, now + QUERY_POLL_SECONDS)
            elif now - query.started > _QUERY_PATIENCE_SECONDS:
                self._done(uid, again_now=True)
            else:
                self._later(uid, query, QUERY_POLL_SECONDS)
            return Check()
        self._done(uid)
        if look.summary is None or (look.never_invoked and not previous):
            return Check()  # never invoked: nothing to say, unless status says otherwise
        return _check({**reader.scope, **look.summary}, previous)

    def _later(self, uid: str, query: _Query | None, seconds: float) -> None:
        """Look again in `seconds`: a new look, or the running query's results."""
        if query is None:
            self._schedule.again_in(uid, seconds)
        else:
            query.next_poll = time.monotonic() + seconds

    def _done(self, uid: str, again_now: bool = False) -> None:
        with self._guard:
            self._queries.pop(uid, None)
        self._schedule.done(uid, again_now)


def _check(status: dict, previous: Mapping | None) -> Check:
    fresh = log_errors.new_errors(status, previous)
    events = [Event("FunctionErrors", log_errors.describe(fresh), warning=True)] if fresh else []
    return Check(status=status, events=events, new_errors=len(fresh))


def _unreadable(scope: dict, failure: failures.ReconcileFailure, previous: Mapping | None) -> Check:
    """The errors could not be read this time (a Logs outage, AccessDenied, a Label Studio key revoked): the
    errors already known stay known (so none is announced again once reads work), the message says when the
    read failed and why, and one Warning Event is posted per cause."""
    known = previous or {}
    message = failed_read("function errors", failure.message)
    status = {**scope, "count": known.get("count", 0), "recent": list(known.get("recent") or []), "message": message}
    check = Check(status=status)
    if cause_of(known.get("message")) != failure.message:
        check.events.append(Event("FunctionErrorsUnreadable", message, warning=True))
    return check
