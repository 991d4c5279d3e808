"""The only module that calls CloudWatch Logs: a function's errors through Logs Insights, and its log events.

Logs Insights answers asynchronously: `start_error_query` returns the query's id at once and
`error_query_results` is None while the query runs, so a caller comes back for the results
instead of waiting. A function that has never logged has no log group: both are None then.
Other AWS errors leave as failures.* failures (aws_errors.py), AccessDenied naming the action.

The query (ERROR_QUERY) keeps the lines the wrapper writes for each error it returns, and
Lambda's timeout lines; the actions are exactly those Label Studio's documented policy grants
on /aws/lambda/custom-metric-*: logs:StartQuery and logs:GetQueryResults.
"""

import datetime
import math
from collections.abc import Iterator

from botocore.exceptions import ClientError

from agreement_operator import failures
from agreement_operator.function.log_errors import LOG_KEY, LogLine
from agreement_operator.lambda_target import aws_errors
from agreement_operator.lambda_target.budget import Budget

MAX_RESULTS = 1000  # the query's limit: status.functionErrors says when the window held more
ERROR_QUERY = (
    "fields @timestamp, @message"
    f' | filter @message like /"{LOG_KEY}"/ or @message like /Task timed out after/'
    f" | sort @timestamp desc | limit {MAX_RESULTS}"
)
_DONE = "Complete"
_FAILED = ("Failed", "Cancelled", "Timeout", "Unknown")


def log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def make_client(region: str, endpoint_url: str | None = None, pool_connections: int = 10):
    return aws_errors.client("logs", region, endpoint_url, pool_connections)


class FunctionLogs:
    def __init__(self, client, budget: Budget | None = None) -> None:
        """`budget`: the operator's share of the service's quota (None: unpaced)."""
        self.client, self.budget = client, budget

    def start_error_query(self, function_name: str, start: float, end: float) -> str | None:
        """Start the error query over [start, end] (epoch seconds): its id, or None without a log group."""
        group = log_group(function_name)
        with aws_errors.call("StartQuery", group, service="logs", budget=self.budget):
            try:
                # Whole seconds, rounded outwards: events of the current second are in.
                answer = self.client.start_query(logGroupName=group, startTime=math.floor(start),
                                                 endTime=math.ceil(end),
                                                 queryString=ERROR_QUERY, limit=MAX_RESULTS)
            except ClientError as error:
                if aws_errors.not_found(error):
                    return None
                raise
        return answer["queryId"]

    def error_query_results(self, query_id: str, function_name: str) -> list[LogLine] | None:
        """The matched lines, oldest first; None while the query still runs."""
        with aws_errors.call("GetQueryResults", log_group(function_name), service="logs", budget=self.budget):
            answer = self.client.get_query_results(queryId=query_id)
        status = answer.get("status")
        if status in _FAILED:
            raise failures.RetryableFailure("LogsQueryFailed", f"the Logs Insights query on "
                                                             f"{log_group(function_name)} ended {status}")
        if status != _DONE:
            return None
        lines = []
        for row in answer.get("results") or []:
            fields = {field.get("field"): field.get("value", "") for field in row}
            lines.append(LogLine(rfc3339(fields.get("@timestamp", "")), fields.get("@message", "")))
        return sorted(lines, key=lambda line: line.time)

    def events(self, function_name: str, start: float, end: float | None = None,
               pattern: str | None = None) -> Iterator[LogLine]:
        """Every log event of the function from `start` (epoch seconds) on, oldest first (FilterLogEvents)."""
        group = log_group(function_name)
        request: dict = {"logGroupName": group, "startTime": int(start * 1000), "interleaved": True}
        if end is not None:
            request["endTime"] = int(end * 1000)
        if pattern:
            request["filterPattern"] = pattern
        while True:
            with aws_errors.call("FilterLogEvents", group, service="logs", budget=self.budget):
                try:
                    answer = self.client.filter_log_events(**request)
                except ClientError as error:
                    if aws_errors.not_found(error):
                        return
                    raise
            for event in answer.get("events") or []:
                yield LogLine(rfc3339(event.get("timestamp", 0)), event.get("message", ""))
            token = answer.get("nextToken")
            if not token or token == request.get("nextToken"):
                return
            request["nextToken"] = token


def rfc3339(value: object) -> str:
    """RFC 3339 (UTC, milliseconds) for epoch milliseconds or Logs Insights' 'YYYY-MM-DD HH:MM:SS.fff'."""
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        moment = datetime.datetime.fromtimestamp(int(value) / 1000, datetime.UTC)
    else:
        try:
            moment = datetime.datetime.fromisoformat(str(value)).replace(tzinfo=datetime.UTC)
        except ValueError:
            return str(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
