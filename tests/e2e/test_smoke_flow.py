"""The smoke-test flow end to end: the operator invokes the deployed function with spec.tests
(run for real by the sandbox, in Lambda's Python runtime), writes status.tests, and holds Ready
until they pass."""

import json
import time
from pathlib import Path

ANNOTATIONS = json.loads((Path(__file__).parents[1] / "data" / "annotations.json").read_text())
CODE = '''
def agreement(annotation_1, annotation_2, per_label=False):
    def choices(annotation):
        return {c for item in annotation["result"] if item["type"] == "choices" for c in item["value"]["choices"]}
    return float(choices(annotation_1) == choices(annotation_2))
'''


def spec_tests(expect_different=0.0):
    return [
        {"name": "agree", "annotation1": ANNOTATIONS["positive_a"], "annotation2": ANNOTATIONS["positive_b"],
         "expect": 1.0},
        {"name": "disagree", "annotation1": ANNOTATIONS["positive_a"], "annotation2": ANNOTATIONS["negative_b"],
         "expect": expect_different},
    ]


def test_smoke_tests_hold_ready_until_they_pass(cluster):
    cluster.apply("smoke", {"code": CODE, "tests": spec_tests()})
    item = cluster.wait("smoke")
    status = item["status"]["tests"]
    assert (status["total"], status["passed"], status["failed"], status["summary"]) == (2, 2, 0, "2/2")
    assert cluster.condition(item, "Ready")["message"].endswith("2 smoke tests passed")
    row = cluster.kubectl("get", "am", "smoke", "-n", cluster.namespace).stdout.splitlines()[1].split()
    assert row[4] == "2/2"
    assert "SmokeTestsPassed" in [event["reason"] for event in cluster.events("smoke")]

    cluster.apply("smoke", {"code": CODE, "tests": spec_tests(expect_different=0.5)})
    item = cluster.wait("smoke", condition="Stalled")
    stalled = cluster.condition(item, "Stalled")
    assert stalled["reason"] == "SmokeTestsFailed"
    assert stalled["message"] == "1 of 2 smoke tests failed: 'disagree': expected 0.5, got 0.0"
    assert cluster.condition(item, "Ready")["status"] == "False"
    assert item["status"]["tests"]["summary"] == "1/2"
    assert "SmokeTestsFailed" in [event["reason"] for event in cluster.events("smoke")]


def test_a_resync_of_a_ready_metric_does_not_run_its_smoke_tests_again(cluster, box, resync_seconds):
    """status.tests.digest (which code and tests the results are for) must survive the apiserver's
    pruning, or every resync invokes the function again: it would never go idle, and its
    invocations would count callers that are not there."""
    cluster.apply("settled", {"code": CODE, "tests": spec_tests()})
    item = cluster.wait("settled")
    assert item["status"]["tests"]["digest"]
    function = item["status"]["functionName"]
    invoked = box.aws.front.invokes[function]
    generation = item["metadata"]["generation"]
    time.sleep(3 * resync_seconds)  # three resyncs
    assert box.aws.front.invokes[function] == invoked
    assert [event["reason"] for event in cluster.events("settled")].count("SmokeTestsPassed") == 1
    assert cluster.get("settled")["metadata"]["generation"] == generation
