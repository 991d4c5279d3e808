"""The errors of a function of the operator's own, read with a Logs Insights query on /aws/lambda/NAME.

Logs Insights answers asynchronously: one look starts the query over the last `window` seconds
and a later look reads what it found, so nothing waits on Logs Insights. A function never
invoked has no log group, which is no error.

A function Lambda counted no invocation of in the window (its Invocations metric, read for
every function together by the UsageBoard, usage.py) cannot have logged an error in it: its
look costs no Logs call. Idle functions are the usual case, and the Logs budget (2 calls a
second by default) then goes to the functions someone calls.
"""

import time
from typing import TYPE_CHECKING

from agreement_operator import failures
from agreement_operator.function import log_errors
from agreement_operator.lambda_target.cloudwatch_logs import MAX_RESULTS, FunctionLogs, log_group
from agreement_operator.target import ErrorLook

if TYPE_CHECKING:  # usage.py imports this module
    from agreement_operator.lambda_target.usage import UsageBoard


class FunctionErrorQuery:
    """The ErrorReader (target.py) of one Lambda function."""

    def __init__(self, logs: FunctionLogs, function_name: str, window: float,
                 usage: "UsageBoard | None" = None) -> None:
        """`usage`: the functions' invocations, which spare the query of an idle one (None: always query)."""
        self.logs, self.function_name, self.window, self.usage = logs, function_name, window, usage

    @property
    def scope(self) -> dict:
        return {"window": describe_window(self.window)}

    def look(self, pending: str | None) -> ErrorLook:
        if pending is None:
            if not self._invoked_in_window():
                return ErrorLook({"count": 0, "recent": []}, never_invoked=True)
            now = time.time()
            query_id = self.logs.start_error_query(self.function_name, now - self.window, now)
            if query_id is None:
                message = f"no log group {log_group(self.function_name)}: the function has not been invoked"
                return ErrorLook({"count": 0, "recent": [], "message": message}, never_invoked=True)
            return ErrorLook(pending=query_id)
        lines = self.logs.error_query_results(pending, self.function_name)
        if lines is None:
            return ErrorLook(pending=pending)
        summary = log_errors.summarize(lines, None, log_errors.wrapper_error)
        if len(lines) >= MAX_RESULTS:
            summary["message"] = f"more than {MAX_RESULTS} errors in the window: the count is a lower bound"
        return ErrorLook(summary)

    def _invoked_in_window(self) -> bool:
        """Whether Lambda counted an invocation in the window; True when that cannot be read (the query
        tells then). failures.QuotaWait leaves: the look comes back at its turn at the CloudWatch budget."""
        if self.usage is None:
            return True
        try:
            return self.usage.usage(self.function_name).invocations > 0
        except failures.QuotaWait:
            raise
        except failures.ReconcileFailure:  # AccessDenied on GetMetricData, say: status.usage says so
            return True


def describe_window(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
