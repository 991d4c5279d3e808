"""A metric deployed as a Lambda function of its own, named custom-metric-*, which the operator
creates, updates, tags, smoke-tests and deletes (reconcile.py), and whose errors it reads from
CloudWatch Logs (error_query.py) and whose invocations it reads from CloudWatch (usage.py).
lambda_api.py, cloudwatch_logs.py and cloudwatch_metrics.py are the only modules that call AWS."""

from collections.abc import Callable
from typing import Any

from agreement_operator import target
from agreement_operator.config import Config
from agreement_operator.lambda_target import cloudwatch_logs, cloudwatch_metrics, lambda_api, reconcile
from agreement_operator.lambda_target.budget import Budget
from agreement_operator.lambda_target.cloudwatch_logs import FunctionLogs
from agreement_operator.lambda_target.cloudwatch_metrics import FunctionMetrics
from agreement_operator.lambda_target.error_query import FunctionErrorQuery
from agreement_operator.lambda_target.lambda_api import LambdaFunctions
from agreement_operator.lambda_target.usage import FunctionUsage, UsageBoard
from agreement_operator.target import Event, Outcome, Request

NOT_CONFIGURED = target.Unconfigured(
    "lambda", "LambdaNotConfigured",
    "this operator deploys only through Label Studio (no LS_LAMBDA_REGION_CUSTOM_METRICS): "
    "set spec.labelStudio.project, or give the operator an AWS region and execution role",
)


class LambdaTarget:
    """Metrics deployed as Lambda functions of their own (the Target of target.py)."""

    name = "lambda"

    def __init__(self, functions: LambdaFunctions, config: Config, logs: FunctionLogs | None = None,
                 usage: UsageBoard | None = None) -> None:
        """`logs`: where the functions' errors are read; `usage`: their invocations (None: they are not)."""
        self.functions, self.config, self.logs, self.usage = functions, config, logs, usage

    def reconcile(self, request: Request) -> Outcome:
        outcome = reconcile.reconcile(request, self.functions.for_pass(request.urgent), self.config)
        self._keep(request.status.get("functionName"), outcome.status.get("functionName"))
        return outcome

    def deployed_as_specified(self, request: Request) -> bool:
        deployed = reconcile.deployed_as_specified(request, self.config)
        if deployed:
            self._keep(None, request.status.get("functionName"))
        return deployed

    def _keep(self, before: str | None, after: str | None) -> None:
        """Which functions the usage reads cover: the deployed ones (a new name replaces the old)."""
        if self.usage is None or after is None:
            return
        if before and before != after:
            self.usage.forget(before)
        self.usage.keep(after)

    def delete(self, request: Request) -> list[Event]:
        events = reconcile.delete(request, self.functions.for_pass(request.urgent))
        if self.usage is not None and (name := request.status.get("functionName")):
            self.usage.forget(name)
        return events

    def error_reader(self, request: Request) -> FunctionErrorQuery | None:
        name = request.status.get("functionName")
        if self.logs is None or not name:
            return None
        return FunctionErrorQuery(self.logs, name, self.config.function_errors_window_seconds, self.usage)

    def usage_reader(self, request: Request) -> FunctionUsage | None:
        name = request.status.get("functionName")
        if self.usage is None or not name:
            return None
        return FunctionUsage(self.usage, name, request.created)


def build(config: Config, instrument: Callable[[Any], Any] = lambda client: client,
          watch_budgets: Callable[[list[Budget]], None] = lambda budgets: None) -> target.Target:
    """The target for this configuration, its AWS clients passed through `instrument` (to count their
    calls) and the budgets they spend to `watch_budgets`; NOT_CONFIGURED without a region and execution role."""
    if config.region is None or not config.lambda_enabled:
        return NOT_CONFIGURED
    control = Budget("lambda", config.lambda_requests_per_second)
    reads = Budget("lambda-get-function", config.lambda_reads_per_second)
    budgets = [control, reads]
    functions = LambdaFunctions(instrument(lambda_api.make_client(
        config.region, config.endpoint_url, pool_connections=config.workers)), control, reads)
    logs, usage = None, None
    if config.function_errors_seconds:
        logs_budget = Budget("logs", config.logs_requests_per_second)
        metrics_budget = Budget("cloudwatch", config.cloudwatch_requests_per_second)
        budgets += [logs_budget, metrics_budget]
        logs = FunctionLogs(instrument(cloudwatch_logs.make_client(
            config.region, config.endpoint_url, pool_connections=config.workers)), logs_budget)
        metrics = FunctionMetrics(instrument(cloudwatch_metrics.make_client(
            config.region, config.endpoint_url, pool_connections=config.workers)), metrics_budget)
        usage = UsageBoard(metrics, config.function_errors_window_seconds, config.function_errors_seconds)
    watch_budgets(budgets)
    return LambdaTarget(functions, config, logs, usage)
