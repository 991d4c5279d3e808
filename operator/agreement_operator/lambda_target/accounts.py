"""One Lambda target's reach into each AWS connection (an account and region): its clients, made with the
connection's credentials, and its own budgets, function-error reader and usage board, so that a burst in one
account never slows another.

The default connection uses the operator's own credentials (IRSA). A named one assumes its `roleArn` from them,
with botocore's refreshing credentials: the role is assumed on the first call, and again shortly before the
credentials expire; no long-lived key is ever read.
"""

import datetime
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.credentials
import botocore.exceptions
import botocore.session

from agreement_operator.aws_connections import AwsConnection
from agreement_operator.config import Config
from agreement_operator.lambda_target import aws_errors, aws_session
from agreement_operator.lambda_target.budget import Budget
from agreement_operator.lambda_target.cloudwatch_logs import FunctionLogs
from agreement_operator.lambda_target.cloudwatch_metrics import FunctionMetrics
from agreement_operator.lambda_target.lambda_api import LambdaFunctions
from agreement_operator.lambda_target.usage import UsageBoard

Instrument = Callable[[Any, str], Any]  # (a boto3 client, its connection's name) -> the client, counted


@dataclass
class Account:
    """What the operator holds for one connection."""

    connection: AwsConnection
    functions: LambdaFunctions
    logs: FunctionLogs | None = None  # None: function errors and usage are not read
    usage: UsageBoard | None = None
    budgets: list[Budget] = field(default_factory=list)


def session_name(config: Config) -> str:
    """Who assumes the role, as CloudTrail shows it: this operator, in this cluster."""
    return f"agreement-operator-{config.cluster_id}"[:64]


def assumed_role_session(connection: AwsConnection, config: Config,
                         clock: Callable[[], datetime.datetime] | None = None) -> boto3.session.Session:
    """A session whose credentials are `connection.role_arn`'s, assumed from the operator's own and refreshed
    before they expire (by `clock`: botocore's own unless a test moves time)."""
    own = aws_session.core_session()  # the operator's credentials, and the endpoint table it already parsed
    extra: dict[str, str] = {"RoleSessionName": session_name(config)}
    if connection.external_id:
        extra["ExternalId"] = connection.external_id
    source = own.get_credentials()  # None without any: then every call says NoCredentials, as the default's do
    fetcher = botocore.credentials.AssumeRoleCredentialFetcher(
        functools.partial(own.create_client, region_name=connection.region, endpoint_url=config.endpoint_url),
        source, connection.role_arn, extra_args=extra, cache=_Uncached())

    def fetch() -> dict:
        if source is None:
            raise botocore.exceptions.NoCredentialsError()
        try:
            return fetcher.fetch_credentials()
        except botocore.exceptions.ClientError as error:  # STS does not always say which role it refused
            body = error.response.setdefault("Error", {})
            body["Message"] = f"{body.get('Message') or error}; role {connection.role_arn} of AWS connection " \
                              f"{connection.name!r}{' with its externalId' if connection.external_id else ''}"
            raise

    credentials = botocore.credentials.DeferredRefreshableCredentials(
        fetch, "assume-role", **({"time_fetcher": clock} if clock else {}))
    core = botocore.session.get_session()
    core.register_component("data_loader", own.get_component("data_loader"))
    core.get_component("credential_provider").insert_before("env", _Given(credentials))
    return boto3.session.Session(botocore_session=core)


class _Uncached(dict):
    """The fetcher's own cache, kept empty: the refreshing credentials hold what it fetched and decide, by their
    clock, when to fetch again; a second copy, judged by the wall clock alone, would answer instead."""

    def __setitem__(self, key, value) -> None:
        pass


class _Given(botocore.credentials.CredentialProvider):
    METHOD = "assume-role"

    def __init__(self, credentials: botocore.credentials.Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> botocore.credentials.Credentials:
        return self._credentials


def reach(connection: AwsConnection, config: Config, instrument: Instrument) -> Account:
    """The clients and budgets of one connection (the budgets named as in Prometheus' `budget` label)."""
    session = assumed_role_session(connection, config) if connection.role_arn else aws_session.session()

    def client(service: str):
        return instrument(aws_errors.client(service, connection.region, config.endpoint_url, config.workers,
                                            session=session), connection.name)

    control = Budget("lambda", connection.requests_per_second or config.lambda_requests_per_second,
                     connection=connection.name)
    reads = Budget("lambda-get-function", config.lambda_reads_per_second, connection=connection.name)
    account = Account(connection, LambdaFunctions(client("lambda"), control, reads), budgets=[control, reads])
    if config.function_errors_seconds:
        logs_budget = Budget("logs", config.logs_requests_per_second, connection=connection.name)
        metrics_budget = Budget("cloudwatch", config.cloudwatch_requests_per_second, connection=connection.name)
        account.budgets += [logs_budget, metrics_budget]
        account.logs = FunctionLogs(client("logs"), logs_budget)
        metrics = FunctionMetrics(client("cloudwatch"), metrics_budget)
        account.usage = UsageBoard(metrics, config.function_errors_window_seconds, config.function_errors_seconds)
    return account
