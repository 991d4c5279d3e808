"""A metric deployed as a Lambda function of its own, named custom-metric-*, which the operator
creates, updates, tags, smoke-tests and deletes (reconcile.py), and whose errors it reads from
CloudWatch Logs (error_query.py) and whose invocations it reads from CloudWatch (usage.py).
lambda_api.py, cloudwatch_logs.py and cloudwatch_metrics.py are the only modules that call AWS.

One operator may hold several AWS connections (accounts and regions, accounts.py), each with its own
clients and budgets and serving the namespaces it lists; a metric picks one with spec.aws.connection."""

from collections.abc import Callable, Mapping

from agreement_operator import aws_connections, failures, target
from agreement_operator.config import Config
from agreement_operator.lambda_target import accounts, reconcile
from agreement_operator.lambda_target.accounts import Account, Instrument
from agreement_operator.lambda_target.budget import Budget
from agreement_operator.lambda_target.cloudwatch_logs import FunctionLogs
from agreement_operator.lambda_target.error_query import FunctionErrorQuery
from agreement_operator.lambda_target.lambda_api import LambdaFunctions
from agreement_operator.lambda_target.reconcile import Placement
from agreement_operator.lambda_target.usage import FunctionUsage, UsageBoard
from agreement_operator.metric.spec import aws_connection
from agreement_operator.target import Event, Outcome, Request

NOT_CONFIGURED = target.Unconfigured(
    "lambda", "LambdaNotConfigured",
    "this operator deploys only through Label Studio (no LS_LAMBDA_REGION_CUSTOM_METRICS): "
    "set spec.labelStudio.project, or give the operator an AWS region and execution role",
)


class LambdaTarget:
    """Metrics deployed as Lambda functions of their own (the Target of target.py)."""

    name = "lambda"

    def __init__(self, reached: Mapping[str, Account] | Account, config: Config) -> None:
        """`reached`: what the operator holds of each AWS connection, by name (one alone is `default`)."""
        self.accounts = {reached.connection.name: reached} if isinstance(reached, Account) else dict(reached)
        self.config = config
        self.default = self.accounts[aws_connections.DEFAULT].connection if aws_connections.DEFAULT in self.accounts \
            else None

    def reconcile(self, request: Request) -> Outcome:
        try:
            account = self._account(request)
        except failures.PermanentFailure as failure:
            return target.failed(failure, request.attempt, [], {})
        outcome = reconcile.reconcile(request, self._placement(account, request.urgent), self.config)
        self._keep(request.status, outcome.status, account)
        return outcome

    def deployed_as_specified(self, request: Request) -> bool:
        account = self.accounts.get(aws_connection(request.spec))
        if account is None or not account.connection.serves(request.owner.namespace):
            return False
        deployed = reconcile.deployed_as_specified(request, account.connection, self.default)
        if deployed:
            self._keep({}, request.status, account)
        return deployed

    @classmethod
    def single(cls, functions: LambdaFunctions, config: Config, logs: FunctionLogs | None = None,
               usage: UsageBoard | None = None) -> "LambdaTarget":
        """One account and region, the default connection's, reached with these clients."""
        return cls(Account(config.aws_connections[aws_connections.DEFAULT], functions, logs, usage), config)

    def delete(self, request: Request) -> list[Event]:
        account = self.accounts.get(aws_connection(request.spec))  # None: gone; what it recorded is still reached
        place = self._placement(account, request.urgent) if account else \
            Placement(None, None, self._reach(request.urgent), self.default)
        events = reconcile.delete(request, place)
        self._forget(request.status)
        return events

    def error_reader(self, request: Request) -> FunctionErrorQuery | None:
        name, account = request.status.get("functionName"), self._deployed_account(request.status)
        if account is None or account.logs is None or not name:
            return None
        return FunctionErrorQuery(account.logs, name, self.config.function_errors_window_seconds, account.usage)

    def usage_reader(self, request: Request) -> FunctionUsage | None:
        name, account = request.status.get("functionName"), self._deployed_account(request.status)
        if account is None or account.usage is None or not name:
            return None
        return FunctionUsage(account.usage, name, request.created)

    def _account(self, request: Request) -> Account:
        """The metric's connection, if its namespace may use it; PermanentFailure before any AWS call otherwise."""
        name, namespace = aws_connection(request.spec), request.owner.namespace
        account = self.accounts.get(name)
        if account is None:
            known = ", ".join(sorted(self.accounts))
            raise failures.PermanentFailure(
                "AwsConnectionNotFound",
                f"spec.aws.connection names {name!r}, which this operator does not have (it has: {known}); fix the "
                "name, or ask the operator's administrators to add it (Helm: aws.connections; "
                f"{aws_connections.VARIABLE})")
        if not account.connection.serves(namespace):
            raise failures.PermanentFailure(
                "AwsNamespaceNotAllowed",
                f"namespace {namespace} may not deploy to the AWS connection {name!r} (account "
                f"{account.connection.account}, {account.connection.region}); ask the operator's administrators to "
                f"add it to that connection's namespaces (Helm: aws.connections[].namespaces; "
                f"{aws_connections.VARIABLE})")
        return account

    def _placement(self, account: Account, urgent: bool) -> Placement:
        return Placement(account.connection, account.functions.for_pass(urgent), self._reach(urgent), self.default)

    def _reach(self, urgent: bool) -> Callable[[str], LambdaFunctions | None]:
        def elsewhere(entry: str) -> LambdaFunctions | None:
            found = self._holding(entry)
            return found.functions.for_pass(urgent) if found else None

        return elsewhere

    def _holding(self, entry: str) -> Account | None:
        """The connection whose account and region hold the function (an ARN, or a bare name: the default's)."""
        if not reconcile.is_arn(entry):
            return self.accounts.get(aws_connections.DEFAULT)
        parts = entry.split(":")
        region, account_id = parts[3], parts[4]
        return next((account for account in self.accounts.values()
                     if (account.connection.region, account.connection.account) == (region, account_id)), None)

    def _deployed_account(self, status: Mapping) -> Account | None:
        """The connection holding the deployed function (status.functionArn), where its errors and usage are read."""
        deployed = status.get("functionArn") or status.get("functionName")
        return self._holding(deployed) if deployed else None

    def _keep(self, before: Mapping, after: Mapping, account: Account) -> None:
        """Which functions the usage reads cover: the deployed ones (a new one, or one in another account,
        replaces the old). A pass that says no function (a failure, a wait) changes nothing."""
        old_name, new_name = before.get("functionName"), after.get("functionName")
        if not new_name:
            return
        old = self._deployed_account(before)
        if old_name and old is not None and (old_name != new_name or old is not account):
            self._forget(before)
        if account.usage is not None:
            account.usage.keep(new_name)

    def _forget(self, status: Mapping) -> None:
        name, account = status.get("functionName"), self._deployed_account(status)
        if name and account is not None and account.usage is not None:
            account.usage.forget(name)

def build(config: Config, instrument: Instrument = lambda client, connection: client,
          watch_budgets: Callable[[list[Budget]], None] = lambda budgets: None) -> target.Target:
    """The target for this configuration, its AWS clients passed through `instrument` (to count their
    calls) and the budgets they spend to `watch_budgets`; NOT_CONFIGURED without any AWS connection."""
    if not config.lambda_enabled:
        return NOT_CONFIGURED
    reached = {name: accounts.reach(connection, config, instrument)
               for name, connection in config.aws_connections.items()}
    watch_budgets([budget for account in reached.values() for budget in account.budgets])
    return LambdaTarget(reached, config)
