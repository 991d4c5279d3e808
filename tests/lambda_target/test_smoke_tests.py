"""Smoke tests: comparing scores, and the operator invoking the deployed function (moto)."""

import io
import json

import pytest
from moto.moto_api._internal.models import moto_api_backend

from agreement_operator.function import local_invoke, packaging, smoke_tests
from agreement_operator.lambda_target import reconcile
from agreement_operator.target import Phase

ACCOUNT = "123456789012"


@pytest.mark.parametrize(("expected", "actual", "tolerance", "same"), [
    (0.5, 0.5, 1e-6, True), (0.5, 0.5000001, 1e-6, True), (0.5, 0.51, 1e-6, False), (0.5, 0.51, 0.02, True),
    ({"A": 1, "B": 0}, {"A": 1.0, "B": 0.0}, 1e-6, True), ({"A": 1}, {"A": 1, "B": 0}, 1e-6, False),
    (1, None, 1e-6, False), (1, True, 1e-6, False), ({"A": 1}, 1.0, 1e-6, False),
])
def test_matches(expected, actual, tolerance, same):
    assert smoke_tests.matches(expected, actual, tolerance) is same


@pytest.fixture
def spec(good_metric, annotations):
    return {"code": good_metric, "tests": [
        {"name": "same choice", "annotation1": annotations["positive_a"], "annotation2": annotations["positive_b"],
         "expect": 1.0},
        {"name": "different choice", "annotation1": annotations["positive_a"],
         "annotation2": annotations["negative_b"], "expect": 0.0},
        {"name": "per label", "annotation1": annotations["positive_a"], "annotation2": annotations["positive_b"],
         "perLabel": True, "expect": {"Positive": 1.0}},
    ]}


def queue_real_answers(code, tests, region):
    """What the packaged handler really answers for the operator's batch events, queued in moto."""
    zip_bytes = packaging.build_zip(code)
    for per_label in (False, True):
        pairs = [{"annotation_1": t["annotation1"], "annotation_2": t["annotation2"]}
                 for t in tests if bool(t.get("perLabel", False)) is per_label]
        if pairs:
            answer = local_invoke.invoke(zip_bytes, {"per_label": per_label, "pairs": pairs})
            moto_api_backend.set_lambda_simple_result(json.dumps(answer.payload), ACCOUNT, region)


def test_passing_smoke_tests_make_ready_with_results(spec, functions, config, recorder, request_for):
    queue_real_answers(spec["code"], spec["tests"], config.region)
    outcome = reconcile.reconcile(request_for(spec), functions, config)
    assert outcome.phase is Phase.READY, outcome.message
    assert "3 smoke tests passed" in outcome.message
    assert recorder.calls.count("Invoke") == 2  # one batch per per_label value
    tests = outcome.status["tests"]
    assert (tests["total"], tests["passed"], tests["failed"], tests["summary"]) == (3, 3, 0, "3/3")
    assert [r["name"] for r in tests["results"]] == ["same choice", "different choice", "per label"]
    assert tests["results"][2] == {"name": "per label", "passed": True, "expected": {"Positive": 1.0},
                                   "actual": {"Positive": 1.0}}
    assert "SmokeTestsPassed" in [event.reason for event in outcome.events]

    recorder.clear()
    again = reconcile.reconcile(request_for(spec, status={"tests": tests}), functions, config)
    assert again.phase is Phase.READY and again.status["tests"] == tests
    assert "Invoke" not in recorder.calls  # same code, same tests: not run again


def test_a_wrong_expectation_is_stalled_naming_the_test(spec, functions, config, request_for):
    spec["tests"][1]["expect"] = 0.5
    queue_real_answers(spec["code"], spec["tests"], config.region)
    outcome = reconcile.reconcile(request_for(spec), functions, config)
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "SmokeTestsFailed")
    assert outcome.message == "1 of 3 smoke tests failed: 'different choice': expected 0.5, got 0.0"
    assert "functionName" in outcome.status and outcome.status["tests"]["summary"] == "2/3"
    assert outcome.events[-1].warning

    restarted = reconcile.reconcile(request_for(spec, status={"tests": outcome.status["tests"]}), functions, config)
    assert (restarted.phase, restarted.message) == (Phase.STALLED, outcome.message)


def test_errors_raised_by_the_metric_are_reported_with_their_line(functions, config, annotations, request_for):
    code = "def agreement(a, b, per_label=False):\n    return a['result'][0]['value']['choices'][5]\n"
    tests = [{"name": "index", "annotation1": annotations["positive_a"], "annotation2": annotations["positive_b"],
              "expect": 1.0}]
    queue_real_answers(code, tests, config.region)
    outcome = reconcile.reconcile(request_for({"code": code, "tests": tests}), functions, config)
    assert outcome.reason == "SmokeTestsFailed"
    assert outcome.status["tests"]["results"][0]["error"] == "IndexError: list index out of range (metric.py, line 2)"


def test_function_errors_are_reported_as_such(spec, functions, config, client, request_for):
    def crash(request, **_):
        from botocore.awsrequest import AWSResponse

        body = io.BytesIO(json.dumps({"errorMessage": "Task timed out after 30.00 seconds"}).encode())
        body.stream = lambda **_: iter([body.getvalue()])
        return AWSResponse(request.url, 200, {"X-Amz-Function-Error": "Unhandled"}, body)

    client.meta.events.register_first("before-send.lambda.Invoke", crash)
    outcome = reconcile.reconcile(request_for(spec), functions, config)
    assert outcome.reason == "SmokeTestsFailed"
    timed_out = "FunctionError (Unhandled): Task timed out after 30.00 seconds"
    assert outcome.status["tests"]["results"][0]["error"] == timed_out


def test_throttled_invocations_make_the_tests_wait_not_fail(spec, config, client, request_for):
    from agreement_operator.lambda_target import lambda_api

    throttled = lambda_api.make_client(config.region)

    def throttle(request, **_):
        from botocore.awsrequest import AWSResponse

        class Raw:
            def stream(self, **_):
                yield b'{"message": "Rate exceeded"}'
        return AWSResponse(request.url, 429, {"x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "4"},
                           Raw())

    throttled.meta.events.register_first("before-send.lambda.Invoke", throttle)
    outcome = reconcile.reconcile(request_for(spec), lambda_api.LambdaFunctions(throttled), config)
    assert (outcome.phase, outcome.reason, outcome.retry_delay) == (Phase.RECONCILING, "SmokeTestsWaiting", 4.0)
    waiting = outcome.status["tests"]
    assert (waiting["summary"], waiting["total"], waiting["failed"]) == ("waiting", len(spec["tests"]), 0)
    assert "Lambda answered TooManyRequestsException: lambda:InvokeFunction on " in waiting["message"]
    assert [(event.reason, event.warning) for event in outcome.events] == [("Created", False),
                                                                          ("SmokeTestsWaiting", False)]
