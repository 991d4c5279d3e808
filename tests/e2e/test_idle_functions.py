"""Idle functions through the real apiserver: the sandbox's Lambda proxy makes a function Inactive
after a few seconds without an invoke, fails the invoke that meets it (502) and restores it
(Pending, invokes answered 409), as Lambda does. An operator of its own watches one namespace
through that proxy."""

import time
from contextlib import ExitStack

import boto3
import pytest

from agreement_operator.function import packaging
from agreement_operator.sandbox import aws_emulator, operator_process

IDLE_SECONDS = 4.0
RESTORE_SECONDS = 2.0
RESYNC_SECONDS = 2.0
CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
SAME = {"name": "same", "annotation1": {"result": []}, "annotation2": {"result": []}, "expect": 1.0}


@pytest.fixture
def idle(box, cluster, operator):
    """A Lambda proxy whose functions go idle, and an operator behind it for this test's namespace."""
    proxy = box.aws.proxy(idle_seconds=IDLE_SECONDS, restore_seconds=RESTORE_SECONDS)
    with operator.paused(), ExitStack() as stack:
        operator_process.start(box.workdir, stack, box.control_plane, box.aws, {
            "AWS_ENDPOINT_URL": proxy.url, "AGREEMENT_OPERATOR_NAMESPACES": cluster.namespace,
            "AGREEMENT_OPERATOR_RESYNC_SECONDS": str(RESYNC_SECONDS),
            "AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS": "0",
        }, log_name=f"operator-{cluster.namespace}.log")
        yield proxy


def lambda_state(proxy, name: str) -> str:
    client = boto3.client("lambda", region_name=aws_emulator.REGION, endpoint_url=proxy.url,
                          **{key.lower(): value for key, value in aws_emulator.CREDENTIALS.items()})
    return client.get_function(FunctionName=name)["Configuration"]["State"]


def until(cluster, name: str, holds, timeout: float, what: str) -> dict:
    """The metric once `holds(metric)` is true."""
    return cluster.eventually(lambda: (lambda item: item if holds(item) else None)(cluster.get(name)), timeout, what)


def ready_and_idle(cluster, name: str) -> dict:
    """The metric once the operator has seen its function Inactive (and still calls it Ready)."""
    item = until(cluster, name, lambda got: got.get("status", {}).get("state") == "Inactive",
                 IDLE_SECONDS + 4 * RESYNC_SECONDS + 10, f"{name}'s function to go idle")
    assert cluster.condition(item, "Ready")["status"] == "True", item["status"]
    return item


def test_an_idle_metric_stays_ready_and_is_read_once_per_resync(cluster, idle):
    cluster.apply("quiet", {"code": CODE})
    cluster.wait("quiet")
    item = ready_and_idle(cluster, "quiet")
    assert "Lambda restores it on its next invoke" in cluster.condition(item, "Ready")["message"]
    idle.reset_counts()
    started, seen_ready = time.monotonic(), []
    while time.monotonic() - started < 5 * RESYNC_SECONDS:
        seen_ready.append(cluster.condition(cluster.get("quiet"), "Ready")["status"])
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    assert set(seen_ready) == {"True"}  # never Reconciling, never Progressing for Argo CD
    assert dict(idle.calls).keys() <= {"GetFunction"}  # no invoke, no change: it stays idle
    assert idle.calls["GetFunction"] <= elapsed / RESYNC_SECONDS + 1
    assert lambda_state(idle, item["status"]["functionName"]) == "Inactive"


def test_a_code_change_to_an_idle_function_is_deployed_and_ready(cluster, idle):
    cluster.apply("sleepy", {"code": CODE})
    cluster.wait("sleepy")
    ready_and_idle(cluster, "sleepy")
    idle.reset_counts()
    changed = CODE.replace("1.0", "0.5")
    started = time.monotonic()
    cluster.apply("sleepy", {"code": changed})
    item = until(cluster, "sleepy", lambda got: cluster.condition(got, "Ready").get("observedGeneration") == 2
                 and cluster.condition(got, "Ready").get("status") == "True", RESTORE_SECONDS + 30,
                 "the changed metric Ready")
    print(f"\ncode change on an Inactive function to Ready: {time.monotonic() - started:.1f} s "
          f"(restore {RESTORE_SECONDS:g} s, resync {RESYNC_SECONDS:g} s)")
    assert item["status"]["codeSha256"] == packaging.code_sha256(packaging.build_zip(changed))
    assert item["status"]["state"] == "Active"
    assert idle.calls["UpdateFunctionCode"] == 1


def test_smoke_tests_against_an_idle_function_pass_after_the_restore(cluster, idle):
    cluster.apply("tested", {"code": CODE, "tests": [SAME]})
    cluster.wait("tested")
    item = ready_and_idle(cluster, "tested")
    function = item["status"]["functionName"]
    idle.reset_counts()
    started = time.monotonic()
    cluster.apply("tested", {"code": CODE, "tests": [SAME, {**SAME, "name": "again"}]})  # new tests: they run
    waited = until(cluster, "tested", lambda got: cluster.condition(got, "Reconciling").get("reason")
                   == "SmokeTestsWaiting", 30, "the tests to wait for the function")
    assert waited["status"]["tests"]["summary"] == "waiting"
    assert "Lambda answered Resource" in waited["status"]["tests"]["message"]  # NotReady (502) or Conflict (409)
    item = until(cluster, "tested", lambda got: cluster.condition(got, "Ready").get("status") == "True"
                 and got["status"]["observedGeneration"] == 2, RESTORE_SECONDS + 30,
                 "the tests to pass after the restore")
    print(f"\nsmoke tests on an Inactive function: Ready {time.monotonic() - started:.1f} s after the change, "
          f"{idle.invokes[function]} invokes (the first restores it)")
    assert item["status"]["tests"]["summary"] == "2/2"
    assert idle.invokes[function] >= 2
    reasons = [event["reason"] for event in cluster.events("tested")]
    assert "SmokeTestsWaiting" in reasons and "SmokeTestsPassed" in reasons and "SmokeTestsFailed" not in reasons
