"""The fault kit of the sandbox's AWS front door: an injected answer, in each service's own protocol, read by
botocore (through the operator's own clients) as AWS's answer, for as long as it lasts."""

import time
from contextlib import ExitStack

import pytest

from agreement_operator import failures
from agreement_operator.lambda_target import cloudwatch_logs, cloudwatch_metrics, lambda_api
from agreement_operator.sandbox import aws_emulator
from agreement_operator.sandbox.aws_faults import _cbor_map

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    with ExitStack() as stack:
        yield aws_emulator.start(tmp_path_factory.mktemp("aws"), stack)


@pytest.fixture
def proxy(aws):
    front = aws.front
    front.faults.clear()
    yield front
    front.faults.clear()


def test_a_lambda_fault_is_read_as_lambdas_answer_and_ends(aws, proxy, monkeypatch):
    for name, value in aws.operator_environment().items():
        monkeypatch.setenv(name, value)
    functions = lambda_api.LambdaFunctions(lambda_api.make_client(aws.region, aws.endpoint_url))
    proxy.faults.inject("GetFunction", 403, "AccessDeniedException",
                        "User: arn:aws:iam::123456789012:user/x is not authorized to perform: lambda:GetFunction", 1.0)
    with pytest.raises(failures.PermanentFailure) as denied:
        functions.read("custom-metric-nobody")
    assert denied.value.reason == "AccessDenied" and "lambda:GetFunction" in denied.value.message
    time.sleep(1.1)
    assert functions.read("custom-metric-nobody") is None  # the fault is over: Lambda's own answer
    assert proxy.faults.answered["GetFunction"] == 1


def test_logs_and_cloudwatch_faults_are_read_in_their_protocols(aws, proxy, monkeypatch):
    for name, value in aws.operator_environment().items():
        monkeypatch.setenv(name, value)
    proxy.faults.inject("StartQuery", 503, "ServiceUnavailableException", "Service Unavailable", 5)
    proxy.faults.inject("GetMetricData", 503, "ServiceUnavailable", "Service Unavailable", 5)
    logs = cloudwatch_logs.FunctionLogs(cloudwatch_logs.make_client(aws.region, aws.endpoint_url))
    with pytest.raises(failures.RetryableFailure, match="Service Unavailable"):
        logs.start_error_query("custom-metric-x", time.time() - 60, time.time())
    metrics = cloudwatch_metrics.FunctionMetrics(cloudwatch_metrics.make_client(aws.region, aws.endpoint_url))
    with pytest.raises(failures.RetryableFailure, match="Service Unavailable"):
        metrics.usage(["custom-metric-x"], 3600)
    assert (proxy.faults.answered["StartQuery"], proxy.faults.answered["GetMetricData"]) == (1, 1)
    assert proxy.faults.seen["GetMetricData"] == 1


def test_the_cbor_of_an_error_is_rfc_8949():
    assert _cbor_map({"a": "b"}) == bytes([0xA1, 0x61, ord("a"), 0x61, ord("b")])
    long = "m" * 30
    assert _cbor_map({"x": long})[3:5] == bytes([0x78, 30])
