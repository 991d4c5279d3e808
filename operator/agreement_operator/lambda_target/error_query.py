"""The errors of a function of the operator's own, read with a Logs Insights query on /aws/lambda/NAME.

Logs Insights answers asynchronously: one look starts the query over the last `window` seconds
and a later look reads what it found, so nothing waits on Logs Insights. A function never
invoked has no log group, which is no error.
"""

import time

from agreement_operator.function import log_errors
from agreement_operator.lambda_target.cloudwatch_logs import MAX_RESULTS, FunctionLogs, log_group
from agreement_operator.target import ErrorLook


class FunctionErrorQuery:
    """The ErrorReader (target.py) of one Lambda function."""

    def __init__(self, logs: FunctionLogs, function_name: str, window: float) -> None:
        self.logs, self.function_name, self.window = logs, function_name, window

    @property
    def scope(self) -> dict:
        return {"window": describe_window(self.window)}

    def look(self, pending: str | None) -> ErrorLook:
        if pending is None:
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


def describe_window(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
