"""Packaged metrics run by awslambdaric, the runtime interface client of Lambda's Python images,
over the Lambda Runtime API: the artifact starts and answers as Lambda's runtime would."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple
from pathlib import Path

import pytest
import yaml

from agreement_operator.function import packaging, smoke_tests
from agreement_operator.metric import spec as metric_spec
from agreement_operator.sandbox.lambda_runtime import Environment

pytestmark = pytest.mark.slow
LIBRARY = sorted((Path(__file__).parents[2] / "examples" / "metrics").glob("*.yaml"))
PUBLISHED_CHOICES = (Path(__file__).parents[1] / "data" / "published_choices_metric.py").read_text()


class Runtime:
    """The answers of an environment, as the tests compare them: payload and function error."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment

    def invoke(self, event, timeout=None):
        return self.environment.invoke(event).invocation


@contextmanager
def runtime_for(code, tmp_path) -> Iterator[Runtime]:
    environment = Environment(packaging.build_zip(code), tmp_path, "custom-metric-runtime-test")
    try:
        yield Runtime(environment)
    finally:
        environment.stop()


def pair(annotations, first, second, per_label=False):
    return {"annotation_1": annotations[first], "annotation_2": annotations[second], "per_label": per_label}


@pytest.mark.parametrize("manifest", LIBRARY, ids=lambda path: path.stem)
def test_library_metric_passes_its_tests_in_the_runtime(manifest, tmp_path):
    raw = yaml.safe_load(manifest.read_text())["spec"]
    spec, problems = metric_spec.parse(raw)
    assert problems == []
    with runtime_for(spec.code, tmp_path) as api:
        report = smoke_tests.run(raw["tests"], api.invoke)
    assert report.failed == [], smoke_tests.describe_failures(report)
    assert len(report.results) == len(raw["tests"])


def test_published_example_single_pairs_and_a_none_return(annotations, tmp_path):
    with runtime_for(PUBLISHED_CHOICES, tmp_path) as api:
        assert astuple(api.invoke(pair(annotations, "positive_a", "positive_b")))[:2] == ({"score": 0.99}, None)
        assert astuple(api.invoke(pair(annotations, "negative_a", "negative_b")))[:2] == ({"score": 0.7}, None)
        payload, error = astuple(api.invoke(pair(annotations, "neutral_a", "neutral_b")))[:2]
    assert error == "Unhandled"
    assert payload["errorType"] == "MetricError"
    assert payload["errorMessage"].startswith("InvalidReturnValue: returned None")


def test_batch_in_the_runtime(annotations, tmp_path):
    event = {"pairs": [pair(annotations, "positive_a", "positive_b"), pair(annotations, "empty", "positive_b")]}
    with runtime_for(PUBLISHED_CHOICES, tmp_path) as api:
        payload, error = astuple(api.invoke(event))[:2]
    assert error is None
    assert payload == {"scores": [0.99, None], "errors": [
        {"index": 1, "type": "IndexError", "message": "list index out of range", "line": 6}]}


def test_a_module_missing_from_the_runtime_is_reported_with_its_line(annotations, tmp_path):
    code = "import numpy\n\ndef agreement(a, b, per_label=False):\n    return 1.0\n"
    with runtime_for(code, tmp_path) as api:
        payload, error = astuple(api.invoke(pair(annotations, "empty", "empty")))[:2]
    assert error == "Unhandled"
    assert payload["errorMessage"] == "ModuleNotFoundError: No module named 'numpy' (metric.py, line 1)"


def test_an_invocation_past_the_timeout_is_lambdas_timeout_and_the_next_starts_afresh(tmp_path):
    code = "import time\n\ndef agreement(a, b, per_label=False):\n    time.sleep(a['sleep'])\n    return 1.0\n"
    environment = Environment(packaging.build_zip(code), tmp_path, "custom-metric-slow", timeout_seconds=1)
    try:
        slow = environment.invoke({"annotation_1": {"sleep": 5}, "annotation_2": {}})
        quick = environment.invoke({"annotation_1": {"sleep": 0}, "annotation_2": {}})
    finally:
        environment.stop()
    assert slow.invocation.function_error == "Unhandled"
    assert slow.invocation.payload["errorType"] == "Sandbox.Timedout"
    assert slow.invocation.payload["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert any(line.endswith("Task timed out after 1.00 seconds") for line in slow.log_lines)
    assert quick.invocation.payload == {"score": 1.0}
    assert "Init Duration" in quick.log_lines[-1]  # a new process: the old one was stopped


def test_the_log_is_what_lambda_writes(tmp_path):
    code = "def agreement(a, b, per_label=False):\n    print('comparing')\n    return a['x']\n"
    environment = Environment(packaging.build_zip(code), tmp_path, "custom-metric-logs", memory_mb=128)
    try:
        first = environment.invoke({"pairs": [{"annotation_1": {"x": 0.5}, "annotation_2": {}},
                                              {"annotation_1": {}, "annotation_2": {}}]})
        second = environment.invoke({"annotation_1": {}, "annotation_2": {}})
    finally:
        environment.stop()
    request = first.request_id
    assert first.log_lines[0] == f"START RequestId: {request} Version: $LATEST"
    assert first.log_lines[1:3] == ["comparing", "comparing"]
    assert first.log_lines[3] == ('{"agreement_error": {"index": 1, "type": "KeyError", "message": "\'x\'", '
                                  '"line": 3}}')
    assert first.log_lines[-2] == f"END RequestId: {request}"
    report = first.log_lines[-1]
    assert report.startswith(f"REPORT RequestId: {request}\tDuration: ") and "\tMemory Size: 128 MB\t" in report
    assert "Init Duration" in report and "Init Duration" not in second.log_lines[-1]  # warm the second time
    # One pair: the wrapper's line, then the runtime's own record of the failed invocation (one event).
    assert second.log_lines[2].startswith('{"agreement_error": {"type": "KeyError"')
    assert second.log_lines[3].startswith("[ERROR] MetricError: KeyError: 'x' (metric.py, line 3)\nTraceback")
