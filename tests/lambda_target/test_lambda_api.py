"""The AWS module alone, against moto: not found is None, every call does one thing."""


from agreement_operator.function import packaging
from agreement_operator.lambda_target import lambda_api, reconcile
from agreement_operator.target import Phase

CONFIGURATION = {"Runtime": "python3.12", "Handler": "agreement_handler.handler", "Timeout": 30,
                 "MemorySize": 256, "Description": "d"}


def test_read_of_a_missing_function_is_none(functions, recorder):
    assert functions.read("custom-metric-missing") is None
    assert recorder.calls == ["GetFunction"]


def test_create_then_read(functions, config):
    zip_bytes = packaging.build_zip("def agreement(a, b, per_label=False):\n    return 1\n")
    created = functions.create("custom-metric-a", zip_bytes, {**CONFIGURATION, "Role": config.execution_role_arn},
                               {"k": "v"})
    function = functions.read("custom-metric-a")
    assert created == function
    assert function.settled
    assert function.code_sha256 == packaging.code_sha256(zip_bytes)
    assert function.tags == {"k": "v"}
    assert function.configuration == {**CONFIGURATION, "Role": config.execution_role_arn}


def test_delete_says_whether_there_was_something_to_delete(functions, config, recorder):
    functions.create("custom-metric-b", packaging.build_zip("x = 1"),
                     {**CONFIGURATION, "Role": config.execution_role_arn}, {})
    assert functions.delete("custom-metric-b") is True
    assert functions.delete("custom-metric-b") is False
    assert functions.read("custom-metric-b") is None


def test_tag_and_untag(functions, config):
    functions.create("custom-metric-c", packaging.build_zip("x = 1"),
                     {**CONFIGURATION, "Role": config.execution_role_arn}, {"a": "1", "b": "2"})
    arn = functions.read("custom-metric-c").arn
    functions.tag(arn, {"a": "10", "c": "3"})
    functions.untag(arn, ["b"])
    assert functions.read("custom-metric-c").tags == {"a": "10", "c": "3"}


def test_client_makes_one_attempt_per_call_and_has_a_pool_per_worker(config):
    client = lambda_api.make_client(config.region, pool_connections=16)
    # botocore's own retries would sleep inside the pass, holding a worker (the budget paces instead)
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert client.meta.config.max_pool_connections == 16


def _answering(client, state: dict):
    """The real client, where the function does not exist yet and CreateFunction answers with `state`."""
    from botocore.stub import Stubber

    stubber = Stubber(client)
    stubber.add_client_error("get_function", "ResourceNotFoundException", http_status_code=404)
    stubber.add_response("create_function", {
        "FunctionName": "custom-metric-labeling-sentiment", "CodeSha256": "x",
        "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:custom-metric-labeling-sentiment", **state})
    stubber.activate()
    return lambda_api.LambdaFunctions(client)


def test_a_function_lambda_marks_failed_is_stalled_with_lambdas_reason(client, config, good_metric, request_for):
    functions = _answering(client, {"State": "Failed", "StateReason": "The role cannot be assumed"})
    outcome = reconcile.reconcile(request_for({"code": good_metric}), functions, config)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "FunctionFailed")
    assert "The role cannot be assumed" in outcome.message


def test_a_pending_function_is_reconciling_and_looked_at_again_soon(client, config, good_metric, request_for):
    functions = _answering(client, {"State": "Pending", "LastUpdateStatus": "InProgress"})
    outcome = reconcile.reconcile(request_for({"code": good_metric}), functions, config)
    assert (outcome.phase, outcome.reason) == (Phase.RECONCILING, "FunctionUpdating")
    assert 0 < outcome.retry_delay <= 1.1
    assert outcome.status["state"] == "Pending"
    assert [event.reason for event in outcome.events] == ["Created"]  # not a warning: nothing went wrong
