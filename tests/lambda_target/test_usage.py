"""Whether anyone calls a function: Lambda's metrics read from moto's CloudWatch in batches,
status.usage, and the NotInvoked Event once a day passes without an invocation."""

import datetime
import time

import boto3
import pytest

from agreement_operator.failures import PermanentFailure
from agreement_operator.lambda_target import cloudwatch_metrics, usage
from agreement_operator.lambda_target.cloudwatch_metrics import FunctionMetrics, Usage
from agreement_operator.lambda_target.usage import FunctionUsage, UsageBoard


@pytest.fixture
def client(config):
    return cloudwatch_metrics.make_client(config.region)


@pytest.fixture
def calls(client) -> list[int]:
    """The number of queries of each GetMetricData call the client sends."""
    sent: list[int] = []
    client.meta.events.register("provide-client-params.cloudwatch.GetMetricData",
                                lambda params, **_: sent.append(len(params["MetricDataQueries"])))
    return sent


def publish(config, name: str, metric: str, count: int) -> None:
    boto3.client("cloudwatch", region_name=config.region).put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": metric, "Dimensions": [{"Name": "FunctionName", "Value": name}], "Value": 1.0}
        for _ in range(count)])


def test_each_functions_invocations_errors_and_throttles_are_summed(config, client, calls):
    publish(config, "custom-metric-a", "Invocations", 3)
    publish(config, "custom-metric-a", "Errors", 1)
    publish(config, "custom-metric-b", "Throttles", 2)
    found = FunctionMetrics(client).usage(["custom-metric-a", "custom-metric-b", "custom-metric-never"], 3600)
    assert found == {"custom-metric-a": Usage(3, 1, 0), "custom-metric-b": Usage(0, 0, 2),
                     "custom-metric-never": Usage(0, 0, 0)}
    assert calls == [9]


def test_many_functions_take_one_call_per_166(config, client, calls):
    names = [f"custom-metric-f{index}" for index in range(400)]
    publish(config, names[-1], "Invocations", 1)
    found = FunctionMetrics(client).usage(names, 3600)
    assert calls == [498, 498, 204] and found[names[-1]].invocations == 1


class Counting(FunctionMetrics):
    def __init__(self, client) -> None:
        super().__init__(client)
        self.batches: list[list[str]] = []

    def usage(self, names, window, end=None):
        self.batches.append(list(names))
        return super().usage(names, window, end)


def test_the_first_look_of_an_interval_reads_every_function_and_the_others_reuse_it(client, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(usage.time, "monotonic", lambda: clock[0])
    metrics = Counting(client)
    board = UsageBoard(metrics, window=3600, interval=300)
    names = [f"custom-metric-f{index}" for index in range(3)]
    for name in names:
        board.keep(name)  # what the target deployed (after a restart: each resumed metric)
    for name in names:
        clock[0] += 10
        board.usage(name)
    assert metrics.batches == [names]  # one read for all three
    board.usage("custom-metric-new")  # a metric new in this interval: read alone
    clock[0] += 300
    for name in reversed(names):
        board.usage(name)
    assert metrics.batches[1] == ["custom-metric-new"]
    assert sorted(metrics.batches[2]) == sorted([*names, "custom-metric-new"])  # the looked-at function first
    board.forget("custom-metric-f0")
    clock[0] += 300
    board.usage("custom-metric-f1")
    assert "custom-metric-f0" not in metrics.batches[-1]


NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)


class Fixed:
    """A board that answers fixed numbers."""

    window = 3600.0

    def __init__(self, invocations: int = 0, failure: Exception | None = None) -> None:
        self.invocations, self.failure = invocations, failure

    def usage(self, name: str) -> Usage:
        if self.failure:
            raise self.failure
        return Usage(self.invocations, 0, 0)


def test_a_function_in_use_shows_its_numbers():
    look = FunctionUsage(Fixed(7), "custom-metric-a", "2026-11-01T00:00:00Z").look(None, NOW)
    assert look.status == {"window": "1h", "invocations": 7, "errors": 0, "throttles": 0} and look.events == []


def test_a_day_without_an_invocation_is_said_once():
    reader = FunctionUsage(Fixed(0), "custom-metric-a", "2026-11-01T00:00:00Z")
    first = reader.look(None, NOW)
    assert first.status["notInvokedSince"] == "2026-12-01T11:00:00Z" and first.events == []
    later = reader.look(first.status, NOW + datetime.timedelta(hours=22))  # idle 23 h: not yet a day
    assert later.status == first.status and later.events == []
    day = reader.look(later.status, NOW + datetime.timedelta(hours=25))
    assert [(event.reason, event.warning) for event in day.events] == [("NotInvoked", True)]
    assert "no Label Studio project seems to call it" in day.events[0].message
    assert day.status["notInvokedWarned"] is True
    assert reader.look(day.status, NOW + datetime.timedelta(hours=48)).events == []  # once
    invoked = FunctionUsage(Fixed(1), "custom-metric-a", None).look(day.status, NOW + datetime.timedelta(hours=49))
    assert "notInvokedSince" not in invoked.status  # invoked again: the clock starts over


def test_a_new_metric_is_not_idle_before_it_existed():
    look = FunctionUsage(Fixed(0), "custom-metric-a", "2026-12-01T11:50:00Z").look(None, NOW)
    assert look.status["notInvokedSince"] == "2026-12-01T11:50:00Z"


def test_numbers_that_cannot_be_read_are_said_in_status_and_warned_about_once():
    denied = PermanentFailure("AccessDenied", "AWS denied cloudwatch:GetMetricData on custom-metric-a; grant it")
    reader = FunctionUsage(Fixed(failure=denied), "custom-metric-a", None)
    first = reader.look(None, NOW)
    assert "cloudwatch:GetMetricData" in first.status["message"] and "invocations" not in first.status
    assert [event.reason for event in first.events] == ["UsageUnreadable"]
    assert reader.look(first.status, NOW).events == []



def test_a_failed_read_counts_as_the_intervals_read(client, monkeypatch, lambda_client_for_policy):
    """Regression: only a successful read was recorded, so with GetMetricData failing every look read the whole
    batch again (16 metrics looked at every 10 s made 38-53 calls per 30 s, against 3 when healthy)."""
    clock = [1000.0]
    monkeypatch.setattr(usage.time, "monotonic", lambda: clock[0])
    denied_client = lambda_client_for_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "logs:StartQuery", "Resource": "*"}]}, service="cloudwatch")
    metrics = Counting(denied_client)
    board = UsageBoard(metrics, window=3600, interval=300)
    names = [f"custom-metric-f{index}" for index in range(16)]
    for name in names:
        board.keep(name)
    for _ in range(3):  # three rounds of looks within one interval
        for name in names:
            clock[0] += 5
            with pytest.raises(PermanentFailure, match="GetMetricData"):
                board.usage(name)
    assert len(metrics.batches) == 1  # one failed read for the interval, as many calls as a healthy one
    clock[0] += 300
    with pytest.raises(PermanentFailure):
        board.usage(names[0])
    assert len(metrics.batches) == 2  # the next interval reads again


def test_the_numbers_known_stay_through_a_failed_read_and_the_failure_goes_with_it():
    """Regression: a failed read replaced the numbers with the message alone, and a later successful read left
    that message in status.usage beside fresh numbers (a merge patch keeps keys it is not given)."""
    known = FunctionUsage(Fixed(5), "custom-metric-a", None).look(None, NOW).status
    outage = PermanentFailure("ServiceUnavailable", "cloudwatch:GetMetricData answered 503 Service Unavailable")
    failed = FunctionUsage(Fixed(failure=outage), "custom-metric-a", None).look(known, NOW)
    assert failed.status["invocations"] == 5
    assert failed.status["message"] == ("the function's invocations could not be read at 2026-12-01T12:00:00Z: "
                                        "cloudwatch:GetMetricData answered 503 Service Unavailable")
    again = FunctionUsage(Fixed(failure=outage), "custom-metric-a", None).look(failed.status, NOW)
    assert again.events == []  # the same cause is warned about once
    recovered = FunctionUsage(Fixed(6), "custom-metric-a", None).look(failed.status, NOW)
    assert "message" not in recovered.status and recovered.status["invocations"] == 6



def test_a_read_of_many_functions_keeps_each_batch_when_the_next_must_wait_its_turn(client, calls):
    """Regression: 1,000 functions are 7 GetMetricData calls, more than the CloudWatch budget (5/s) lets go at
    once; the call that had to wait its turn threw the whole read away, the next look started it again, and
    a healthy interval cost 257 calls instead of 7 (benchmarks/faults.py)."""
    from agreement_operator.failures import QuotaWait
    from agreement_operator.lambda_target.budget import Budget

    board = UsageBoard(FunctionMetrics(client, budget=Budget("cloudwatch", 5.0)), window=3600, interval=300)
    names = [f"custom-metric-f{index:04d}" for index in range(1000)]
    for name in names:
        board.keep(name)
    waits = 0
    for name in names:  # every metric's look in one interval, a few a second as the periodic loop makes them
        while True:
            try:
                board.usage(name)
                break
            except QuotaWait as turn:
                waits += 1
                assert waits < 20, f"{len(calls)} calls and still waiting: each wait started the read over"
                time.sleep(turn.delay)
    assert len(calls) == 7, calls  # one call per 166 functions, whatever waited its turn
