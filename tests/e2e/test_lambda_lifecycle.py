"""Functions that take time to become Active, and Lambda's quota, through the real apiserver.

moto makes every function Active at once; the sandbox's Lambda proxy keeps each one Pending
(after a create) or InProgress (after an update) for a while, and can throttle like Lambda.
An operator of its own watches one namespace through the proxy.
"""

import time
from contextlib import ExitStack

import pytest

from agreement_operator.sandbox import operator_process
from agreement_operator.sandbox.lambda_proxy import TokenBucket

CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"


@pytest.fixture
def proxied(box, cluster, operator):
    """A Lambda proxy and an operator behind it for this test's namespace (the session's operator paused)."""
    proxy = box.aws.proxy(pending_seconds=2.0)
    with operator.paused(), ExitStack() as stack:
        operator_process.start(box.workdir, stack, box.control_plane, box.aws, {
            "AWS_ENDPOINT_URL": proxy.url, "AGREEMENT_OPERATOR_NAMESPACES": cluster.namespace,
            "AGREEMENT_OPERATOR_RESYNC_SECONDS": "600",
        }, log_name=f"operator-{cluster.namespace}.log")
        yield proxy


def reasons_seen(cluster, name, until, timeout=60.0) -> list[str]:
    """The Ready/Reconciling reasons the metric shows, polled, until `until(item)` holds."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = cluster.get(name)
        reconciling = cluster.condition(item, "Reconciling")
        if reconciling.get("status") == "True" and (not seen or seen[-1] != reconciling["reason"]):
            seen.append(reconciling["reason"])
        if until(item):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"{name} did not settle: {cluster.get(name).get('status')}")


def ready(cluster):
    return lambda item: cluster.condition(item, "Ready").get("status") == "True"


def test_a_pending_function_is_reconciling_then_ready_without_a_waiting_worker(cluster, proxied):
    cluster.apply("slow", {"code": CODE})
    assert "FunctionUpdating" in reasons_seen(cluster, "slow", ready(cluster))
    item = cluster.get("slow")
    assert (item["status"]["state"], item["status"]["lastUpdateStatus"]) == ("Active", "Successful")
    assert proxied.calls["CreateFunction"] == 1
    # Each look is one GetFunction, spaced out (1 s, 1.5 s, ...), never a tight loop.
    assert 2 <= proxied.calls["GetFunction"] <= 5


def test_code_and_memory_change_in_separate_passes_while_the_update_is_in_progress(cluster, proxied):
    cluster.apply("update", {"code": CODE})
    reasons_seen(cluster, "update", ready(cluster))
    proxied.reset_counts()
    cluster.apply("update", {"code": CODE.replace("1.0", "0.5"), "memoryMB": 512})
    generation = cluster.get("update")["metadata"]["generation"]
    reasons_seen(cluster, "update", lambda item: ready(cluster)(item)
                 and item["status"]["observedGeneration"] == generation)
    assert proxied.calls["UpdateFunctionCode"] == 1 and proxied.calls["UpdateFunctionConfiguration"] == 1
    function = cluster.function(cluster.get("update")["status"]["functionName"])
    assert function["MemorySize"] == 512


def test_throttling_by_the_quota_ends_ready_never_stalled(cluster, proxied):
    proxied.pending_seconds = 0.0
    proxied.buckets = {"control": TokenBucket(2.0), "get": TokenBucket(100.0)}
    for n in range(8):
        cluster.apply(f"quota-{n}", {"code": CODE.replace("1.0", f"0.{n}")})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        items = [cluster.get(f"quota-{n}") for n in range(8)]
        assert not any(cluster.condition(item, "Stalled").get("status") == "True" for item in items)
        if all(ready(cluster)(item) for item in items):
            break
        time.sleep(0.3)
    else:
        raise AssertionError("not every throttled metric became Ready")
    assert proxied.calls["CreateFunction"] >= 8
