"""Observability end to end: a deployed metric that fails on real annotations (run for real by the
sandbox) shows its errors in status.functionErrors, an Event, the Errors column and
`agreement-operator logs`; the operator's /metrics, scraped during a lifecycle and parsed with
prometheus_client's parser, counts exactly the calls the Lambda proxy saw."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agreement_operator.sandbox import operator_process

FRAGILE = ("def agreement(annotation_1, annotation_2, per_label=False):\n"
           "    first = annotation_1['result'][0]\n"
           "    return float(first['value']['choices'] == annotation_2['result'][0]['value']['choices'])\n")
POSITIVE = {"result": [{"type": "choices", "value": {"choices": ["Positive"]}}]}
TESTS = [{"name": "same", "annotation1": POSITIVE, "annotation2": POSITIVE, "expect": 1.0}]


def logs(cluster, name: str, *options: str) -> str:
    result = subprocess.run([sys.executable, "-m", "agreement_operator", "logs", name, "-n", cluster.namespace,
                             *options], capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, **cluster.box.command_environment()})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_errors_on_real_annotations_reach_the_status_an_event_and_logs(cluster):
    cluster.apply("fragile", {"code": FRAGILE, "tests": TESTS})
    item = cluster.wait("fragile")
    function = item["status"]["functionName"]
    lam = cluster.box.aws.client("lambda")
    batch = {"pairs": [{"annotation_1": {"result": []}, "annotation_2": POSITIVE},
                       {"annotation_1": POSITIVE, "annotation_2": {"result": [{"type": "rating",
                                                                               "value": {"rating": 4}}]}}]}
    answer = json.loads(lam.invoke(FunctionName=function, Payload=json.dumps(batch))["Payload"].read())
    assert [error["type"] for error in answer["errors"]] == ["IndexError", "KeyError"]
    single = lam.invoke(FunctionName=function, Payload=json.dumps({"annotation_1": {}, "annotation_2": POSITIVE}))
    assert single.get("FunctionError") == "Unhandled"

    errors = cluster.eventually(
        lambda: (status := cluster.get("fragile")["status"].get("functionErrors") or {}).get("count") == 3
        and status, 60, "three errors in status.functionErrors")
    assert errors["window"] == "1h"
    assert [(error["type"], error["line"]) for error in errors["recent"]] == [
        ("IndexError", 2), ("KeyError", 3), ("KeyError", 2)]
    assert cluster.condition(cluster.get("fragile"), "Ready")["status"] == "True"  # still deployed as specified
    warnings = [event for event in cluster.events("fragile") if event["reason"] == "FunctionErrors"]
    assert warnings and all(event["type"] == "Warning" for event in warnings)
    row = cluster.kubectl("get", "am", "fragile", "-n", cluster.namespace).stdout.splitlines()
    header, values = row[0].split(), row[1].split()
    assert values[header.index("ERRORS") - 2] == "3"  # the empty PROJECT and AGREEMENT cells are not split out

    # Lambda's metrics, published by the sandbox for every invocation it runs: the smoke test's and these two.
    usage = cluster.eventually(
        lambda: (found := cluster.get("fragile")["status"].get("usage") or {}).get("invocations") == 3 and found,
        60, "three invocations in status.usage")
    assert (usage["window"], usage["errors"], usage["throttles"]) == ("1h", 1, 0)  # the single pair failed
    row = cluster.kubectl("get", "am", "fragile", "-n", cluster.namespace).stdout.splitlines()
    assert row[1].split()[row[0].split().index("INVOKED") - 2] == "3"

    errors_printed = logs(cluster, "fragile", "--errors")
    assert "IndexError: list index out of range (metric.py, line 2)" in errors_printed
    assert "KeyError: 'choices' (metric.py, line 3)" in errors_printed
    assert len(errors_printed.splitlines()) == 3
    everything = logs(cluster, "fragile", "--since", "10m")
    assert "START RequestId:" in everything and "REPORT RequestId:" in everything
    assert everything.index("START RequestId:") < everything.index("REPORT RequestId:")


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def sample(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def counted(box, cluster, operator):
    """An operator of its own for this namespace, behind a Lambda proxy of its own that counts its calls."""
    proxy = box.aws.proxy()
    with operator.paused(), ExitStack() as stack:
        process = operator_process.start(box.workdir, stack, box.control_plane, box.aws, {
            "AWS_ENDPOINT_URL": proxy.url, "AGREEMENT_OPERATOR_NAMESPACES": cluster.namespace,
            "AGREEMENT_OPERATOR_RESYNC_SECONDS": "600", "AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS": "0",
        }, log_name=f"operator-{cluster.namespace}.log")
        yield proxy, process


def test_metrics_scraped_during_a_lifecycle_count_the_calls_made(cluster, counted):
    proxy, process = counted
    cluster.apply("scraped", {"code": FRAGILE, "tests": TESTS})
    cluster.wait("scraped")
    during = scrape(process.metrics_url)
    cluster.apply("scraped", {"code": FRAGILE + "# v2\n", "tests": TESTS, "memoryMB": 512})
    cluster.wait_observed("scraped", 2)
    cluster.wait("scraped")
    cluster.apply("broken", {"code": "def agreement(:\n"})
    cluster.wait("broken", "Stalled")
    ready = scrape(process.metrics_url)
    cluster.kubectl("delete", "am", "scraped", "broken", "-n", cluster.namespace, "--timeout=60s")
    after = scrape(process.metrics_url)

    assert sample(during, "agreement_operator_agreement_metrics", phase="Ready") == 1
    assert sample(ready, "agreement_operator_agreement_metrics", phase="Stalled") == 1
    assert sample(after, "agreement_operator_agreement_metrics", phase="Ready") == 0
    assert sample(after, "agreement_operator_agreement_metrics", phase="Stalled") == 0
    for operation, seen in proxy.calls.items():  # every Lambda call the proxy saw, once, by operation
        counted_calls = sum(value for (name, labels), value in after.items()
                            if name == "agreement_operator_aws_requests_total"
                            and dict(labels).get("operation") == operation and dict(labels)["service"] == "lambda")
        assert counted_calls == seen, (operation, counted_calls, seen)
    assert {"CreateFunction", "UpdateFunctionCode", "UpdateFunctionConfiguration", "Invoke",
            "DeleteFunction"} <= set(proxy.calls)
    assert sample(after, "agreement_operator_aws_requests_total", service="lambda", operation="GetFunction",
                  error_code="ResourceNotFoundException", connection="default") >= 1  # the first look at a new function
    assert sample(after, "agreement_operator_smoke_tests_total", result="passed") == 2  # before and after the change
    assert sample(after, "agreement_operator_reconciles_total", target="lambda", outcome="stalled",
                  reason="InvalidCode") >= 1
    assert sample(after, "agreement_operator_reconciles_total", target="lambda", outcome="ready",
                  reason="Deployed") >= 2
    assert sample(after, "agreement_operator_reconcile_duration_seconds_count", target="lambda") == sum(
        value for (name, labels), value in after.items() if name == "agreement_operator_reconciles_total")


def test_logs_follow_prints_new_lines_until_interrupted(cluster):
    cluster.apply("followed", {"code": "def agreement(annotation_1, annotation_2, per_label=False):\n"
                                        "    print('scoring', annotation_1['id'])\n    return 1.0\n"})
    function = cluster.wait("followed")["status"]["functionName"]
    follower = subprocess.Popen([sys.executable, "-m", "agreement_operator", "logs", "followed", "-n",
                                 cluster.namespace, "-f"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **cluster.box.command_environment()})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in follower.stdout], daemon=True).start()
    try:
        lam = cluster.box.aws.client("lambda")
        for marker in ("first", "second"):
            lam.invoke(FunctionName=function, Payload=json.dumps({"annotation_1": {"id": marker}, "annotation_2": {}}))
            deadline = time.monotonic() + 30
            while not lines.get(timeout=max(0.1, deadline - time.monotonic())).rstrip().endswith(f"scoring {marker}"):
                pass  # the START line and others; queue.Empty past the deadline fails the test
    finally:
        follower.send_signal(signal.SIGINT)
        code = follower.wait(30)
    assert code == 0
