"""Packaged metrics run by awslambdaric, the runtime interface client of Lambda's Python images,
over the Lambda Runtime API: the artifact starts and answers as Lambda's runtime would."""

from contextlib import ExitStack
from dataclasses import astuple
from pathlib import Path

import pytest
import yaml

from agreement_operator import metric_spec, packaging, smoke_tests
from agreement_operator.invocation import Invocation
from lambda_runtime import start as start_runtime

pytestmark = pytest.mark.slow
LIBRARY = sorted((Path(__file__).parent.parent / "examples" / "metrics").glob("*.yaml"))
PUBLISHED_CHOICES = (Path(__file__).parent / "data" / "published_choices_metric.py").read_text()


def runtime_for(code, tmp_path, stack):
    return start_runtime(packaging.build_zip(code), tmp_path, stack)


def pair(annotations, first, second, per_label=False):
    return {"annotation_1": annotations[first], "annotation_2": annotations[second], "per_label": per_label}


@pytest.mark.parametrize("manifest", LIBRARY, ids=lambda path: path.stem)
def test_library_metric_passes_its_tests_in_the_runtime(manifest, tmp_path):
    raw = yaml.safe_load(manifest.read_text())["spec"]
    spec, problems = metric_spec.parse(raw)
    assert problems == []
    with ExitStack() as stack:
        api = runtime_for(spec.code, tmp_path, stack)
        report = smoke_tests.run(raw["tests"], lambda event: api.invoke(event, timeout=30))
    assert report.failed == [], smoke_tests.describe_failures(report)
    assert len(report.results) == len(raw["tests"])


def test_published_example_single_pairs_and_a_none_return(annotations, tmp_path):
    with ExitStack() as stack:
        api = runtime_for(PUBLISHED_CHOICES, tmp_path, stack)
        assert api.invoke(pair(annotations, "positive_a", "positive_b"), 30) == Invocation({"score": 0.99})
        assert api.invoke(pair(annotations, "negative_a", "negative_b"), 30) == Invocation({"score": 0.7})
        payload, error = astuple(api.invoke(pair(annotations, "neutral_a", "neutral_b"), 30))[:2]
    assert error == "Unhandled"
    assert payload["errorType"] == "MetricError"
    assert payload["errorMessage"].startswith("InvalidReturnValue: returned None")


def test_batch_in_the_runtime(annotations, tmp_path):
    event = {"pairs": [pair(annotations, "positive_a", "positive_b"), pair(annotations, "empty", "positive_b")]}
    with ExitStack() as stack:
        payload, error = astuple(runtime_for(PUBLISHED_CHOICES, tmp_path, stack).invoke(event, 30))[:2]
    assert error is None
    assert payload == {"scores": [0.99, None], "errors": [
        {"index": 1, "type": "IndexError", "message": "list index out of range", "line": 6}]}


def test_a_module_missing_from_the_runtime_is_reported_with_its_line(annotations, tmp_path):
    code = "import numpy\n\ndef agreement(a, b, per_label=False):\n    return 1.0\n"
    with ExitStack() as stack:
        payload, error = astuple(runtime_for(code, tmp_path, stack).invoke(pair(annotations, "empty", "empty"), 30))[:2]
    assert error == "Unhandled"
    assert payload["errorMessage"] == "ModuleNotFoundError: No module named 'numpy' (metric.py, line 1)"
