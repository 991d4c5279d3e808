"""Faults that end leave nothing behind: the session's operator through faults injected into the sandbox's
Label Studio API server and Lambda proxy, each scenario asserting what it costs (calls, Event objects, status
writes) and that the operator recovers without a person touching the metric."""

import json
import time

from agreement_operator.sandbox.processes import eventually

GOOD = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
BROKEN = "def agreement(annotation_1, annotation_2, per_label=False):\n    return [\n"


def test_a_change_while_label_studio_hangs_is_judged_at_once_and_no_older_status_wins(cluster):
    """Label Studio hangs while a periodic check of a project metric waits on it, and someone applies invalid
    code. The change is Stalled while Label Studio still hangs (it waited 12 s for the check's lock), and when
    the check comes back its status, read before the change, does not overwrite the Stall (it once did:
    Reconciling LabelStudioUnavailable, for the old generation, for good)."""
    studio = cluster.box.label_studio
    project = studio.add_project("hung")
    cluster.apply("hung", {"code": GOOD, "labelStudio": {"project": project}})
    cluster.wait("hung")
    studio.hang(25)
    eventually(lambda: studio.hanging > 0, 40, "a periodic check to wait on Label Studio")
    cluster.apply("hung", {"code": BROKEN, "labelStudio": {"project": project}})
    stalled = cluster.wait("hung", "Stalled", timeout=60)
    assert time.monotonic() < studio.hang_until, "the Stall waited for Label Studio"
    assert cluster.condition(stalled, "Stalled")["reason"] == "InvalidCode"
    eventually(lambda: studio.hanging == 0, 60, "Label Studio to answer again")
    time.sleep(5)  # the periodic check that waited has written (or not) by now
    final = cluster.get("hung")
    stall = cluster.condition(final, "Stalled")
    assert (stall.get("status"), stall.get("reason"), stall.get("observedGeneration")) == ("True", "InvalidCode", 2)
    assert final["status"]["observedGeneration"] == 2


FRAGILE = ("def agreement(annotation_1, annotation_2, per_label=False):\n"
           "    return float(annotation_1['result'][0]['value'] == annotation_2['result'][0]['value'])\n")
POSITIVE = {"result": [{"type": "choices", "value": {"choices": ["Positive"]}}]}
DENIED = "User: arn:aws:iam::123456789012:user/operator is not authorized to perform: lambda:CreateFunction"


def warnings(cluster, name: str, reason: str) -> int:
    """How many Warning Event objects with `reason` the metric has (each post is an object of its own)."""
    return sum(1 for event in cluster.events(name) if event["type"] == "Warning" and event["reason"] == reason)


def reasons(cluster, name: str) -> list[str]:
    return [event["reason"] for event in cluster.events(name)]


def test_a_metric_stalled_by_an_iam_policy_is_ready_again_by_itself_once_it_is_fixed(cluster, resync_seconds):
    """AccessDenied on CreateFunction for a while (an IAM policy fixed a little later): Stalled AccessDenied,
    then Ready without anyone touching the metric, within a resync interval of the fix; one Warning for the
    whole episode, and one Recovered Event."""
    faults = cluster.box.aws.front.faults
    faults.inject("CreateFunction", 403, "AccessDeniedException", DENIED, 12)
    fixed_at = time.monotonic() + 12
    cluster.apply("denied", {"code": GOOD})
    stalled = cluster.wait("denied", "Stalled", timeout=30)
    assert cluster.condition(stalled, "Stalled")["reason"] == "AccessDenied"
    ready = cluster.wait("denied", timeout=60)
    assert ready["metadata"]["generation"] == 1  # nobody touched it
    assert time.monotonic() - fixed_at <= resync_seconds + 30  # a look within the interval (and a pass's time)
    assert warnings(cluster, "denied", "AccessDenied") == 1
    assert "Recovered" in reasons(cluster, "denied")


def test_a_label_studio_key_revoked_and_restored_leaves_its_metric_ready(cluster):
    """A periodic check meets a revoked key (Stalled LabelStudioUnauthorized); the key restored, the metric is
    Ready again by itself."""
    studio = cluster.box.label_studio
    project = studio.add_project("revoked")
    cluster.apply("revoked", {"code": GOOD, "labelStudio": {"project": project}})
    cluster.wait("revoked")
    studio.revoke_tokens()
    try:
        stalled = cluster.wait("revoked", "Stalled", timeout=60)
        assert cluster.condition(stalled, "Stalled")["reason"] == "LabelStudioUnauthorized"
    finally:
        studio.revoke_tokens(False)
    ready = cluster.wait("revoked", timeout=60)
    assert ready["metadata"]["generation"] == 1
    assert warnings(cluster, "revoked", "LabelStudioUnauthorized") == 1


def test_a_logs_outage_keeps_the_known_errors_and_announces_none_again(cluster):
    """StartQuery answers 503 for a while: status.functionErrors keeps its count and errors and says when the
    read failed; once Logs answers, the message goes and no error is announced again."""
    cluster.apply("outage", {"code": FRAGILE})
    function = cluster.wait("outage")["status"]["functionName"]
    lam = cluster.box.aws.client("lambda")
    lam.invoke(FunctionName=function, Payload=json.dumps({"pairs": [
        {"annotation_1": {"result": []}, "annotation_2": POSITIVE}]}))
    known = cluster.eventually(lambda: (found := cluster.get("outage")["status"].get("functionErrors") or {})
                               .get("count") == 1 and found, 60, "the error in status.functionErrors")
    announced = warnings(cluster, "outage", "FunctionErrors")
    cluster.box.aws.front.faults.inject("StartQuery", 503, "ServiceUnavailableException", "Service Unavailable", 10)
    during = cluster.eventually(lambda: " could not be read at " in (
        found := cluster.get("outage")["status"]["functionErrors"]).get("message", "") and found, 30,
        "the failed read in status")
    assert (during["count"], during["recent"]) == (known["count"], known["recent"])
    after = cluster.eventually(lambda: "message" not in (
        found := cluster.get("outage")["status"]["functionErrors"]) and found, 60, "the message to go")
    assert after["count"] == 1
    assert warnings(cluster, "outage", "FunctionErrors") == announced
    assert warnings(cluster, "outage", "FunctionErrorsUnreadable") == 1


def test_a_cloudwatch_outage_costs_no_more_calls_and_leaves_no_message(cluster):
    """GetMetricData answers 503 for 12 s: the usage reads keep their pace (each failed read counts as the
    interval's read) and once CloudWatch answers, status.usage holds numbers and no message."""
    cluster.apply("metrics-outage", {"code": GOOD})
    cluster.wait("metrics-outage")
    cluster.eventually(lambda: "invocations" in (cluster.get("metrics-outage")["status"].get("usage") or {}), 60,
                       "status.usage")
    faults = cluster.box.aws.front.faults
    healthy_from = faults.seen["GetMetricData"]
    time.sleep(12)
    healthy = faults.seen["GetMetricData"] - healthy_from
    faults.inject("GetMetricData", 503, "ServiceUnavailable", "Service Unavailable", 12)
    failing_from, ends = faults.seen["GetMetricData"], time.monotonic() + 12
    cluster.eventually(lambda: " could not be read at " in (cluster.get("metrics-outage")["status"]["usage"]
                                                            .get("message", "")), 12, "the failed read in status")
    time.sleep(max(0.0, ends - time.monotonic()))
    failing = faults.seen["GetMetricData"] - failing_from
    assert failing <= healthy + 2, (failing, healthy)
    usage = cluster.eventually(lambda: "message" not in (found := cluster.get("metrics-outage")["status"]["usage"])
                               and found, 60, "the message to go")
    assert "invocations" in usage


def test_a_throttling_episode_posts_one_warning_and_one_recovered_per_metric(cluster):
    """UpdateFunctionCode answers 429 for 20 s while three metrics change: each posts one Warning for the
    episode and one Recovered, not one Warning per pass (9-10 each, in 30 s)."""
    names = [f"throttled-{n}" for n in range(3)]
    for name in names:
        cluster.apply(name, {"code": GOOD})
    for name in names:
        cluster.wait(name)
    cluster.box.aws.front.faults.inject("UpdateFunctionCode", 429, "TooManyRequestsException", "Rate exceeded", 20,
                                        retry_after="1")
    changed = GOOD.replace("1.0", "0.5")
    for name in names:
        cluster.apply(name, {"code": changed})
    for name in names:
        cluster.wait_observed(name, 2, timeout=90)
        cluster.wait(name, timeout=90)
    for name in names:
        episode = [event for event in cluster.events(name)
                   if event["reason"] in ("TooManyRequestsException", "Recovered")]
        assert sorted(event["reason"] for event in episode) == ["Recovered", "TooManyRequestsException"], name


def test_an_operator_killed_mid_deploy_and_mid_move_leaves_one_function_each(cluster, operator):
    """The operator is SIGKILLed while a new metric's function is Pending and a prefix move has created the new
    function but not yet deleted the old: after the restart each metric is Ready with exactly one function, and
    nothing is left behind."""
    front = cluster.box.aws.front
    cluster.apply("moved", {"code": GOOD, "prefix": "before"})
    cluster.wait("moved")
    pending, front.lifecycle.pending_seconds = front.lifecycle.pending_seconds, 4.0
    try:
        creates = front.calls["CreateFunction"]
        cluster.apply("fresh", {"code": GOOD})
        cluster.apply("moved", {"code": GOOD, "prefix": "after"})
        eventually(lambda: front.calls["CreateFunction"] >= creates + 2, 30, "both functions to be created")
        operator.kill_and_restart()
    finally:
        front.lifecycle.pending_seconds = pending
    cluster.wait("fresh", timeout=90)
    cluster.wait_observed("moved", 2, timeout=90)
    moved = cluster.wait("moved", timeout=90)
    ns = cluster.namespace
    expected = [f"custom-metric-after-{ns}-moved", f"custom-metric-{ns}-fresh"]
    eventually(lambda: functions_of(cluster) == expected, 60, f"only {expected} (found {functions_of(cluster)})")
    assert moved["status"]["functionName"] == f"custom-metric-after-{ns}-moved"


def functions_of(cluster) -> list[str]:
    """The names of the functions of the test's namespace, sorted."""
    pages = cluster.lam.get_paginator("list_functions").paginate()
    return sorted(function["FunctionName"] for page in pages for function in page["Functions"]
                  if f"-{cluster.namespace}-" in function["FunctionName"])
