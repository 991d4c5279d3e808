"""The only module that calls CloudWatch (metrics): how often each function was invoked, failed and was
throttled over a window, from Lambda's own metrics (namespace AWS/Lambda, dimension FunctionName).

One GetMetricData call carries up to MAX_QUERIES queries, three per function (Invocations,
Errors, Throttles, each summed over the window), so one call reads 166 functions. Lambda
publishes nothing for a function that was never invoked: its sums are 0. The action,
cloudwatch:GetMetricData, has no resource-level permissions; AccessDenied names it.
"""

import datetime
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from agreement_operator.lambda_target import aws_errors
from agreement_operator.lambda_target.budget import Budget

MAX_QUERIES = 500  # GetMetricData's limit per call
METRICS = ("Invocations", "Errors", "Throttles")
FUNCTIONS_PER_CALL = MAX_QUERIES // len(METRICS)  # 166
_QUERY_PREFIX = {"Invocations": "i", "Errors": "e", "Throttles": "t"}  # ids must start with a lower-case letter


@dataclass(frozen=True)
class Usage:
    invocations: int = 0
    errors: int = 0
    throttles: int = 0


def make_client(region: str, endpoint_url: str | None = None, pool_connections: int = 10):
    return aws_errors.client("cloudwatch", region, endpoint_url, pool_connections)


class FunctionMetrics:
    def __init__(self, client, budget: Budget | None = None) -> None:
        """`budget`: the operator's share of the service's quota (None: unpaced)."""
        self.client, self.budget = client, budget

    def usage(self, names: Sequence[str], window: float, end: datetime.datetime | None = None) -> dict[str, Usage]:
        """Each function's sums over the `window` seconds up to `end` (now), in as few calls as the limit allows."""
        period = max(60, math.ceil(window / 60) * 60)  # CloudWatch periods are whole minutes
        # Up to the end of the current minute: CloudWatch keeps Lambda's numbers by the minute, and an
        # end of "now" would leave out this minute's invocations.
        now = end or datetime.datetime.now(datetime.UTC)
        end = now.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
        sums: dict[str, dict[str, float]] = {name: {} for name in names}
        per_call = FUNCTIONS_PER_CALL
        for first in range(0, len(names), per_call):
            batch = list(names[first:first + per_call])
            for query_id, value in self._sums(batch, period, end):
                metric, index = _unpack(query_id)
                found = sums[batch[index]]
                found[metric] = found.get(metric, 0.0) + value  # a long answer may come in pages
        return {name: Usage(*(int(found.get(metric, 0)) for metric in METRICS)) for name, found in sums.items()}

    def _sums(self, names: list[str], period: int, end: datetime.datetime) -> Iterator[tuple[str, float]]:
        queries = [{
            "Id": f"{_QUERY_PREFIX[metric]}{index}", "ReturnData": True,
            "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": metric,
                                      "Dimensions": [{"Name": "FunctionName", "Value": name}]},
                           "Period": period, "Stat": "Sum"},
        } for index, name in enumerate(names) for metric in METRICS]
        request: dict = {"MetricDataQueries": queries, "StartTime": end - datetime.timedelta(seconds=period),
                         "EndTime": end, "ScanBy": "TimestampDescending"}
        target = f"{len(names)} functions" if len(names) > 1 else names[0]
        while True:
            with aws_errors.call("GetMetricData", target, service="cloudwatch", budget=self.budget, key=names[0]):
                answer = self.client.get_metric_data(**request)
            for result in answer.get("MetricDataResults") or []:
                yield result["Id"], sum(result.get("Values") or [])
            token = answer.get("NextToken")
            if not token or token == request.get("NextToken"):
                return
            request["NextToken"] = token


def _unpack(query_id: str) -> tuple[str, int]:
    metric = next(name for name, prefix in _QUERY_PREFIX.items() if query_id.startswith(prefix))
    return metric, int(query_id[1:])
