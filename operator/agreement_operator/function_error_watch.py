"""When a Ready metric's function errors are looked at, and what that writes: status.functionErrors
and a Warning Event (FunctionErrors) when new errors appear.

Every `interval` seconds (AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS, default 300, 0 never),
each Ready metric's errors are read:

* a function of the operator's own: a Logs Insights query on /aws/lambda/NAME over the last
  `window` seconds. It is started in one tick and its results read in a later one, so
  nothing waits on Logs Insights;
* a Label Studio project's function: its custom-function-logs since yesterday, in one request.

Ready keeps meaning "deployed as specified": errors change status.functionErrors, never the
conditions. A function never invoked (no log group) writes nothing; logs the operator may not
read are said in status.functionErrors.message; neither fails the metric. The looks ride on the
resync timer's ticks (1/60 of the resync interval, 1 to 30 s).
"""

import datetime
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from agreement_operator import errors, function_errors
from agreement_operator.cloudwatch_logs import MAX_RESULTS, FunctionLogs, log_group
from agreement_operator.label_studio_api import LabelStudioProjects
from agreement_operator.reconcile import Event

LABEL_STUDIO_LOG_DAYS = 1  # a project's function logs are read from yesterday on
# A query still not done this long after it started is dropped, and the next tick starts another.
_QUERY_PATIENCE_SECONDS = 120.0


@dataclass
class Check:
    """What one look found: status.functionErrors (None: nothing to write yet) and the Events to post."""

    status: dict | None = None
    events: list[Event] = field(default_factory=list)
    new_errors: int = 0


@dataclass
class _Query:
    query_id: str
    started: float


class ErrorWatch:
    """The schedule of every metric's checks, and the Logs Insights queries still running."""

    def __init__(self, interval: float, window: float, spread_first: bool = True) -> None:
        """`spread_first`: each metric's first check at a random point of the interval (else at once)."""
        self.interval, self.window, self.spread_first = interval, window, spread_first
        self._due: dict[str, float] = {}
        self._queries: dict[str, _Query] = {}
        self._guard = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    def wanted(self, uid: str) -> bool:
        """Whether this metric's check is due, or its query's results may be ready. The first check falls
        at a random point of the interval, so a restart spreads many metrics' queries over it."""
        if not self.enabled:
            return False
        now = time.monotonic()
        with self._guard:
            if uid in self._queries:
                return True
            due = self._due.setdefault(uid, now + (random.uniform(0, self.interval) if self.spread_first else 0))
            return now >= due

    def forget(self, uid: str) -> None:
        with self._guard:
            self._due.pop(uid, None)
            self._queries.pop(uid, None)

    def check_function(self, uid: str, function_name: str, logs: FunctionLogs, previous: Mapping | None) -> Check:
        """One tick for a function of the operator's own: start the query, or read what it found."""
        with self._guard:
            query = self._queries.get(uid)
        try:
            if query is None:
                now = time.time()
                query_id = logs.start_error_query(function_name, now - self.window, now)
                if query_id is None:  # never invoked: nothing to say, unless status says otherwise
                    self._done(uid)
                    if not previous:
                        return Check()
                    return _check(self._window({"count": 0, "recent": [], "message": (
                        f"no log group {log_group(function_name)}: the function has not been invoked")}),
                        previous)
                with self._guard:
                    self._queries[uid] = _Query(query_id, time.monotonic())
                return Check()
            lines = logs.error_query_results(query.query_id, function_name)
        except errors.ReconcileFailure as failure:
            self._done(uid)
            return _unreadable(self._window({}), failure, previous)
        if lines is None:
            if time.monotonic() - query.started > _QUERY_PATIENCE_SECONDS:
                self._done(uid, again_now=True)
            return Check()
        self._done(uid)
        summary = function_errors.summarize(lines, None, function_errors.wrapper_error)
        if len(lines) >= MAX_RESULTS:
            summary["message"] = f"more than {MAX_RESULTS} errors in the window: the count is a lower bound"
        return _check(self._window(summary), previous)

    def check_project(self, uid: str, project: int, projects: LabelStudioProjects,
                      previous: Mapping | None) -> Check:
        """One tick for a Label Studio project's function: its logs since yesterday, in one request."""
        self._done(uid)
        try:
            return _check(project_errors(projects, project), previous)
        except errors.ReconcileFailure as failure:
            return _unreadable({"since": _label_studio_since()}, failure, previous)

    def _window(self, found: dict) -> dict:
        return {"window": _describe_window(self.window), **found}

    def _done(self, uid: str, again_now: bool = False) -> None:
        with self._guard:
            self._queries.pop(uid, None)
            self._due[uid] = time.monotonic() + (0 if again_now else self.interval)


def project_errors(projects: LabelStudioProjects, project: int) -> dict:
    """status.functionErrors of a Label Studio project's function, from its logs since yesterday."""
    since = _label_studio_since()
    return function_errors.summarize(projects.function_logs(project, since), since)


def _label_studio_since() -> str:
    return (datetime.datetime.now(datetime.UTC).date() - datetime.timedelta(days=LABEL_STUDIO_LOG_DAYS)).isoformat()


def _check(status: dict, previous: Mapping | None) -> Check:
    fresh = function_errors.new_errors(status, previous)
    events = [Event("FunctionErrors", function_errors.describe(fresh), warning=True)] if fresh else []
    return Check(status=status, events=events, new_errors=len(fresh))


def _unreadable(status: dict, failure: errors.ReconcileFailure, previous: Mapping | None) -> Check:
    """The logs could not be read (AccessDenied, say): status says why, and a Warning Event the first time."""
    message = f"function errors could not be read: {failure.message}"
    check = Check(status={**status, "count": 0, "recent": [], "message": message})
    if message != (previous or {}).get("message"):
        check.events.append(Event("FunctionErrorsUnreadable", message, warning=True))
    return check


def _describe_window(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
