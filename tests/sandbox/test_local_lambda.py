"""The sandbox's Invoke: moto's server behind the Lambda proxy, which runs each function's real zip in
Lambda's Python runtime. Its answers must be those `agreement-operator test` gets for the same
package (the handler in a subprocess), and it must write what Lambda writes to CloudWatch Logs."""

import base64
import json
import time
from contextlib import ExitStack
from pathlib import Path

import botocore.config
import pytest
import yaml

from agreement_operator.function import local_invoke, packaging, smoke_tests
from agreement_operator.metric import spec as metric_spec
from agreement_operator.sandbox import aws_emulator

pytestmark = pytest.mark.slow
LIBRARY = sorted((Path(__file__).parents[2] / "examples" / "metrics").glob("*.yaml"))
FRAGILE = ("def agreement(a, b, per_label=False):\n"
           "    return float(a['result'][0]['value'] == b['result'][0]['value'])\n")


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    with ExitStack() as stack:
        yield aws_emulator.start(tmp_path_factory.mktemp("aws"), stack)


def deploy(aws, name: str, code: str, **configuration) -> bytes:
    zip_bytes = packaging.build_zip(code)
    aws.client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=aws.role_arn, Handler="agreement_handler.handler",
        Code={"ZipFile": zip_bytes}, **{"Timeout": 30, "MemorySize": 256, **configuration})
    return zip_bytes


def invoke(aws, name: str, event: object, **options) -> tuple[object, str | None, dict]:
    answer = aws.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event), **options)
    return json.loads(answer["Payload"].read()), answer.get("FunctionError"), answer


def log_messages(aws, name: str) -> list[str]:
    logs = aws.client("logs")
    group = f"/aws/lambda/{name}"
    return [event["message"] for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]
            for event in logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]]


def comparable(payload: object) -> object:
    """An error payload without what differs by nature: the request id and the stack's file paths."""
    return {key: value for key, value in payload.items() if key not in ("requestId", "stackTrace")} \
        if isinstance(payload, dict) else payload


@pytest.mark.parametrize("manifest", LIBRARY, ids=lambda path: path.stem)
def test_library_metrics_answer_as_the_local_test_command_does(aws, manifest):
    raw = yaml.safe_load(manifest.read_text())["spec"]
    spec, _ = metric_spec.parse(raw)
    name = f"custom-metric-library-{manifest.stem}"
    zip_bytes = deploy(aws, name, spec.code)
    events: list[dict] = []  # the batch events the smoke tests send, and a pair no metric can read
    smoke_tests.run(raw["tests"], lambda event: events.append(event) or local_invoke.invoke(zip_bytes, event))
    broken = {"result": [{"type": "unexpected", "value": None}]}
    events.append({"annotation_1": broken, "annotation_2": {"result": None}, "per_label": False})
    for event in events:
        payload, function_error, _ = invoke(aws, name, event)
        local = local_invoke.invoke(zip_bytes, event)
        assert (comparable(payload), function_error) == (comparable(local.payload), local.function_error), event


def test_errors_are_answered_and_logged_as_lambda_does(aws):
    deploy(aws, "custom-metric-fragile", FRAGILE)
    good = {"result": [{"value": {"choices": ["Positive"]}}]}
    batch = {"pairs": [{"annotation_1": good, "annotation_2": good}, {"annotation_1": good, "annotation_2": {}}]}
    payload, function_error, _ = invoke(aws, "custom-metric-fragile", batch)
    assert function_error is None
    assert payload["scores"] == [1.0, None]
    assert payload["errors"] == [{"index": 1, "type": "KeyError", "message": "'result'", "line": 2}]
    payload, function_error, answer = invoke(aws, "custom-metric-fragile", {"annotation_1": good, "annotation_2": {}},
                                             LogType="Tail")
    assert function_error == "Unhandled"
    assert payload["errorMessage"] == "KeyError: 'result' (metric.py, line 2)"
    tail = base64.b64decode(answer["LogResult"]).decode()
    assert '{"agreement_error": {"type": "KeyError", "message": "\'result\'", "line": 2}}' in tail
    messages = log_messages(aws, "custom-metric-fragile")
    assert [m.split(" ")[0] for m in messages if m.split(" ")[0] in ("START", "END", "REPORT")] == \
        ["START", "END", "REPORT"] * 2
    assert '{"agreement_error": {"index": 1, "type": "KeyError", "message": "\'result\'", "line": 2}}' in messages
    assert any(m.startswith("[ERROR] MetricError: KeyError: 'result'") for m in messages)


def test_a_code_update_is_what_the_next_invocation_runs(aws):
    deploy(aws, "custom-metric-updated", "def agreement(a, b, per_label=False):\n    return 0.25\n")
    assert invoke(aws, "custom-metric-updated", {"annotation_1": {}, "annotation_2": {}})[0] == {"score": 0.25}
    aws.client("lambda").update_function_code(
        FunctionName="custom-metric-updated",
        ZipFile=packaging.build_zip("def agreement(a, b, per_label=False):\n    return 0.75\n"))
    assert invoke(aws, "custom-metric-updated", {"annotation_1": {}, "annotation_2": {}})[0] == {"score": 0.75}


def test_timeouts_event_invocations_unknown_functions_and_throttling(aws):
    deploy(aws, "custom-metric-sleepy", "import time\n\ndef agreement(a, b, per_label=False):\n    time.sleep(3)\n"
                                        "    return 1.0\n", Timeout=1)
    payload, function_error, _ = invoke(aws, "custom-metric-sleepy", {"annotation_1": {}, "annotation_2": {}})
    assert (function_error, payload["errorType"]) == ("Unhandled", "Sandbox.Timedout")
    assert any(m.endswith("Task timed out after 1.00 seconds") for m in log_messages(aws, "custom-metric-sleepy"))

    deploy(aws, "custom-metric-async", "def agreement(a, b, per_label=False):\n    print('async run')\n"
                                       "    return 1.0\n")
    answer = aws.client("lambda").invoke(FunctionName="custom-metric-async", InvocationType="Event",
                                         Payload=json.dumps({"annotation_1": {}, "annotation_2": {}}))
    assert answer["StatusCode"] == 202
    deadline = time.monotonic() + 20
    while "async run" not in log_messages_or_none(aws, "custom-metric-async"):
        assert time.monotonic() < deadline, "the Event invocation never ran"
        time.sleep(0.2)
    lam = aws.client("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="custom-metric-nowhere", Payload=b"{}")

    once = aws_emulator.boto3.client(
        "lambda", region_name=aws.region, endpoint_url=aws.endpoint_url,
        config=botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        **{key.lower(): value for key, value in aws_emulator.CREDENTIALS.items()})
    aws.front.throttle_invocations(1)
    with pytest.raises(once.exceptions.TooManyRequestsException):
        once.invoke(FunctionName="custom-metric-async", Payload=b'{"annotation_1": {}, "annotation_2": {}}')
    assert once.invoke(FunctionName="custom-metric-async",
                       Payload=b'{"annotation_1": {}, "annotation_2": {}}')["StatusCode"] == 200


def log_messages_or_none(aws, name: str) -> list[str]:
    try:
        return log_messages(aws, name)
    except aws.client("logs").exceptions.ResourceNotFoundException:
        return []


def test_each_throttled_call_is_counted_once_and_not_retried_inside_the_call(aws, monkeypatch):
    from botocore.exceptions import ClientError

    from agreement_operator.controller import prometheus
    from agreement_operator.lambda_target import lambda_api

    for key, value in aws_emulator.CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    deploy(aws, "custom-metric-counted", "def agreement(a, b, per_label=False):\n    return 1.0\n")
    client = prometheus.instrument(lambda_api.make_client(aws.region, aws.endpoint_url))
    labels = {"service": "lambda", "operation": "Invoke", "connection": "default"}
    throttled = prometheus.REGISTRY.get_sample_value("agreement_operator_aws_throttled_requests_total", labels) or 0
    refused = prometheus.REGISTRY.get_sample_value(
        "agreement_operator_aws_requests_total", {**labels, "error_code": "TooManyRequestsException"}) or 0
    aws.front.throttle_invocations(2)
    with pytest.raises(ClientError, match="TooManyRequestsException"):
        client.invoke(FunctionName="custom-metric-counted", Payload=b'{"annotation_1": {}, "annotation_2": {}}')
    assert aws.front.invocations_to_throttle == 1  # one attempt: the second 429 is still waiting
    assert prometheus.REGISTRY.get_sample_value("agreement_operator_aws_throttled_requests_total",
                                                labels) == throttled + 1
    assert prometheus.REGISTRY.get_sample_value(
        "agreement_operator_aws_requests_total", {**labels, "error_code": "TooManyRequestsException"}) == refused + 1
