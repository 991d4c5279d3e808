"""Whether anyone calls a metric's function: status.usage, from Lambda's own metrics over the
function-errors window, and a NotInvoked Event once a Ready metric's function has gone a day
without an invocation.

Label Studio Enterprise deploys and tracks its own custom-metric functions and publishes no way
to point a project at a function it did not deploy, so a function of the operator's own that
nobody invokes is the likeliest silent failure. The reads are batched across metrics: the first
look of an interval that finds its function's numbers older than the interval reads every
function whose numbers are, in as few GetMetricData calls as CloudWatch's limit allows (about
one per 166 functions), and the other metrics' looks use those numbers.
"""

import datetime
import threading
import time
from collections.abc import Mapping

from agreement_operator import failures
from agreement_operator.lambda_target.cloudwatch_metrics import FunctionMetrics, Usage
from agreement_operator.lambda_target.error_query import describe_window
from agreement_operator.target import Event, UsageLook

NOT_INVOKED_SECONDS = 86400.0  # a day without an invocation is worth saying


class UsageBoard:
    """The last numbers of every function whose metric looked, shared by all metrics of the operator."""

    def __init__(self, metrics: FunctionMetrics, window: float, interval: float) -> None:
        self.metrics, self.window, self.interval = metrics, window, interval
        self._read: dict[str, tuple[float, Usage]] = {}  # function -> (when read, time.monotonic(); numbers)
        self._wanted: set[str] = set()
        self._guard = threading.Lock()
        self._reading = threading.Lock()  # one batch at a time; the others wait for its numbers

    def usage(self, name: str) -> Usage:
        """The function's numbers, at most an interval old; failures.ReconcileFailure when they cannot be read."""
        with self._guard:
            self._wanted.add(name)
        with self._reading:
            fresh = self._fresh(name)
            if fresh is None:
                self._read_stale()
                fresh = self._fresh(name)
        assert fresh is not None
        return fresh

    def forget(self, name: str) -> None:
        with self._guard:
            self._wanted.discard(name)
            self._read.pop(name, None)

    def _fresh(self, name: str) -> Usage | None:
        with self._guard:
            return self._fresh_locked(name)

    def _read_stale(self) -> None:
        with self._guard:
            stale = sorted(name for name in self._wanted if self._fresh_locked(name) is None)
        numbers = self.metrics.usage(stale, self.window)
        now = time.monotonic()
        with self._guard:
            for name, usage in numbers.items():
                self._read[name] = (now, usage)

    def _fresh_locked(self, name: str) -> Usage | None:
        read = self._read.get(name)
        return read[1] if read and time.monotonic() - read[0] < self.interval else None


class FunctionUsage:
    """The UsageReader (target.py) of one function."""

    def __init__(self, board: UsageBoard, function_name: str, created: str | None) -> None:
        """`created`: when the metric was created (RFC 3339), before which the function cannot have been idle."""
        self.board, self.function_name, self.created = board, function_name, created

    def look(self, previous: Mapping | None, now: datetime.datetime | None = None) -> UsageLook:
        now = now or datetime.datetime.now(datetime.UTC)
        previous = previous or {}
        window = describe_window(self.board.window)
        try:
            usage = self.board.usage(self.function_name)
        except failures.ReconcileFailure as failure:
            message = f"the function's invocations could not be read: {failure.message}"
            events = [] if previous.get("message") == message else [Event("UsageUnreadable", message, warning=True)]
            return UsageLook({"window": window, "message": message}, events)
        status: dict = {"window": window, "invocations": usage.invocations, "errors": usage.errors,
                        "throttles": usage.throttles}
        if usage.invocations:
            return UsageLook(status, [])
        created = _parsed(self.created) if self.created else now
        idle_since = previous.get("notInvokedSince") or _rfc3339(
            max(now - datetime.timedelta(seconds=self.board.window), created))
        status["notInvokedSince"] = idle_since
        idle_for = (now - _parsed(idle_since)).total_seconds()
        if idle_for < NOT_INVOKED_SECONDS or previous.get("notInvokedWarned"):
            status["notInvokedWarned"] = bool(previous.get("notInvokedWarned"))
            return UsageLook(status, [])
        status["notInvokedWarned"] = True
        return UsageLook(status, [Event("NotInvoked", (
            f"function {self.function_name} has not been invoked since {idle_since}: no Label Studio project seems "
            "to call it. Label Studio Enterprise runs the functions it deploys itself; to make a project score with "
            "this code, target the project (spec.labelStudio.project). To check who calls the function, see its "
            "Invocations in CloudWatch (AWS/Lambda) and `agreement-operator logs`"), warning=True)])


def _parsed(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
