"""The operator's share of Lambda's quota, through the real apiserver and the sandbox's Lambda proxy.

The proxy answers like Lambda over its quota (429 TooManyRequestsException, Retry-After); an
operator of its own, with a small budget, watches one namespace through it.
"""

import time
from contextlib import ExitStack

import pytest

from agreement_operator.sandbox import operator_process
from agreement_operator.sandbox.lambda_proxy import TokenBucket
from agreement_operator.sandbox.processes import http_get

CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return {n}.0 / {n}\n"


@pytest.fixture
def budgeted(box, cluster, operator):
    """Start an operator spending `rate` control-plane calls per second behind a proxy allowing `quota`."""
    proxies = []
    with operator.paused(), ExitStack() as stack:
        def start(rate: float, quota: float):
            proxy = box.aws.proxy()
            proxy.buckets = {"control": TokenBucket(quota), "get": TokenBucket(100.0)}
            proxies.append(proxy)
            return proxy, operator_process.start(box.workdir, stack, box.control_plane, box.aws, {
                "AWS_ENDPOINT_URL": proxy.url, "AGREEMENT_OPERATOR_NAMESPACES": cluster.namespace,
                "AGREEMENT_OPERATOR_RESYNC_SECONDS": "600",
                "AGREEMENT_OPERATOR_LAMBDA_REQUESTS_PER_SECOND": str(rate),
            }, log_name=f"operator-{cluster.namespace}.log")
        yield start


def ready_at_generation(cluster, item) -> bool:
    ready = cluster.condition(item, "Ready")
    return ready.get("status") == "True" and ready.get("observedGeneration") == item["metadata"]["generation"]


def watch(cluster, names, until, timeout=120.0) -> set[str]:
    """The Reconciling reasons the metrics showed until `until(items)`; fails on any Stalled."""
    reasons, deadline = set(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = {name: cluster.get(name) for name in names}
        for item in items.values():
            assert cluster.condition(item, "Stalled").get("status") != "True", item["status"]
            reconciling = cluster.condition(item, "Reconciling")
            if reconciling.get("status") == "True":
                reasons.add(reconciling["reason"])
        if until(items):
            return reasons
        time.sleep(0.2)
    raise AssertionError(f"not settled after {timeout} s")


def test_a_burst_waits_its_turns_and_lambda_never_throttles(cluster, budgeted):
    proxy, operator = budgeted(rate=2.0, quota=3.0)
    names = [f"burst-{n}" for n in range(12)]
    for n, name in enumerate(names):
        cluster.apply(name, {"code": CODE.format(n=n + 1)})
    reasons = watch(cluster, names, lambda items: all(ready_at_generation(cluster, i) for i in items.values()))
    assert "WaitingForQuota" in reasons
    assert proxy.calls["CreateFunction"] == 12
    assert sum(proxy.throttled.values()) == 0
    # Waiting for the quota's turn is the operator's normal pacing: the lines about it (kopf's "failed
    # temporarily" for a pass kopf retries, the operator's "comes back" for a queued one) are INFO, never
    # ERROR (regression: every wait was an ERROR line, and log alerts would page someone).
    lines = operator.log_tail(2_000_000).splitlines()
    waits = [line for line in lines if ("failed temporarily" in line or "comes back in" in line)
             and "its turn" in line]
    assert waits and not [line for line in waits if "[ERROR" in line], waits[:3]


def test_a_change_to_an_existing_metric_goes_ahead_of_a_burst(cluster, budgeted):
    proxy, _ = budgeted(rate=2.0, quota=3.0)
    cluster.apply("mine", {"code": CODE.format(n=1)})
    watch(cluster, ["mine"], lambda items: ready_at_generation(cluster, items["mine"]))
    burst = [f"bulk-{n}" for n in range(24)]  # 12 s of turns at 2 calls/s
    for n, name in enumerate(burst):
        cluster.apply(name, {"code": CODE.format(n=n + 2)})
    cluster.apply("mine", {"code": CODE.format(n=100)})
    watch(cluster, ["mine"], lambda items: ready_at_generation(cluster, items["mine"]))
    waiting = [name for name in burst if not ready_at_generation(cluster, cluster.get(name))]
    assert waiting, "the change finished after the whole burst: it queued behind it"
    watch(cluster, burst, lambda items: all(ready_at_generation(cluster, i) for i in items.values()))
    assert proxy.calls["UpdateFunctionCode"] == 1 and sum(proxy.throttled.values()) == 0


def test_someone_else_using_the_quota_slows_the_budget_and_nothing_stalls(cluster, budgeted):
    """The budget (4 calls/s) is above what the account has left (2): Lambda answers 429, the budget slows down."""
    proxy, operator = budgeted(rate=4.0, quota=2.0)
    names = [f"crowded-{n}" for n in range(10)]
    for n, name in enumerate(names):
        cluster.apply(name, {"code": CODE.format(n=n + 1)})
    watch(cluster, names, lambda items: all(ready_at_generation(cluster, i) for i in items.values()))
    assert proxy.calls["CreateFunction"] >= 10
    exported = http_get(operator.metrics_url) or ""
    throttled = sum(float(line.rsplit(" ", 1)[1]) for line in exported.splitlines()
                    if line.startswith("agreement_operator_aws_throttled_requests_total{"))
    assert throttled == sum(proxy.throttled.values()) > 0
    # Each second of 429s slows the budget: fewer 429s than metrics, not one per call Lambda refused again
    # and again. (How many exactly depends on how the seconds fall on this machine: 4-7 have been seen,
    # and a bound that tight failed a CI run.)
    assert throttled < len(names)
