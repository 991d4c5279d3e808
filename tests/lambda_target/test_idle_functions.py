"""Lambda as it really behaves, answered by botocore's Stubber: idle (Inactive) functions, updates
that restore them, restores that fail, and the invoke answers of a function that cannot run yet."""

import datetime
import io
import json

import pytest
from botocore.stub import Stubber

from agreement_operator.function import smoke_tests
from agreement_operator.lambda_target import lambda_api, reconcile, smoke_testing
from agreement_operator.lambda_target.desired import desired_function
from agreement_operator.metric import spec as metric_spec
from agreement_operator.target import Phase

ARN = "arn:aws:lambda:us-east-1:123456789012:function:custom-metric-labeling-sentiment"
TEST = {"name": "same", "annotation1": {"result": []}, "annotation2": {"result": []}, "expect": 1.0}


@pytest.fixture
def client(config):
    return lambda_api.make_client(config.region)


@pytest.fixture
def stubber(client):
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def deployed(spec: dict, owner, config, **state) -> dict:
    """GetFunction's answer for the function exactly as the spec asks, in the given state."""
    desired = desired_function(metric_spec.parse(spec)[0], owner, config.execution_role_arn)
    configuration = {"FunctionName": desired.name, "FunctionArn": ARN, "CodeSha256": desired.code_sha256,
                     **desired.configuration, "State": "Active", "LastUpdateStatus": "Successful", **state}
    return {"Configuration": configuration, "Tags": desired.tags}


IDLE = {"State": "Inactive", "StateReasonCode": "Idle", "StateReason": "The function is inactive."}
RESTORING = {"State": "Pending", "StateReasonCode": "Restoring", "StateReason": "The function is being restored."}


def test_an_idle_function_as_specified_is_ready_and_nothing_is_changed(stubber, client, config, owner, good_metric,
                                                                         request_for):
    spec = {"code": good_metric}
    stubber.add_response("get_function", deployed(spec, owner, config, **IDLE))
    outcome = reconcile.reconcile(request_for(spec), lambda_api.LambdaFunctions(client), config)
    assert (outcome.phase, outcome.reason, outcome.retry_delay) == (Phase.READY, "Deployed", None)
    assert outcome.status["state"] == "Inactive"
    assert "is Inactive" in outcome.message and "Lambda restores it on its next invoke" in outcome.message
    assert outcome.events == []


def test_a_code_change_reaches_an_idle_function_at_once_and_is_followed_to_active(
        stubber, client, config, owner, good_metric, request_for):
    old, new = {"code": good_metric}, {"code": good_metric + "# v2\n"}
    functions = lambda_api.LambdaFunctions(client)
    restoring = deployed(new, owner, config, State="Pending", StateReasonCode="Restoring",
                         LastUpdateStatus="InProgress")
    stubber.add_response("get_function", deployed(old, owner, config, **IDLE))
    stubber.add_response("update_function_code", restoring["Configuration"])
    first = reconcile.reconcile(request_for(new), functions, config)
    assert (first.phase, first.reason) == (Phase.RECONCILING, "FunctionUpdating")
    assert [event.reason for event in first.events] == ["CodeUpdated"]

    stubber.add_response("get_function", restoring)
    second = reconcile.reconcile(request_for(new, attempt=1), functions, config)
    assert (second.phase, second.reason, second.status["state"]) == (Phase.RECONCILING, "FunctionUpdating", "Pending")

    stubber.add_response("get_function", deployed(new, owner, config))
    third = reconcile.reconcile(request_for(new, attempt=2), functions, config)
    assert (third.phase, third.status["state"]) == (Phase.READY, "Active")


def test_an_inactive_function_lambda_could_not_restore_is_stalled_with_lambdas_reason(
        stubber, client, config, owner, good_metric, request_for):
    spec = {"code": good_metric}
    stubber.add_response("get_function", deployed(
        spec, owner, config, State="Inactive", StateReasonCode="InsufficientRolePermissions",
        StateReason="The function's execution role cannot be assumed by Lambda."))
    outcome = reconcile.reconcile(request_for(spec), lambda_api.LambdaFunctions(client), config)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "FunctionFailed")
    assert "execution role cannot be assumed" in outcome.message


def invoke_error(stubber, code: str, status: int, message: str) -> None:
    stubber.add_client_error("invoke", code, message, http_status_code=status)


def answer_scores(stubber, scores: list) -> None:
    payload = io.BytesIO(json.dumps({"scores": scores, "errors": []}).encode())
    from botocore.response import StreamingBody
    stubber.add_response("invoke", {"StatusCode": 200, "Payload": StreamingBody(payload, len(payload.getvalue()))})


@pytest.mark.parametrize(("code", "status"), [
    ("ResourceNotReadyException", 502),        # the invoke that meets an Inactive function (and restores it)
    ("ResourceConflictException", 409),        # while Lambda restores it (Pending)
    ("CodeArtifactUserPendingException", 409),  # for a minute or two after a deploy
    ("TooManyRequestsException", 429),          # over the invoke quota
])
def test_smoke_tests_wait_for_a_function_lambda_cannot_run_yet(stubber, client, config, owner, good_metric,
                                                               request_for, code, status):
    spec = {"code": good_metric, "tests": [TEST]}
    stubber.add_response("get_function", deployed(spec, owner, config, **IDLE))
    invoke_error(stubber, code, status, "The function is not ready")
    outcome = reconcile.reconcile(request_for(spec), lambda_api.LambdaFunctions(client), config)
    assert (outcome.phase, outcome.reason) == (Phase.RECONCILING, "SmokeTestsWaiting")
    assert 0 < outcome.retry_delay <= 60
    waiting = outcome.status["tests"]
    assert (waiting["summary"], waiting["passed"], waiting["failed"]) == ("waiting", 0, 0)
    assert f"Lambda answered {code}" in waiting["message"]
    assert [(event.reason, event.warning) for event in outcome.events] == [("SmokeTestsWaiting", False)]


def test_the_tests_run_once_lambda_has_restored_the_function(stubber, client, config, owner, good_metric, request_for):
    spec = {"code": good_metric, "tests": [TEST]}
    functions = lambda_api.LambdaFunctions(client)
    stubber.add_response("get_function", deployed(spec, owner, config, **IDLE))
    invoke_error(stubber, "ResourceNotReadyException", 502, "The function is Inactive")
    first = reconcile.reconcile(request_for(spec), functions, config)

    stubber.add_response("get_function", deployed(spec, owner, config, **RESTORING))
    invoke_error(stubber, "ResourceConflictException", 409, "The function is currently in the following state: Pending")
    second = reconcile.reconcile(request_for(spec, status=first.status, attempt=1), functions, config)
    assert second.reason == "SmokeTestsWaiting" and second.events == []  # said once, when the wait began
    assert second.status["tests"]["waitingSince"] == first.status["tests"]["waitingSince"]
    assert second.status["state"] == "Pending"

    stubber.add_response("get_function", deployed(spec, owner, config))
    answer_scores(stubber, [1.0])
    ready = reconcile.reconcile(request_for(spec, status=second.status, attempt=2), functions, config)
    assert (ready.phase, ready.status["tests"]["summary"]) == (Phase.READY, "1/1")
    assert [event.reason for event in ready.events] == ["SmokeTestsPassed"]


def test_a_function_lambda_restores_after_someone_elses_invoke_stays_ready(
        stubber, client, config, owner, good_metric, request_for):
    spec = {"code": good_metric}
    stubber.add_response("get_function", deployed(spec, owner, config, **RESTORING))
    outcome = reconcile.reconcile(request_for(spec), lambda_api.LambdaFunctions(client), config)
    assert (outcome.phase, outcome.status["state"]) == (Phase.READY, "Pending")
    assert "Lambda is restoring it after an invoke" in outcome.message


def test_a_change_waits_while_lambda_restores_the_function(stubber, client, config, owner, good_metric, request_for):
    stubber.add_response("get_function", deployed({"code": good_metric}, owner, config, **RESTORING))
    outcome = reconcile.reconcile(request_for({"code": good_metric + "# v2\n"}), lambda_api.LambdaFunctions(client),
                                  config)
    assert (outcome.phase, outcome.reason) == (Phase.RECONCILING, "FunctionUpdating")  # no update while Pending
    assert outcome.events == []


def test_a_wait_past_the_limit_is_stalled_with_lambdas_last_answer(stubber, client, config, owner, good_metric,
                                                                   request_for):
    spec = {"code": good_metric, "tests": [TEST]}
    desired = desired_function(metric_spec.parse(spec)[0], owner, config.execution_role_arn)
    started = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=smoke_testing.PATIENCE_SECONDS + 60)
    earlier = {"tests": {"summary": "waiting", "waitingFor": smoke_tests.digest(desired.code_sha256, [TEST]),
                         "waitingSince": started.strftime("%Y-%m-%dT%H:%M:%SZ")}}
    stubber.add_response("get_function", deployed(spec, owner, config))
    invoke_error(stubber, "ResourceConflictException", 409, "The function is currently in the following state: Pending")
    outcome = reconcile.reconcile(request_for(spec, status=earlier), lambda_api.LambdaFunctions(client), config)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "SmokeTestsNotRun")
    assert "for 11 minutes" in outcome.message and "ResourceConflictException" in outcome.message
    assert outcome.status["tests"]["summary"] == "waiting" and outcome.events[-1].warning


def test_other_invoke_errors_are_not_a_wait(stubber, client, config, owner, good_metric, request_for):
    spec = {"code": good_metric, "tests": [TEST]}
    stubber.add_response("get_function", deployed(spec, owner, config))
    invoke_error(stubber, "ServiceException", 500, "Lambda had an internal error")
    outcome = reconcile.reconcile(request_for(spec), lambda_api.LambdaFunctions(client), config)
    assert (outcome.phase, outcome.reason) == (Phase.RECONCILING, "ServiceException")
    assert outcome.events[-1].warning
