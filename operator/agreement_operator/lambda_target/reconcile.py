"""Bring one metric's Lambda function to its desired state, one pass at a time, and remove it on delete.

Plain functions over a LambdaFunctions; the kopf handlers only call these and write the
Outcome back. A pass never sleeps: it reads the function once, makes at most one change
(create, code, configuration, or tags), and uses what Lambda answered. While Lambda is
still applying a change, the pass ends Reconciling (FunctionUpdating) and the handler
comes back after a short, growing delay. So code and configuration are never updated in
one step, and a slow function holds no worker.
"""

import dataclasses
from collections.abc import Mapping

from agreement_operator import failures, target
from agreement_operator.config import Config
from agreement_operator.function import smoke_tests
from agreement_operator.lambda_target import ownership, smoke_testing
from agreement_operator.lambda_target.desired import DesiredFunction, desired_function
from agreement_operator.lambda_target.lambda_api import DeployedFunction, LambdaFunctions
from agreement_operator.metric import naming
from agreement_operator.metric.owner import Owner
from agreement_operator.metric.spec import MetricSpec
from agreement_operator.target import Event, Outcome, Phase, Request


def reconcile(request: Request, functions: LambdaFunctions, config: Config) -> Outcome:
    events: list[Event] = []
    owned = _known_names(request)
    previous_tests = request.status.get("tests")
    try:
        resolved, spec, desired = _desired(request, config)
        new_name = desired.name not in owned
        if new_name:
            owned.append(desired.name)
        if request.attempt == 0 and (expected := _change_expected(request, desired)):
            functions.prepay(expected, desired.name)  # QuotaWait writes the names (below) with the turn
        if new_name and request.write_status is not None:
            request.write_status({"functionNames": owned})
        function = _converge(desired, request, config, functions, events)
        if spec.warnings and any(event.reason in ("Created", "CodeUpdated") for event in events):
            events.append(Event("CodeWarning", "; ".join(spec.warnings), warning=True))
        for name in owned:
            if name != desired.name:
                _retire(name, request.owner, spec.deletion_policy, functions, events)
        owned = [desired.name]
        report = smoke_testing.run(function, resolved.get("tests") or [], previous_tests, functions, events,
                                   request.attempt)
    except failures.ReconcileFailure as failure:
        status: dict = {"functionNames": owned}
        if isinstance(failure, failures.InProgress):  # the function as Lambda described it, and the last results
            status["tests"] = dict(previous_tests) if previous_tests else None
        return target.failed(failure, request.attempt, events, status)
    # tests: None removes results of tests that are no longer in the spec
    status = {**function.as_status(), "tests": report.as_status() if report else None, "functionNames": owned}
    if report and report.failed:
        return Outcome(Phase.STALLED, "SmokeTestsFailed", smoke_tests.describe_failures(report), events,
                       status=status)
    idle = ("; Lambda restores it on its next invoke (it was idle)" if function.idle
            else "; Lambda is restoring it after an invoke (it was idle)" if function.restoring else "")
    passed = f"; {len(report.results)} smoke tests passed" if report else ""
    warnings = "".join(f"; warning: {warning}" for warning in spec.warnings)
    return Outcome(
        Phase.READY, "Deployed",
        f"function {function.name} is {function.state} with CodeSha256 {function.code_sha256}{idle}{passed}"
        f"{warnings}",
        events, status=status,
    )


def deployed_as_specified(request: Request, config: Config) -> bool:
    """Whether the spec would deploy exactly the function status describes: a restart needs no AWS call then.

    Drift made in AWS while the operator was down is found by the next resync.
    """
    try:
        desired = _desired(request, config)[2]
    except failures.ReconcileFailure:
        return False
    deployed = (request.status.get("functionName"), request.status.get("codeSha256"))
    return (desired.name, desired.code_sha256) == deployed and _known_names(request) == [desired.name]


def _desired(request: Request, config: Config) -> tuple[dict, MetricSpec, DesiredFunction]:
    """The spec with its code resolved, parsed, and the function it asks for; PermanentFailure when invalid."""
    resolved = target.resolved_spec(request)
    spec = target.parsed(resolved)
    return resolved, spec, desired_function(spec, request.owner, config)


def _change_expected(request: Request, desired: DesiredFunction) -> str | None:
    """The call a pass will likely make, when status says the function is not yet the desired code."""
    if request.status.get("functionName") != desired.name:
        return "CreateFunction"
    return "UpdateFunctionCode" if request.status.get("codeSha256") != desired.code_sha256 else None


def _known_names(request: Request) -> list[str]:
    """Names recorded in status; functionName too, for metrics deployed before names were recorded."""
    status = request.status
    return list(dict.fromkeys(filter(None, [*(status.get("functionNames") or ()), status.get("functionName")])))


def _converge(
    desired: DesiredFunction, request: Request, config: Config, functions: LambdaFunctions, events: list[Event]
) -> DeployedFunction:
    """One pass: the function once it is as desired; InProgress while Lambda is busy or a change remains."""
    current = functions.read(desired.name)
    if current is None:
        created = functions.create(desired.name, desired.zip_bytes, desired.configuration, desired.tags)
        if created is not None:
            events.append(Event("Created", f"created function {desired.name} with CodeSha256 {desired.code_sha256}"))
            return _settled(created, request.attempt)
        # Created since the read: by the replica this one took over from, mid-pass, or by someone else,
        # whose function the ownership check below refuses.
        current = functions.read(desired.name)
        if current is None:
            raise failures.RetryableFailure("FunctionConflict", f"function {desired.name} was created and "
                                            "deleted by someone else while this pass deployed it")
    ownership.claim(current, request, config, events)
    change = _next_change(current, desired)
    if change is None and current.restoring and current.last_update_status == "Successful":
        return current  # deployed as specified; an invoke woke it and Lambda is restoring it
    if current.busy:
        _settled(current, request.attempt)
    if change is None:
        return _settled(current, request.attempt)
    changed = _settled(_apply(change, current, desired, functions, events), request.attempt)
    if remaining := _next_change(changed, desired):
        raise failures.InProgress("FunctionUpdating", f"updated the {change} of {desired.name}; its {remaining} next",
                                delay=0.0, status=changed.as_status())
    return changed


def _settled(function: DeployedFunction, attempt: int) -> DeployedFunction:
    """The function if Lambda has applied everything; FunctionFailed or InProgress otherwise."""
    if function.failed:
        reason = function.state_reason or f"State={function.state}, LastUpdateStatus={function.last_update_status}"
        raise failures.PermanentFailure("FunctionFailed", f"Lambda could not apply function {function.name}: {reason}")
    if function.busy:
        raise failures.InProgress(
            "FunctionUpdating",
            f"function {function.name} is {function.state} (last update {function.last_update_status}); "
            "checking again shortly",
            delay=failures.progress_delay(attempt), status=function.as_status(),
        )
    return function


def _next_change(current: DeployedFunction, desired: DesiredFunction) -> str | None:
    """What differs first, in the order changes are made: code, configuration, tags."""
    if current.code_sha256 != desired.code_sha256:
        return "code"
    if configuration_drift(current, desired):
        return "configuration"
    if any(tag_drift(current.tags, desired.tags)):
        return "tags"
    return None


def _apply(
    change: str, current: DeployedFunction, desired: DesiredFunction, functions: LambdaFunctions,
    events: list[Event],
) -> DeployedFunction:
    """Make one change; the function as Lambda answered (tags: as they now are)."""
    # Each Event once Lambda took the change: a call throttled, or waiting its turn at the quota, deployed nothing.
    if change == "code":
        updated = functions.update_code(current, desired.zip_bytes)
        events.append(Event("CodeUpdated", f"deployed CodeSha256 {desired.code_sha256} to {desired.name}"))
        return updated
    if change == "configuration":
        drift = configuration_drift(current, desired)
        updated = functions.update_configuration(current, drift)
        events.append(Event("ConfigurationUpdated", f"updated {', '.join(sorted(drift))} of {desired.name}"))
        return updated
    to_set, to_remove = tag_drift(current.tags, desired.tags)
    if to_set:
        functions.tag(current.arn, to_set)
    if to_remove:
        functions.untag(current.arn, to_remove)
    events.append(Event("TagsUpdated", _describe_tag_change(to_set, to_remove, desired.name)))
    kept = {key: value for key, value in current.tags.items() if key not in to_remove}
    return dataclasses.replace(current, tags={**kept, **to_set})


def configuration_drift(current: DeployedFunction, desired: DesiredFunction) -> dict[str, object]:
    return {
        key: value for key, value in desired.configuration.items()
        if current.configuration.get(key) != value
    }


def tag_drift(current: Mapping[str, str], desired: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Tags to set and keys to remove so that the function has exactly `desired` (aws: keys aside)."""
    to_set = {key: value for key, value in desired.items() if current.get(key) != value}
    to_remove = sorted(key for key in current if key not in desired and not key.startswith("aws:"))
    return to_set, to_remove


def _describe_tag_change(to_set: Mapping[str, str], to_remove: list[str], name: str) -> str:
    parts = []
    if to_set:
        parts.append("set " + ", ".join(sorted(to_set)))
    if to_remove:
        parts.append("removed " + ", ".join(to_remove))
    return f"tags of {name}: {'; '.join(parts)}"


def _retire(name: str, owner: Owner, policy: str, functions: LambdaFunctions, events: list[Event]) -> None:
    """The function name changed (new prefix): remove the function under the old name (kept under Retain)."""
    if policy == "Retain":
        events.append(Event("Retained", f"kept the function under the old name {name} (deletionPolicy Retain)"))
        return
    ownership.delete_if_ours(name, owner, functions, events)


def delete(request: Request, functions: LambdaFunctions) -> list[Event]:
    """Remove every function the metric may own unless the policy says Retain. One already gone is fine."""
    spec = request.spec
    if spec.get("deletionPolicy") == "Retain":
        deployed = request.status.get("functionName")
        return [Event("Retained", f"kept function {deployed or '(none)'} (deletionPolicy Retain)")]
    events: list[Event] = []
    names = _known_names(request)
    if naming.prefix_problem(spec.get("prefix")) is None:
        names.append(naming.function_name(spec.get("prefix"), request.owner.namespace, request.owner.name))
    for name in dict.fromkeys(names):
        ownership.delete_if_ours(name, request.owner, functions, events)
    return events
