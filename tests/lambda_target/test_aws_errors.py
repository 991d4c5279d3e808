"""AWS errors from moto (real IAM enforcement) and Lambda's throttling reply, mapped to conditions."""


import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from agreement_operator import failures
from agreement_operator.lambda_target import aws_errors, lambda_api, reconcile
from agreement_operator.lambda_target.reconcile import Phase


def allow(*actions):
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}


def test_access_denied_is_stalled_naming_the_action(config, good_metric, lambda_client_for_policy, request_for):
    client = lambda_client_for_policy(allow("lambda:GetFunction"))
    outcome = reconcile.reconcile(request_for({"code": good_metric}),
                                  lambda_api.LambdaFunctions(client), config)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "AccessDenied")
    assert "AWS denied lambda:CreateFunction on custom-metric-labeling-sentiment" in outcome.message
    assert "grant lambda:CreateFunction" in outcome.message
    assert outcome.retry_delay is None


def test_missing_untag_permission_is_named(config, good_metric, functions, lambda_client_for_policy, request_for):
    reconcile.reconcile(request_for({"code": good_metric, "tags": {"old": "x"}}), functions, config)
    client = lambda_client_for_policy(allow("lambda:GetFunction", "lambda:TagResource"))
    outcome = reconcile.reconcile(request_for({"code": good_metric}),
                                  lambda_api.LambdaFunctions(client), config)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "AccessDenied")
    assert "lambda:UntagResource" in outcome.message


def test_a_throttled_call_ends_the_pass_instead_of_sleeping_in_botocore(config, good_metric, request_for, throttle):
    """Regression: botocore's adaptive mode retried inside the call (up to 46 s on one GetFunction),
    holding a worker; now a 429 ends the pass at once and kopf comes back after Retry-After."""
    client = lambda_api.make_client(config.region)
    throttled = throttle(client, count=2)
    outcome = reconcile.reconcile(request_for({"code": good_metric}),
                                  lambda_api.LambdaFunctions(client), config)
    assert (outcome.phase, outcome.reason, outcome.retry_delay) == (Phase.RECONCILING, "TooManyRequestsException", 7.0)
    assert throttled.remaining == 1


def test_persistent_throttling_is_reconciling_and_honours_retry_after(config, good_metric, request_for, throttle):
    client = lambda_api.make_client(config.region)
    throttle(client, count=100)
    outcome = reconcile.reconcile(request_for({"code": good_metric}),
                                  lambda_api.LambdaFunctions(client), config)
    assert (outcome.phase, outcome.reason) == (Phase.RECONCILING, "TooManyRequestsException")
    assert outcome.retry_delay == 7.0
    assert "Rate exceeded" in outcome.message


def client_error(code, status, message="boom", **extra):
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status},
                        **extra}, "UpdateFunctionCode")


@pytest.mark.parametrize(("error", "kind", "reason"), [
    (client_error("ResourceConflictException", 409, "update in progress"), failures.RetryableFailure,
     "ResourceConflictException"),
    (client_error("ServiceException", 500), failures.RetryableFailure, "ServiceException"),
    (client_error("SomethingNew", 503), failures.RetryableFailure, "SomethingNew"),
    (client_error("TooManyRequestsException", 429), failures.RetryableFailure, "TooManyRequestsException"),
    (client_error("InvalidParameterValueException", 400, "bad runtime"), failures.PermanentFailure,
     "InvalidParameterValue"),
    (client_error("CodeStorageExceededException", 400), failures.PermanentFailure, "CodeStorageExceededException"),
    (client_error("AccessDeniedException", 403), failures.PermanentFailure, "AccessDenied"),
    (EndpointConnectionError(endpoint_url="https://lambda"), failures.RetryableFailure, "AWSUnreachable"),
    (NoCredentialsError(), failures.PermanentFailure, "NoCredentials"),
    (client_error("UnrecognizedClientException", 403, "The security token is invalid"), failures.PermanentFailure,
     "InvalidCredentials"),
    (client_error("403", 403, "<Code>SignatureDoesNotMatch</Code>"), failures.PermanentFailure, "InvalidCredentials"),
])
def test_error_taxonomy(error, kind, reason):
    failure = aws_errors.from_aws(error, "UpdateFunctionCode", "custom-metric-x")
    assert type(failure) is kind
    assert failure.reason == reason


def test_persistent_throttling_without_retry_after_backs_off_with_jitter(config, good_metric, request_for, throttle):
    delays = set()
    for attempt in range(5):
        client = lambda_api.make_client(config.region)
        throttle(client, count=100, retry_after=None)
        outcome = reconcile.reconcile(request_for({"code": good_metric}, attempt=attempt),
                                      lambda_api.LambdaFunctions(client), config)
        assert (outcome.phase, outcome.reason) == (Phase.RECONCILING, "TooManyRequestsException")
        delays.add(outcome.retry_delay)
    assert len(delays) == 5 and 15.0 not in delays  # not the fixed 15 s of old
    assert all(1.0 <= delay <= 60.0 for delay in delays)


def test_retry_after_from_the_error_body():
    failure = aws_errors.from_aws(client_error("TooManyRequestsException", 429, retryAfterSeconds="12"),
                              "CreateFunction", "f")
    assert failure.delay == 12.0


def test_backoff_is_random_under_a_ceiling_that_doubles():
    for attempt, ceiling in [(0, 5.0), (1, 10.0), (3, 40.0), (9, 60.0)]:
        delays = {failures.backoff(attempt) for _ in range(50)}
        assert all(1.0 <= delay <= ceiling for delay in delays)
        assert len(delays) > 40  # spread, not one fixed delay


def test_a_busy_function_is_looked_at_again_after_growing_delays():
    firsts = [failures.progress_delay(0) for _ in range(20)]
    assert all(0.9 <= delay <= 1.1 for delay in firsts)
    assert 1.35 <= failures.progress_delay(1) <= 1.65
    assert failures.progress_delay(20) <= 11.0


@pytest.mark.parametrize("message, exists", [
    ("Function already exist: custom-metric-a", True),
    ("The operation cannot be performed at this time. An update is in progress for resource: arn:...", False),
])
def test_only_a_create_refused_for_an_existing_name_counts_as_already_existing(message, exists):
    error = ClientError({"Error": {"Code": "ResourceConflictException", "Message": message},
                         "ResponseMetadata": {"HTTPStatusCode": 409}}, "CreateFunction")
    assert aws_errors.already_exists(error) is exists
