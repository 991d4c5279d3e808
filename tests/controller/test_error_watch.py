"""Looking at a Ready metric's function errors: Logs Insights against moto's CloudWatch Logs for a
function of our own (a query started in one tick, read in the next), a Label Studio project's
function logs over HTTP; status.functionErrors and the Events each look writes."""

import json
import time
from typing import ClassVar

import boto3
import pytest

from agreement_operator import failures
from agreement_operator.controller import error_watch
from agreement_operator.controller.error_watch import ErrorWatch
from agreement_operator.function import log_errors
from agreement_operator.label_studio_target.label_studio_api import LabelStudioProjects
from agreement_operator.label_studio_target.reconcile import ProjectLogs
from agreement_operator.lambda_target import cloudwatch_logs, cloudwatch_metrics
from agreement_operator.lambda_target.cloudwatch_metrics import FunctionMetrics
from agreement_operator.lambda_target.error_query import FunctionErrorQuery
from agreement_operator.lambda_target.usage import UsageBoard
from agreement_operator.sandbox.label_studio_server import LabelStudioServer

NAME = "custom-metric-labeling-fragile"


@pytest.fixture
def logs(config) -> cloudwatch_logs.FunctionLogs:
    return cloudwatch_logs.FunctionLogs(cloudwatch_logs.make_client(config.region))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> Clock:
    """The error watch's own clock (the query's poll times), moved by the tests."""
    fake = Clock()
    monkeypatch.setattr(error_watch, "time", fake)
    return fake


@pytest.fixture
def watch() -> ErrorWatch:
    return ErrorWatch(interval=300, spread_first=False)


def write(config, lines: list[str], name: str = NAME) -> None:
    client = boto3.client("logs", region_name=config.region)
    group = cloudwatch_logs.log_group(name)
    if not client.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        client.create_log_group(logGroupName=group)
        client.create_log_stream(logGroupName=group, logStreamName="2026/12/01/[$LATEST]abc")
    now = int(time.time() * 1000)
    client.put_log_events(logGroupName=group, logStreamName="2026/12/01/[$LATEST]abc",
                          logEvents=[{"timestamp": now + index, "message": line} for index, line in enumerate(lines)])


def wrapper_line(**error) -> str:
    return json.dumps({log_errors.LOG_KEY: error})


def look(watch, logs, previous=None, uid="uid-1"):
    """A full look as the periodic loop makes it: rounds until one writes a status (the query start writes
    none)."""
    started = watch.check(uid, FunctionErrorQuery(logs, NAME, 3600), previous)
    if started.status is not None:
        return started
    assert not watch.wanted(uid), "a running query's results are not asked for at every round"
    error_watch.time.now += error_watch.QUERY_POLL_SECONDS
    assert watch.wanted(uid), "a running query's results are asked for after QUERY_POLL_SECONDS"
    return watch.check(uid, FunctionErrorQuery(logs, NAME, 3600), previous)


class WaitingForItsTurn:
    """A reader whose Logs budget is spent: its turn is 40 s away."""

    scope: ClassVar[dict] = {}

    def look(self, pending):
        raise failures.QuotaWait("StartQuery has its turn in 40 s", 40.0)


def test_a_look_waiting_for_its_turn_at_the_logs_budget_comes_back_at_it_and_not_before(watch, monkeypatch):
    """Regression: a look whose turn was later stayed due, so every round (one a second) read the metric
    and asked the budget again: 336 reads a second with 5,000 metrics."""
    from agreement_operator.controller import schedule

    now = [5000.0]
    monkeypatch.setattr(schedule.time, "monotonic", lambda: now[0])
    assert watch.wanted("uid-1")
    assert watch.check("uid-1", WaitingForItsTurn(), None).status is None
    now[0] += 39
    assert not watch.wanted("uid-1")
    now[0] += 1
    assert watch.wanted("uid-1")


def test_a_function_never_invoked_writes_nothing_until_its_status_needs_correcting(watch, logs):
    check = watch.check("uid-1", FunctionErrorQuery(logs, NAME, 3600), None)
    assert (check.status, check.events) == (None, [])  # a new metric: no write at all (1,000 of them, none)
    assert not watch.wanted("uid-1")  # the next look is an interval away
    watch._schedule.done("uid-1", again_now=True)
    stale = {"window": "1h", "count": 2, "recent": [{"time": "t", "type": "KeyError", "message": "'x'"}]}
    check = watch.check("uid-1", FunctionErrorQuery(logs, NAME, 3600), stale)  # the log group went away
    assert check.status == {"window": "1h", "count": 0, "recent": [],
                            "message": f"no log group /aws/lambda/{NAME}: the function has not been invoked"}
    assert check.events == []


def test_errors_the_wrapper_logged_reach_the_status_and_one_warning(config, watch, logs):
    write(config, ["START RequestId: 1 Version: $LATEST",
                   wrapper_line(index=1, type="KeyError", message="'choices'", line=7),
                   "[ERROR] MetricError: KeyError: 'choices' (metric.py, line 7)",  # Lambda's copy: not twice
                   "2026-12-01T10:00:00.000Z 1 Task timed out after 30.00 seconds",
                   "END RequestId: 1"])
    first = watch.check("uid-1", FunctionErrorQuery(logs, NAME, 3600), None)
    assert (first.status, first.events) == (None, [])  # the query is started, nothing waits for it
    check = watch.check("uid-1", FunctionErrorQuery(logs, NAME, 3600), None)
    assert check.status["window"] == "1h" and check.status["count"] == 2
    assert [(error["type"], error.get("line")) for error in check.status["recent"]] == [
        ("KeyError", 7), ("Sandbox.Timedout", None)]
    assert check.status["recent"][0]["time"].endswith("Z")
    assert [(event.reason, event.warning) for event in check.events] == [("FunctionErrors", True)]
    assert check.new_errors == 2
    assert "Task timed out after 30.00 seconds (2 new errors)" in check.events[0].message

    watch._schedule.done("uid-1", again_now=True)  # the next interval
    again = look(watch, logs, previous=check.status)
    assert again.status == check.status and again.events == []  # nothing new: no write, no Event


def test_errors_older_than_the_window_are_left_out(config, logs):
    client = boto3.client("logs", region_name=config.region)
    group = cloudwatch_logs.log_group(NAME)
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="old")
    two_hours_ago = int((time.time() - 7200) * 1000)
    client.put_log_events(logGroupName=group, logStreamName="old", logEvents=[
        {"timestamp": two_hours_ago, "message": wrapper_line(type="KeyError", message="old", line=1)}])
    check = look(ErrorWatch(300, spread_first=False), logs)
    assert check.status["count"] == 0 and check.events == []


def test_logs_the_operator_may_not_read_are_said_in_status_naming_the_action(config, lambda_client_for_policy):
    write(config, [wrapper_line(type="KeyError", message="'x'", line=1)])
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "logs:GetQueryResults", "Resource": "*"}]}
    denied = cloudwatch_logs.FunctionLogs(lambda_client_for_policy(policy, service="logs"))
    watch = ErrorWatch(300, spread_first=False)
    check = watch.check("uid-1", FunctionErrorQuery(denied, NAME, 3600), None)
    assert check.status["count"] == 0
    assert "AWS denied logs:StartQuery" in check.status["message"]
    assert [event.reason for event in check.events] == ["FunctionErrorsUnreadable"]
    watch._schedule.done("uid-1", again_now=True)
    assert watch.check("uid-1", FunctionErrorQuery(denied, NAME, 3600), check.status).events == []  # said once


def logs_calls(logs: cloudwatch_logs.FunctionLogs) -> list[str]:
    """The operations the Logs client sends, in order."""
    sent: list[str] = []
    logs.client.meta.events.register("before-call.cloudwatch-logs", lambda model, **_: sent.append(model.name))
    return sent


def invocations(config, name: str, count: int) -> None:
    """Lambda's Invocations metric of `name`, as Lambda publishes it for each invocation."""
    boto3.client("cloudwatch", region_name=config.region).put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Invocations", "Dimensions": [{"Name": "FunctionName", "Value": name}], "Value": 1.0}
        for _ in range(count)])


@pytest.fixture
def board(config) -> UsageBoard:
    return UsageBoard(FunctionMetrics(cloudwatch_metrics.make_client(config.region)), 3600, 300)


def test_a_function_lambda_counted_no_invocation_of_costs_no_logs_call(config, watch, logs, board):
    """Regression: every Ready metric's look started a Logs Insights query, idle or not; with the session's
    metrics each looked at every 2 s, the Logs budget (2 calls/s) put a called function's look a minute out."""
    sent = logs_calls(logs)
    stale = {"window": "1h", "count": 2, "recent": [{"time": "t", "type": "KeyError", "message": "'x'"}]}
    check = watch.check("uid-1", FunctionErrorQuery(logs, NAME, 3600, board), stale)
    assert check.status == {"window": "1h", "count": 0, "recent": []}  # no invocation: no error in the window
    assert (check.events, sent) == ([], [])
    watch._schedule.done("uid-1", again_now=True)
    assert watch.check("uid-1", FunctionErrorQuery(logs, NAME, 3600, board), None).status is None  # a new metric


def test_a_function_lambda_counted_invocations_of_is_queried(config, logs, board):
    write(config, [wrapper_line(type="KeyError", message="'choices'", line=3)])
    invocations(config, NAME, 1)
    sent = logs_calls(logs)
    watch = ErrorWatch(300, spread_first=False)
    check = watch.check("uid-1", FunctionErrorQuery(logs, NAME, 3600, board), None)
    assert check.status is None and sent == ["StartQuery"]
    check = watch.check("uid-1", FunctionErrorQuery(logs, NAME, 3600, board), None)
    assert check.status["count"] == 1 and sent == ["StartQuery", "GetQueryResults"]


def test_invocations_it_may_not_read_leave_the_query_to_say(config, lambda_client_for_policy):
    write(config, [wrapper_line(type="KeyError", message="'x'", line=1)])
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}
    denied = UsageBoard(FunctionMetrics(lambda_client_for_policy(policy, service="cloudwatch")), 3600, 300)
    logs = cloudwatch_logs.FunctionLogs(lambda_client_for_policy(policy, service="logs"))
    sent = logs_calls(logs)
    assert ErrorWatch(300, spread_first=False).check("uid-1", FunctionErrorQuery(logs, NAME, 3600, denied),
                                                     None).status is None
    assert sent == ["StartQuery"]


def test_turned_off_it_never_looks():
    assert not ErrorWatch(0).wanted("uid-1")


@pytest.fixture
def studio_with_an_error():
    """A Label Studio server with a project whose function logged one KeyError; (server, projects, project)."""
    studio = LabelStudioServer(activation_seconds=0).start()
    try:
        project = studio.add_project()
        studio.add_log(project, "[ERROR] KeyError: 'choices'\nTraceback (most recent call last):\n"
                                '  File "/var/task/metric.py", line 4, in agreement')
        yield studio, LabelStudioProjects(studio.url, studio.legacy_token), project
    finally:
        studio.stop()


def test_a_projects_function_errors_come_from_its_logs_and_are_warned_about_once(studio_with_an_error):
    studio, projects, project = studio_with_an_error
    watch = ErrorWatch(300, spread_first=False)
    check = watch.check("uid-1", ProjectLogs(projects, project), None)
    assert check.status["count"] == 1 and check.status["since"]
    assert check.status["recent"][0]["type"] == "KeyError" and check.status["recent"][0]["line"] == 4
    assert [(event.reason, event.warning) for event in check.events] == [("FunctionErrors", True)]
    assert watch.check("uid-1", ProjectLogs(projects, project), check.status).events == []
    studio.stop()
    unreachable = watch.check("uid-1", ProjectLogs(projects, project), check.status)
    assert "cannot reach Label Studio" in unreachable.status["message"]


def test_a_failed_read_keeps_the_known_errors_and_none_is_announced_again(studio_with_an_error):
    """Regression: a failed read (a Logs 503, a Label Studio 401, a deleted project) set the count to 0 and the
    recent errors to none, and after recovery every error was announced again as new."""
    studio, projects, project = studio_with_an_error
    watch = ErrorWatch(300, spread_first=False)
    known = watch.check("uid-1", ProjectLogs(projects, project), None)
    assert [event.reason for event in known.events] == ["FunctionErrors"]
    studio.fail_next("GET function-logs", 401, {"detail": "Invalid token."}, times=2)
    failed = watch.check("uid-1", ProjectLogs(projects, project), known.status)
    assert (failed.status["count"], failed.status["recent"]) == (1, known.status["recent"])
    assert " could not be read at " in failed.status["message"] and "401" in failed.status["message"]
    assert [event.reason for event in failed.events] == ["FunctionErrorsUnreadable"]
    still = watch.check("uid-1", ProjectLogs(projects, project), failed.status)
    assert still.events == []  # the same cause, said once
    recovered = watch.check("uid-1", ProjectLogs(projects, project), still.status)
    assert recovered.events == [] and "message" not in recovered.status
    assert recovered.status["count"] == 1
