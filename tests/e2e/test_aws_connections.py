"""Several AWS accounts and regions from one operator process, through the real apiserver, moto's server and the
sandbox's Lambda proxy, which keeps Lambda's quotas per account and region as Lambda does: the operator assumes each
connection's role through STS, and each account's functions, budget and 429s stay its own."""

import json
import time
from contextlib import ExitStack

import pytest

from agreement_operator.sandbox import operator_process

CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return {n}.0 / {n}\n"
ACCOUNTS = {"production": ("111111111111", "eu-west-1"), "staging": ("222222222222", "us-west-2")}


@pytest.fixture
def connected(box, cluster, operator):
    """An operator of its own for this namespace, with two named connections beside the default one, behind a
    proxy of its own; `start(rates)` takes each connection's requestsPerSecond."""
    with operator.paused(), ExitStack() as stack:
        def start(rates: dict[str, float], staging_serves: str | None = None):
            proxy = box.aws.proxy()
            proxy.lifecycle.pending_seconds = 0.0
            serves = {"production": cluster.namespace, "staging": staging_serves or cluster.namespace}
            connections = [{**box.aws.connection(name, account, region, [serves[name]]),
                            "requestsPerSecond": rates[name]} for name, (account, region) in ACCOUNTS.items()]
            operator_process.start(box.workdir, stack, box.control_plane, box.aws, {
                "AWS_ENDPOINT_URL": proxy.url, "AGREEMENT_OPERATOR_NAMESPACES": cluster.namespace,
                "AGREEMENT_OPERATOR_CLUSTER_ID": cluster.namespace,
                "AGREEMENT_OPERATOR_AWS_CONNECTIONS": json.dumps(connections),
            }, log_name=f"operator-{cluster.namespace}.log")
            return proxy
        yield start


def ready(cluster, names: list[str], timeout: float = 120) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = {name: cluster.get(name) for name in names}
        for item in items.values():
            assert cluster.condition(item, "Stalled").get("status") != "True", item["status"]
        if all(cluster.condition(item, "Ready").get("status") == "True" for item in items.values()):
            return items
        time.sleep(0.3)
    raise AssertionError(f"not all Ready after {timeout} s")


def apply_in_each(cluster, count: int) -> dict[str, list[str]]:
    """`count` metrics per connection, named after it (the proxy's lifecycle tells functions apart by name)."""
    names: dict[str, list[str]] = {}
    for connection in ("default", *ACCOUNTS):
        names[connection] = [f"{connection}-{n}" for n in range(count)]
        for n, name in enumerate(names[connection]):
            placed = {} if connection == "default" else {"aws": {"connection": connection}}
            cluster.apply(name, {"code": CODE.format(n=n + 1), **placed})
    return names


def test_two_accounts_and_two_regions_serve_metrics_from_one_operator_with_no_429s(box, cluster, connected):
    proxy = connected({"production": 5.0, "staging": 5.0})
    names = apply_in_each(cluster, 4)
    items = ready(cluster, [name for listed in names.values() for name in listed])
    for connection, (account, region) in ACCOUNTS.items():
        arns = {items[name]["status"]["functionArn"] for name in names[connection]}
        assert {arn.split(":")[3:5] == [region, account] for arn in arns} == {True}, arns
        assert {f"custom-metric-{cluster.namespace}-{name}" for name in names[connection]} == \
            box.aws.functions_in(account, region)
    assert sum(proxy.throttled_in.values()) == 0, proxy.throttled_in
    assert {("111111111111", "eu-west-1"), ("222222222222", "us-west-2")} <= set(proxy.calls_in)


def test_a_namespace_a_connection_does_not_serve_is_stalled_and_nothing_is_created(box, cluster, connected):
    connected({"production": 5.0, "staging": 5.0}, staging_serves="someone-else")
    cluster.apply("refused", {"code": CODE.format(n=1), "aws": {"connection": "staging"}})
    cluster.apply("unknown", {"code": CODE.format(n=1), "aws": {"connection": "nowhere"}})
    refused, unknown = cluster.wait("refused", "Stalled"), cluster.wait("unknown", "Stalled")
    assert cluster.condition(refused, "Stalled")["reason"] == "AwsNamespaceNotAllowed"
    assert cluster.condition(unknown, "Stalled")["reason"] == "AwsConnectionNotFound"
    assert f"custom-metric-{cluster.namespace}-refused" not in box.aws.functions_in(*ACCOUNTS["staging"])


def test_a_throttled_account_does_not_slow_the_other(box, cluster, connected):
    """production's quota is 1 call/s and the operator's share there 4: Lambda answers 429 in that account only,
    while staging, at its own budget, finishes as fast as if production were idle."""
    proxy = connected({"production": 4.0, "staging": 5.0})
    proxy.set_quotas("111111111111", "eu-west-1", control=1.0, get=100.0)
    names = apply_in_each(cluster, 8)
    ready(cluster, names["staging"], timeout=60)
    # staging did not queue behind production: when it is done, production (8 creates at 1 call/s) is not
    not_yet = [name for name in names["production"]
               if cluster.condition(cluster.get(name), "Ready").get("status") != "True"]
    assert not_yet, "production finished with staging: its quota did not hold it back, or staging waited for it"
    ready(cluster, names["production"], timeout=180)
    assert proxy.throttled_in[("111111111111", "eu-west-1")] > 0
    assert proxy.throttled_in[("222222222222", "us-west-2")] == 0
