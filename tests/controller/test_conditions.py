from agreement_operator.controller import conditions
from agreement_operator.lambda_target.lambda_api import DeployedFunction
from agreement_operator.target import Outcome, Phase


def by_type(items):
    return {item["type"]: item for item in items}


def test_ready_sets_ready_true_and_the_others_false():
    result = by_type(conditions.conditions(Phase.READY, "Deployed", "ok", 3, now="2026-01-01T00:00:00Z"))
    assert {kind: c["status"] for kind, c in result.items()} == {
        "Ready": "True", "Reconciling": "False", "Stalled": "False"}
    assert all(c["observedGeneration"] == 3 for c in result.values())
    assert result["Ready"]["message"] == "ok"


def test_stalled_says_why_on_ready_and_stalled():
    result = by_type(conditions.conditions(Phase.STALLED, "InvalidCode", "line 3: syntax error", 2))
    assert result["Ready"]["status"] == "False" and result["Stalled"]["status"] == "True"
    assert result["Stalled"]["reason"] == result["Ready"]["reason"] == "InvalidCode"
    assert result["Stalled"]["message"] == "line 3: syntax error"


def test_transition_time_moves_only_when_the_status_flips():
    first = conditions.conditions(Phase.RECONCILING, "FunctionPending", "wait", 1, now="2026-01-01T00:00:00Z")
    again = by_type(conditions.conditions(Phase.RECONCILING, "FunctionPending", "wait", 1, first,
                                          now="2026-01-01T00:05:00Z"))
    assert again["Reconciling"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    ready = by_type(conditions.conditions(Phase.READY, "Deployed", "ok", 1, list(again.values()),
                                          now="2026-01-01T00:09:00Z"))
    assert ready["Ready"]["lastTransitionTime"] == "2026-01-01T00:09:00Z"
    assert ready["Reconciling"]["lastTransitionTime"] == "2026-01-01T00:09:00Z"
    assert ready["Stalled"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"


def test_long_messages_are_cut():
    result = conditions.conditions(Phase.STALLED, "InvalidSpec", "x" * 5000, 1)
    assert len(by_type(result)["Stalled"]["message"]) == conditions.MAX_MESSAGE


def test_status_carries_the_function_fields():
    function = DeployedFunction("custom-metric-a", "arn:aws:lambda:us-east-1:1:function:custom-metric-a",
                                "sha=", "Active", "Successful")
    status = conditions.status_for(Outcome(Phase.READY, "Deployed", "ok", status=function.as_status()), 4, {})
    assert status["functionName"] == "custom-metric-a"
    assert status["functionArn"].endswith(":function:custom-metric-a")
    assert (status["codeSha256"], status["state"], status["lastUpdateStatus"]) == ("sha=", "Active", "Successful")
    assert status["observedGeneration"] == 4


def test_status_of_a_stalled_resource_keeps_the_last_deployed_function():
    status = conditions.status_for(Outcome(Phase.STALLED, "InvalidCode", "bad"), 5, {"functionName": "f"})
    assert "functionName" not in status  # a merge patch leaves the earlier value in place
    assert status["observedGeneration"] == 5


def test_a_status_write_removes_what_the_new_value_of_a_field_no_longer_has():
    """Regression: the success of a read left its key out of a merge patch, which keeps what it is not given,
    so status.usage.message said a CloudWatch outage long after it ended."""
    previous = {"usage": {"window": "1h", "invocations": 2, "message": "could not be read at ...: 503"},
                "labelStudio": {"project": 1, "metricName": "old", "extra": {"a": 1, "b": 2}},
                "codeSha256": "abc"}
    patch = conditions.merge_patch(previous, {"usage": {"window": "1h", "invocations": 3},
                                              "labelStudio": {"project": 1, "extra": {"a": 1}}, "state": "Active"})
    assert patch == {"usage": {"window": "1h", "invocations": 3, "message": None},
                     "labelStudio": {"project": 1, "metricName": None, "extra": {"a": 1, "b": None}},
                     "state": "Active"}
    assert conditions.merge_patch({}, {"usage": {"invocations": 1}}) == {"usage": {"invocations": 1}}
