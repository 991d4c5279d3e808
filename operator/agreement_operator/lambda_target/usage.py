"""Whether anyone calls a metric's function: status.usage, from Lambda's own metrics over the
function-errors window, and a NotInvoked Event once a Ready metric's function has gone a day
without an invocation.

Label Studio Enterprise deploys and tracks its own custom-metric functions and publishes no way
to point a project at a function it did not deploy, so a function of the operator's own that
nobody invokes is the likeliest silent failure. The reads are batched across metrics: the target
keeps the names of the functions it deployed, the first look of an interval reads all of them
in as few GetMetricData calls as CloudWatch's limit allows (one per 166 functions), and the
other metrics' looks in that interval use those numbers.
"""

import datetime
import threading
import time
from collections.abc import Mapping

from agreement_operator import failures
from agreement_operator.lambda_target.cloudwatch_metrics import FUNCTIONS_PER_CALL, FunctionMetrics, Usage
from agreement_operator.lambda_target.error_query import describe_window
from agreement_operator.target import Event, UsageLook, cause_of, failed_read

NOT_INVOKED_SECONDS = 86400.0  # a day without an invocation is worth saying


class UsageBoard:
    """The numbers of every function the target deployed, read together once per interval."""

    def __init__(self, metrics: FunctionMetrics, window: float, interval: float) -> None:
        self.metrics, self.window, self.interval = metrics, window, interval
        self._functions: set[str] = set()
        self._numbers: dict[str, Usage] = {}  # read in this interval
        self._unread: list[str] = []  # the functions this interval has not read yet
        self._round_started = -float("inf")  # time.monotonic() when this interval's reads began
        self._failure: failures.ReconcileFailure | None = None  # how this interval's read failed, if it did
        self._guard = threading.Lock()

    def keep(self, name: str) -> None:
        """`name` is deployed: the next read of every function includes it."""
        with self._guard:
            self._functions.add(name)

    def covers(self, name: str) -> bool:
        """Whether the reads include `name`."""
        with self._guard:
            return name in self._functions

    def forget(self, name: str) -> None:
        with self._guard:
            self._functions.discard(name)
            self._numbers.pop(name, None)

    def usage(self, name: str) -> Usage:
        """The function's numbers, at most an interval old; failures.ReconcileFailure when they cannot be read.

        Each interval reads every function kept, in as few GetMetricData calls as CloudWatch allows (one per
        FUNCTIONS_PER_CALL functions): the look of a function not read yet in this interval reads its batch,
        and the looks of the others in that batch use those numbers. A look reads one batch at most, and
        keeps what it read even when the next batch must wait its turn at the CloudWatch budget. A read that
        failed counts as the interval's read: until the next interval every look answers with its failure,
        so an outage or a denied GetMetricData costs no more calls than a healthy interval."""
        with self._guard:  # one read at a time: the looks waiting for it use its numbers
            self._functions.add(name)
            if time.monotonic() - self._round_started >= self.interval:
                self._round_started, self._failure = time.monotonic(), None
                self._numbers, self._unread = {}, sorted(self._functions)
            if self._failure is not None:
                raise self._failure
            if name not in self._numbers:
                self._read([name, *[other for other in self._unread if other != name][:FUNCTIONS_PER_CALL - 1]])
            return self._numbers[name]

    def _read(self, batch: list[str]) -> None:
        try:
            numbers = self.metrics.usage(batch, self.window)
        except failures.QuotaWait:  # not a read: its turn at the CloudWatch budget comes later
            raise
        except failures.ReconcileFailure as failure:
            self._failure = failure
            raise
        self._numbers.update(numbers)
        read = set(batch)
        self._unread = [other for other in self._unread if other not in read]


class FunctionUsage:
    """The UsageReader (target.py) of one function."""

    field = "usage"

    def __init__(self, board: UsageBoard, function_name: str, created: str | None) -> None:
        """`created`: when the metric was created (RFC 3339), before which the function cannot have been idle."""
        self.board, self.function_name, self.created = board, function_name, created

    def look(self, previous: Mapping | None, now: datetime.datetime | None = None) -> UsageLook:
        now = now or datetime.datetime.now(datetime.UTC)
        previous = previous or {}
        window = describe_window(self.board.window)
        try:
            usage = self.board.usage(self.function_name)
        except failures.QuotaWait:  # its turn at the quota comes on a later look: nothing new to say
            return UsageLook(dict(previous), [])
        except failures.ReconcileFailure as failure:  # the numbers known stay, beside when and why the read failed
            message = failed_read("the function's invocations", failure.message, now)
            events = [] if cause_of(previous.get("message")) == failure.message else [
                Event("UsageUnreadable", message, warning=True)]
            return UsageLook({**previous, "window": window, "message": message}, events)
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
