"""Smoke tests of a deployed function: spec.tests invoked once per code and tests, and the wait
while Lambda cannot run the function yet.

Invoke fails while Lambda restores an idle (Inactive) function: 502 ResourceNotReadyException,
then 409 ResourceConflictException while it is Pending. It fails for a minute or two after a
deploy (409 CodeArtifactUserPendingException), and over the invoke quota (429). None of these
is a failed test. The pass ends Reconciling (SmokeTestsWaiting), status.tests says what Lambda
answered, and the tests are tried again after a short, growing delay; the first of those
invokes is what starts the restore. After PATIENCE_SECONDS of waiting for the same code and
tests, the metric is Stalled (SmokeTestsNotRun) with Lambda's last answer.
"""

import datetime
from collections.abc import Mapping

from agreement_operator import failures
from agreement_operator.function import smoke_tests
from agreement_operator.lambda_target.aws_errors import NOT_READY_FOR_INVOKE
from agreement_operator.lambda_target.lambda_api import DeployedFunction, LambdaFunctions
from agreement_operator.target import Event

PATIENCE_SECONDS = 600.0
_THROTTLED = "TooManyRequestsException"


def run(function: DeployedFunction, tests: list, previous: Mapping | None, functions: LambdaFunctions,
        events: list[Event], attempt: int, now: datetime.datetime | None = None) -> smoke_tests.Report | None:
    """The report of spec.tests on this code: the last one when these tests already ran on it, else a
    new one; InProgress while Lambda cannot run the function yet."""
    if not tests:
        return None
    wanted = smoke_tests.digest(function.code_sha256, tests)
    if previous and previous.get("digest") == wanted:
        return smoke_tests.Report.from_status(previous)
    try:
        report = smoke_tests.run(tests, lambda event: functions.invoke(function.name, event), wanted)
    except failures.RetryableFailure as failure:
        if failure.reason not in NOT_READY_FOR_INVOKE:
            raise
        raise _waiting(function, len(tests), wanted, previous, failure, events, attempt,
                       now or datetime.datetime.now(datetime.UTC)) from failure
    if report.failed:
        events.append(Event("SmokeTestsFailed", smoke_tests.describe_failures(report), warning=True))
    else:
        events.append(Event("SmokeTestsPassed", f"{len(report.results)} smoke tests passed on {function.name}"))
    return report


def _waiting(function: DeployedFunction, total: int, wanted: str, previous: Mapping | None,
             answer: failures.RetryableFailure, events: list[Event], attempt: int,
             now: datetime.datetime) -> failures.ReconcileFailure:
    """InProgress while the wait is young; PermanentFailure (SmokeTestsNotRun) past PATIENCE_SECONDS."""
    previous = previous or {}
    waited_before = previous.get("waitingFor") == wanted and previous.get("waitingSince")
    since = datetime.datetime.fromisoformat(waited_before) if waited_before else now
    lambda_said = f"Lambda answered {answer.reason}: {answer.message}"
    status = {**function.as_status(), "tests": {
        "total": total, "passed": 0, "failed": 0, "summary": "waiting", "results": [],
        "message": f"the tests wait for Lambda to run function {function.name}: {lambda_said}",
        "waitingFor": wanted, "waitingSince": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }}
    waited = (now - since).total_seconds()
    if waited > PATIENCE_SECONDS:
        return failures.PermanentFailure(
            "SmokeTestsNotRun",
            f"the smoke tests could not run on function {function.name} for {waited / 60:.0f} minutes; last, "
            f"{lambda_said}; look at the function in the Lambda console, then change the resource (or annotate "
            "it) to try again",
            status=status,
        )
    if not waited_before:
        events.append(Event("SmokeTestsWaiting", status["tests"]["message"]))
    if answer.delay is not None:
        delay = answer.delay
    elif answer.reason == _THROTTLED:
        delay = failures.backoff(attempt)
    else:
        delay = failures.progress_delay(attempt)
    return failures.InProgress("SmokeTestsWaiting", status["tests"]["message"] + "; trying again shortly",
                               delay=delay, status=status)
