"""The AWS module alone, against moto: not found is None, every call does one thing."""

import pytest

from agreement_operator import errors, lambda_api, packaging

CONFIGURATION = {"Runtime": "python3.12", "Handler": "agreement_handler.handler", "Timeout": 30,
                 "MemorySize": 256, "Description": "d"}


def test_read_of_a_missing_function_is_none(functions, recorder):
    assert functions.read("custom-metric-missing") is None
    assert recorder.calls == ["GetFunction"]


def test_create_then_read(functions, config):
    zip_bytes = packaging.build_zip("def agreement(a, b, per_label=False):\n    return 1\n")
    functions.create("custom-metric-a", zip_bytes, {**CONFIGURATION, "Role": config.execution_role_arn}, {"k": "v"})
    function = functions.wait_until_ready("custom-metric-a")
    assert function.ready
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


def test_client_is_configured_for_standard_retries(client):
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}


def _stubbed(client, states: list[dict]):
    """The real client, with GetFunction answering `states` in order (Lambda's Failed/Pending replies)."""
    from botocore.stub import Stubber

    stubber = Stubber(client)
    for configuration in states:
        stubber.add_response("get_function", {"Configuration": {
            "FunctionName": "custom-metric-w", "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:w",
            **configuration}})
    stubber.activate()
    return lambda_api.LambdaFunctions(client, wait={"Delay": 0, "MaxAttempts": 2})


def test_a_function_lambda_marks_failed_is_a_permanent_failure(client):
    functions = _stubbed(client, [{"State": "Failed", "StateReason": "The role cannot be assumed"}])
    with pytest.raises(errors.PermanentFailure) as raised:
        functions.wait_until_ready("custom-metric-w")
    assert raised.value.reason == "FunctionFailed"
    assert "The role cannot be assumed" in raised.value.message


def test_a_function_still_pending_when_the_waiter_gives_up_is_retried(client):
    functions = _stubbed(client, [{"State": "Pending"}, {"State": "Pending"}])
    with pytest.raises(errors.RetryableFailure) as raised:
        functions.wait_until_ready("custom-metric-w")
    assert raised.value.reason == "FunctionPending"
