"""Several AWS connections from one operator, against moto in process: moto keeps each account's resources apart and
binds the credentials AssumeRole hands out to the role's account, so a function lands in the account and region of
the connection its metric names, and nowhere else."""

import dataclasses
import datetime
import json
import time

import boto3
import pytest

from agreement_operator import lambda_target
from agreement_operator.aws_connections import AwsConnection
from agreement_operator.failures import QuotaWait
from agreement_operator.lambda_target import accounts, aws_session, reconcile
from agreement_operator.metric.owner import Owner
from agreement_operator.target import Phase, Request

PRODUCTION = AwsConnection("production", "eu-west-1", "arn:aws:iam::111111111111:role/LSE_CustomMetricsExecuteRole",
                           ("labeling",), role_arn="arn:aws:iam::111111111111:role/AgreementOperatorTarget",
                           external_id="agreement-operator-test")
STAGING = AwsConnection("staging", "us-west-2", "arn:aws:iam::222222222222:role/LSE_CustomMetricsExecuteRole", ("*",),
                        role_arn="arn:aws:iam::222222222222:role/AgreementOperatorTarget", requests_per_second=3)
NAME = "custom-metric-labeling-sentiment"


class OperatorDied(Exception):
    pass


@pytest.fixture
def config(config):
    """The default connection (moto's account 123456789012, us-east-1) and two named ones, each with the execution
    role its functions run as, made in its own account with the assumed role's credentials."""
    config = dataclasses.replace(config, aws_named=(PRODUCTION, STAGING), function_errors_seconds=0)
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    for connection in (PRODUCTION, STAGING):
        iam = accounts.assumed_role_session(connection, config).client("iam", region_name=connection.region)
        iam.create_role(RoleName="LSE_CustomMetricsExecuteRole", AssumeRolePolicyDocument=json.dumps(trust))
    return config


@pytest.fixture
def target(config) -> lambda_target.LambdaTarget:
    built = lambda_target.build(config)
    assert isinstance(built, lambda_target.LambdaTarget)
    return built


def request(spec: dict, namespace: str = "labeling", cluster: str = "test-cluster", **fields) -> Request:
    return Request(spec=spec, owner=Owner(cluster, namespace, "sentiment", "uid-1"),
                   read_configmap=lambda namespace, name: None, **fields)


def settle(target, spec: dict, namespace: str = "labeling", status: dict | None = None, **fields):
    """Passes as kopf would make them, while a change is under way or the quota gives a later turn."""
    status = dict(status or {})
    for attempt in range(12):
        outcome = target.reconcile(request(spec, namespace, status=dict(status), attempt=attempt, **fields))
        status.update(outcome.status)
        if outcome.reason == "WaitingForQuota":
            time.sleep(outcome.retry_delay or 0)
        elif outcome.reason != "FunctionUpdating":
            return outcome, status
    raise AssertionError(outcome.message)


def functions_in(connection: AwsConnection, config) -> set[str]:
    session = accounts.assumed_role_session(connection, config) if connection.role_arn else boto3.session.Session()
    client = session.client("lambda", region_name=connection.region)
    return {function["FunctionName"] for function in client.list_functions()["Functions"]}


def test_each_metric_deploys_to_the_account_and_region_of_its_connection(target, config, good_metric):
    arns = {}
    for connection in ("default", "production", "staging"):
        spec = {"code": good_metric, "prefix": connection, **({} if connection == "default" else
                                                               {"aws": {"connection": connection}})}
        outcome, status = settle(target, spec)
        assert outcome.phase is Phase.READY, outcome.message
        arns[connection] = status["functionArn"]
        # Bare in the default connection (what 0.1.0 reads after a rollback), the ARN in any other.
        assert status["functionNames"] == [status["functionName"] if connection == "default" else status["functionArn"]]
    assert arns == {
        "default": "arn:aws:lambda:us-east-1:123456789012:function:custom-metric-default-labeling-sentiment",
        "production": "arn:aws:lambda:eu-west-1:111111111111:function:custom-metric-production-labeling-sentiment",
        "staging": "arn:aws:lambda:us-west-2:222222222222:function:custom-metric-staging-labeling-sentiment"}
    assert functions_in(config.aws_connections["default"], config) == {"custom-metric-default-labeling-sentiment"}
    assert functions_in(PRODUCTION, config) == {"custom-metric-production-labeling-sentiment"}
    assert functions_in(STAGING, config) == {"custom-metric-staging-labeling-sentiment"}


def test_each_connection_has_budgets_of_its_own(config):
    watched = []
    lambda_target.build(config, watch_budgets=watched.extend)
    lambda_budgets = {budget.connection: budget for budget in watched if budget.name == "lambda"}
    assert set(lambda_budgets) == {"default", "production", "staging"}
    assert lambda_budgets["staging"].configured == 3  # its own requestsPerSecond
    assert lambda_budgets["production"].configured == config.lambda_requests_per_second
    assert len({id(budget) for budget in watched}) == len(watched)


def test_a_namespace_the_connection_does_not_serve_is_stalled_before_any_aws_call(target, config, good_metric):
    outcome = target.reconcile(request({"code": good_metric, "aws": {"connection": "production"}}, "qa"))
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "AwsNamespaceNotAllowed")
    assert "namespace qa" in outcome.message and "aws.connections[].namespaces" in outcome.message
    assert functions_in(PRODUCTION, config) == set()


def test_a_connection_the_operator_lacks_is_stalled_naming_the_ones_it_has(target, good_metric):
    outcome = target.reconcile(request({"code": good_metric, "aws": {"connection": "prod"}}))
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "AwsConnectionNotFound")
    assert "'prod'" in outcome.message and "default, production, staging" in outcome.message


def test_a_move_between_accounts_leaks_no_function_when_the_operator_dies_after_the_create(
        target, config, good_metric):
    _, status = settle(target, {"code": good_metric})

    def persist(patch):  # what the handler writes to status before creating
        status.update(patch)

    moved = {"code": good_metric, "aws": {"connection": "staging"}}
    account = target.accounts["staging"]
    creates = account.functions.create

    def create_then_die(*args, **kwargs):
        creates(*args, **kwargs)
        raise OperatorDied

    account.functions.create = create_then_die
    with pytest.raises(OperatorDied):
        settle(target, moved, status=status, write_status=persist)
    assert status["functionNames"] == [NAME,
                                       f"arn:aws:lambda:us-west-2:222222222222:function:{NAME}"]
    assert functions_in(STAGING, config) == {NAME} and functions_in(config.aws_connections["default"], config) == {NAME}

    account.functions.create = creates  # a new operator takes over
    outcome, status = settle(lambda_target.build(config), moved, status=status, write_status=persist)
    assert outcome.phase is Phase.READY, outcome.message
    assert status["functionNames"] == [f"arn:aws:lambda:us-west-2:222222222222:function:{NAME}"]
    assert functions_in(config.aws_connections["default"], config) == set()
    assert functions_in(STAGING, config) == {NAME}


def test_delete_reaches_every_account_the_metric_recorded(target, config, good_metric):
    """As after a crash mid-move: a function in two accounts; deleting the metric removes both."""
    _, first = settle(target, {"code": good_metric})
    moved = {"code": good_metric, "aws": {"connection": "production"}}
    _, second = settle(target, {**moved, "prefix": "kept"})  # another name, so the move below retires nothing
    status = {**second, "functionNames": [*first["functionNames"], *second["functionNames"]]}
    events = target.delete(request({**moved, "prefix": "kept"}, status=status))
    assert [event.reason for event in events] == ["Deleted", "Deleted"]
    assert functions_in(config.aws_connections["default"], config) == set() == functions_in(PRODUCTION, config)


def test_a_status_of_bare_names_written_before_arns_needs_no_call(target, config, good_metric):
    """Metrics deployed by 0.1.0 recorded names only: read as the default connection's, with no redeploy."""
    _, status = settle(target, {"code": good_metric})
    legacy = {**status, "functionNames": [NAME]}
    assert target.deployed_as_specified(request({"code": good_metric}, status=legacy))
    assert not target.deployed_as_specified(request({"code": good_metric, "aws": {"connection": "staging"}},
                                                    status=legacy))


def test_two_clusters_sharing_a_connection_keep_apart_by_their_tags(target, config, good_metric):
    """The collision guard, in a named connection's account: another cluster's metric of the same name is refused."""
    spec = {"code": good_metric, "aws": {"connection": "production"}}
    outcome, _ = settle(target, spec)
    assert outcome.phase is Phase.READY
    other = lambda_target.build(dataclasses.replace(config, cluster_id="other-cluster"))
    refused = other.reconcile(request(spec, cluster="other-cluster"))
    assert (refused.phase, refused.reason) == (Phase.STALLED, "FunctionOwnedElsewhere"), refused.message
    assert "test-cluster" in refused.message


def test_a_function_in_an_account_no_connection_reaches_stays_recorded(target, config, good_metric):
    elsewhere = "arn:aws:lambda:ap-south-1:333333333333:function:custom-metric-old"
    outcome, status = settle(target, {"code": good_metric}, status={"functionNames": [elsewhere]})
    assert outcome.phase is Phase.READY
    assert status["functionNames"] == [status["functionName"], elsewhere]
    assert any(event.reason == "FunctionUnreachable" and elsewhere in event.message for event in outcome.events)


def test_the_role_is_assumed_with_the_session_name_and_external_id(config):
    session = accounts.assumed_role_session(PRODUCTION, config)
    identity = session.client("sts", region_name=PRODUCTION.region).get_caller_identity()
    assert identity["Account"] == "111111111111"
    assert identity["Arn"].endswith(f"assumed-role/AgreementOperatorTarget/{accounts.session_name(config)}")
    assert accounts.session_name(config) == "agreement-operator-test-cluster"


def test_recorded_entries_read_as_arns(config):
    default = config.aws_connections["default"]
    status = {"functionNames": [NAME, f"arn:aws:lambda:us-west-2:222222222222:function:{NAME}"]}
    assert reconcile.known_functions(Request(spec={}, owner=None, read_configmap=None, status=status), default) == [
        f"arn:aws:lambda:us-east-1:123456789012:function:{NAME}",
        f"arn:aws:lambda:us-west-2:222222222222:function:{NAME}"]


def test_credentials_that_expire_during_a_run_are_refreshed(config):
    now = [datetime.datetime.now(datetime.UTC)]
    session = accounts.assumed_role_session(PRODUCTION, config, clock=lambda: now[0])
    sts = session.client("sts", region_name=PRODUCTION.region)
    first = sts.get_caller_identity()
    first_key = session.get_credentials().get_frozen_credentials().access_key
    now[0] += datetime.timedelta(minutes=55)  # 5 of the hour they last are left: botocore must refresh
    second = sts.get_caller_identity()
    second_key = session.get_credentials().get_frozen_credentials().access_key
    assert first_key != second_key, "the role was not assumed again"
    assert first["Account"] == second["Account"] == "111111111111"


@pytest.fixture
def operator_may_not_assume_roles(config, monkeypatch):
    """The operator's own credentials are those of a user whose policy lacks sts:AssumeRole, and moto enforces it."""
    from moto import settings as moto_settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMRequestBase

    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="agreement-operator")
    policy = {"Version": "2012-10-17", "Statement": [{"Sid": "Lambda", "Effect": "Allow", "Action": "lambda:*",
                                                      "Resource": "*"}]}
    iam.put_user_policy(UserName="agreement-operator", PolicyName="operator", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="agreement-operator")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.setattr(IAMRequestBase, "check_signature", lambda self: None)  # as in tests/conftest.py
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
    for cached in (aws_session.core_session, aws_session.session):  # the operator's credentials, read again
        cached.cache_clear()
    yield
    for cached in (aws_session.core_session, aws_session.session):
        cached.cache_clear()


def test_a_role_the_operator_may_not_assume_is_stalled_access_denied(operator_may_not_assume_roles, config,
                                                                    good_metric):
    target = lambda_target.build(dataclasses.replace(config, aws_named=(PRODUCTION,)))
    outcome = target.reconcile(request({"code": good_metric, "aws": {"connection": "production"}}))
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "AccessDenied"), outcome.message
    assert "sts:AssumeRole" in outcome.message and "iam/operator-assume-roles-policy.json" in outcome.message
    assert f"role {PRODUCTION.role_arn} of AWS connection 'production' with its externalId" in outcome.message


def test_the_usage_reads_follow_the_function_to_its_account(config, good_metric):
    """Each account's usage board covers the functions deployed there: a failed pass keeps them, a move hands
    the function to the new account's board, and a delete removes it."""
    target = lambda_target.build(dataclasses.replace(config, function_errors_seconds=300))
    default, staging = target.accounts["default"].usage, target.accounts["staging"].usage
    _, status = settle(target, {"code": good_metric})
    assert default.covers(NAME)
    refused = target.reconcile(request({"code": "def nothing(): pass"}, status=dict(status)))
    assert refused.phase is Phase.STALLED and "functionName" not in refused.status
    assert default.covers(NAME), "a pass that deployed nothing took the function out of the usage reads"
    moved = {"code": good_metric, "aws": {"connection": "staging"}}
    _, status = settle(target, moved, status=status)
    assert staging.covers(NAME) and not default.covers(NAME)
    for _ in range(10):  # as kopf retries a delete that waits for its turn at the quota
        try:
            target.delete(request(moved, status=status))
            break
        except QuotaWait as wait:
            time.sleep(wait.delay or 0)
    assert not staging.covers(NAME)


def test_without_credentials_of_its_own_a_connection_says_no_credentials(config, good_metric, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for cached in (aws_session.core_session, aws_session.session):
        cached.cache_clear()
    try:
        target = lambda_target.build(dataclasses.replace(config, aws_named=(PRODUCTION,)))
        outcome = target.reconcile(request({"code": good_metric, "aws": {"connection": "production"}}))
    finally:
        for cached in (aws_session.core_session, aws_session.session):
            cached.cache_clear()
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "NoCredentials"), outcome.message
