"""The shipped IAM documents: well-formed, scoped, and sufficient under moto's policy evaluation."""

import json
import time
from pathlib import Path

import boto3
import pytest

from agreement_operator.controller.error_watch import ErrorWatch
from agreement_operator.failures import PermanentFailure
from agreement_operator.function import log_errors
from agreement_operator.lambda_target import cloudwatch_logs, cloudwatch_metrics, lambda_api, reconcile
from agreement_operator.lambda_target.error_query import FunctionErrorQuery
from agreement_operator.target import Phase

IAM = Path(__file__).parent.parent / "iam"
ACCOUNT = "123456789012"  # moto's


def load(name: str, account: str = ACCOUNT) -> dict:
    return json.loads((IAM / name).read_text().replace("YOUR_AWS_ACCOUNT", account))


@pytest.mark.parametrize("name", sorted(path.name for path in IAM.glob("*.json")))
def test_documents_are_iam_policies(name):
    document = load(name)
    assert document["Version"] == "2012-10-17"
    assert all(statement["Effect"] == "Allow" and statement["Sid"] for statement in document["Statement"])


def test_operator_policy_is_label_studios_plus_update_configuration_and_untag():
    statements = {s["Sid"]: s for s in load("operator-policy.json")["Statement"]}
    lambda_statement = statements["ManageCustomMetricFunctions"]
    assert lambda_statement["Resource"] == f"arn:aws:lambda:*:{ACCOUNT}:function:custom-metric-*"
    documented = {"lambda:CreateFunction", "lambda:UpdateFunctionCode", "lambda:InvokeFunction",
                  "lambda:GetFunction", "lambda:DeleteFunction", "lambda:TagResource", "lambda:ListTags"}
    assert set(lambda_statement["Action"]) == documented | {"lambda:UpdateFunctionConfiguration",
                                                            "lambda:UntagResource"}
    assert statements["PassTheExecutionRole"] == {
        "Sid": "PassTheExecutionRole", "Effect": "Allow", "Action": "iam:PassRole",
        "Resource": f"arn:aws:iam::{ACCOUNT}:role/LSE_CustomMetricsExecuteRole"}


def test_operator_policy_reads_only_the_custom_metric_log_groups_with_logs_insights():
    statement = {s["Sid"]: s for s in load("operator-policy.json")["Statement"]}["CustomMetricLogGroups"]
    assert statement["Resource"] == f"arn:aws:logs:*:{ACCOUNT}:log-group:/aws/lambda/custom-metric-*"
    assert {"logs:StartQuery", "logs:GetQueryResults"} <= set(statement["Action"])


def test_execution_role_may_only_write_logs():
    actions = {action for s in load("execution-role-policy.json")["Statement"]
               for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:PutRetentionPolicy"}


def test_the_operator_policys_actions_allow_the_whole_lifecycle(
        config, good_metric, lambda_client_for_policy, settle, request_for):
    """Every action a create, update, retag and delete needs is in the policy.

    moto evaluates Lambda calls against the resource "*", so the statements' resources are
    widened here; their scoping to custom-metric-* is checked by the test above.
    """
    policy = load("operator-policy.json")
    for statement in policy["Statement"]:
        statement["Resource"] = "*"
    functions = lambda_api.LambdaFunctions(lambda_client_for_policy(policy))
    steps = [
        {"code": good_metric, "tags": {"team": "a", "old": "x"}},
        {"code": good_metric + "\n# v2\n", "tags": {"team": "b"}, "memoryMB": 512},
    ]
    for spec in steps:
        outcome = settle(request_for(spec), functions, config)
        assert outcome.phase is Phase.READY, outcome.message
    events = reconcile.delete(request_for(steps[-1]), functions)
    assert [event.reason for event in events] == ["Deleted"]


def test_the_operator_policys_actions_allow_reading_function_errors(config, lambda_client_for_policy):
    """StartQuery and GetQueryResults, under moto's evaluation (resources widened as above)."""
    policy = load("operator-policy.json")
    for statement in policy["Statement"]:
        statement["Resource"] = "*"
    name = "custom-metric-labeling-fragile"
    admin = boto3.client("logs", region_name=config.region)
    admin.create_log_group(logGroupName=cloudwatch_logs.log_group(name))
    admin.create_log_stream(logGroupName=cloudwatch_logs.log_group(name), logStreamName="s")
    admin.put_log_events(logGroupName=cloudwatch_logs.log_group(name), logStreamName="s", logEvents=[{
        "timestamp": int(time.time() * 1000),
        "message": json.dumps({log_errors.LOG_KEY: {"type": "ValueError", "message": "bad", "line": 3}})}])
    logs = cloudwatch_logs.FunctionLogs(lambda_client_for_policy(policy, service="logs"))
    watch = ErrorWatch(300, spread_first=False)
    assert watch.check("uid-1", FunctionErrorQuery(logs, name, 3600), None).status is None  # started
    check = watch.check("uid-1", FunctionErrorQuery(logs, name, 3600), None)
    assert check.status["count"] == 1, check.status


def test_operator_policy_reads_invocation_metrics_and_nothing_else_of_cloudwatch():
    statement = {s["Sid"]: s for s in load("operator-policy.json")["Statement"]}["FunctionInvocationMetrics"]
    # GetMetricData has no resource-level permissions: "*" is the only resource it takes.
    assert (statement["Action"], statement["Resource"]) == ("cloudwatch:GetMetricData", "*")


def put_invocations(config, name: str, count: float) -> None:
    boto3.client("cloudwatch", region_name=config.region).put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Invocations", "Dimensions": [{"Name": "FunctionName", "Value": name}], "Value": count}])


def as_moto_names_it(policy: dict) -> dict:
    """moto evaluates CloudWatch calls under the endpoint's prefix, monitoring:, where IAM says cloudwatch:."""
    return json.loads(json.dumps(policy).replace('"cloudwatch:', '"monitoring:'))


def test_the_operator_policys_actions_allow_reading_invocations(config, lambda_client_for_policy):
    """GetMetricData under moto's evaluation."""
    put_invocations(config, "custom-metric-labeling-busy", 3.0)
    policy = as_moto_names_it(load("operator-policy.json"))
    metrics = cloudwatch_metrics.FunctionMetrics(lambda_client_for_policy(policy, service="cloudwatch"))
    assert metrics.usage(["custom-metric-labeling-busy"], 3600)["custom-metric-labeling-busy"].invocations == 3


def test_without_the_metrics_statement_access_denied_names_the_action(config, lambda_client_for_policy):
    put_invocations(config, "custom-metric-labeling-busy", 3.0)
    policy = load("operator-policy.json")
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "FunctionInvocationMetrics"]
    denied = cloudwatch_metrics.FunctionMetrics(lambda_client_for_policy(as_moto_names_it(policy),
                                                                         service="cloudwatch"))
    with pytest.raises(PermanentFailure, match=r"AWS denied [a-z]+:GetMetricData"):
        denied.usage(["custom-metric-labeling-busy"], 3600)


def test_the_target_account_role_trusts_only_the_operators_role_with_the_external_id():
    statement = load("target-account-trust-policy.json")["Statement"][0]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:role/LSE_ServiceAccountApp"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "YOUR_EXTERNAL_ID"}}


def test_the_operator_may_assume_only_the_listed_roles():
    statement = load("operator-assume-roles-policy.json")["Statement"][0]
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Resource"] == ["arn:aws:iam::YOUR_TARGET_ACCOUNT:role/AgreementOperatorTarget"]
