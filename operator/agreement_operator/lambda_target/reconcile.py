"""Bring one metric's Lambda function to its desired state, one pass at a time, and remove it on delete.

Plain functions over a LambdaFunctions; the kopf handlers only call these and write the
Outcome back. A pass never sleeps: it reads the function once, makes at most one change
(create, code, configuration, or tags), and uses what Lambda answered. While Lambda is
still applying a change, the pass ends Reconciling (FunctionUpdating) and the handler
comes back after a short, growing delay. So code and configuration are never updated in
one step, and a slow function holds no worker.
"""

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agreement_operator import aws_connections, failures, target
from agreement_operator.aws_connections import AwsConnection
from agreement_operator.config import Config
from agreement_operator.function import smoke_tests
from agreement_operator.lambda_target import ownership, smoke_testing
from agreement_operator.lambda_target.desired import DesiredFunction, desired_function
from agreement_operator.lambda_target.lambda_api import DeployedFunction, LambdaFunctions
from agreement_operator.metric import naming
from agreement_operator.metric.owner import Owner
from agreement_operator.metric.spec import MetricSpec
from agreement_operator.target import Event, Outcome, Phase, Request


@dataclass(frozen=True)
class Placement:
    """Where a metric's function goes (its AWS connection, and that account's functions), and how to reach one it
    recorded elsewhere: `elsewhere` takes a function's ARN and gives the functions of its account and region (None:
    no connection of this operator reaches it); a bare name, recorded before ARNs were, is in `default`'s."""

    connection: AwsConnection | None  # None: the metric names a connection this operator lacks (delete only)
    functions: LambdaFunctions | None  # the connection's; None with it
    elsewhere: Callable[[str], LambdaFunctions | None]
    default: AwsConnection | None

    @classmethod
    def alone(cls, functions: LambdaFunctions, connection: AwsConnection | None) -> "Placement":
        """One account and region holds every function (`connection`: its own)."""
        return cls(connection, functions, lambda entry: functions, connection)


def reconcile(request: Request, place: Placement | LambdaFunctions, config: Config) -> Outcome:
    """One pass; `place` as LambdaFunctions alone: the default connection's account holds every function."""
    if not isinstance(place, Placement):
        place = Placement.alone(place, config.aws_connections[aws_connections.DEFAULT])
    assert place.connection is not None and place.functions is not None, "a pass deploys to a connection it has"
    events: list[Event] = []
    functions = place.functions
    owned = known_functions(request, place.default)
    previous_tests = request.status.get("tests")
    try:
        resolved, spec, desired = _desired(request, place.connection)
        arn = place.connection.function_arn(desired.name)
        new_name = arn not in owned
        if new_name:
            owned.append(arn)
        if request.attempt == 0 and (expected := _change_expected(request, desired, arn)):
            functions.prepay(expected, desired.name)  # QuotaWait writes the names (below) with the turn
        if new_name and request.write_status is not None:
            request.write_status({"functionNames": recorded(owned, place.default)})
        function = _converge(desired, request, config, functions, events)
        if spec.warnings and any(event.reason in ("Created", "CodeUpdated") for event in events):
            events.append(Event("CodeWarning", "; ".join(spec.warnings), warning=True))
        unreachable = [old for old in owned if old != arn
                       and not _retire(old, request.owner, spec.deletion_policy, place, events)]
        owned = [arn, *unreachable]
        report = smoke_testing.run(function, resolved.get("tests") or [], previous_tests, functions, events,
                                   request.attempt)
    except failures.ReconcileFailure as failure:
        status: dict = {"functionNames": recorded(owned, place.default)}
        if isinstance(failure, failures.InProgress):  # the function as Lambda described it, and the last results
            status["tests"] = dict(previous_tests) if previous_tests else None
        return target.failed(failure, request.attempt, events, status)
    # tests: None removes results of tests that are no longer in the spec
    status = {**function.as_status(), "tests": report.as_status() if report else None,
              "functionNames": recorded(owned, place.default)}
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


def deployed_as_specified(request: Request, connection: AwsConnection, default: AwsConnection | None) -> bool:
    """Whether the spec would deploy exactly the function status describes: a restart needs no AWS call then.

    Drift made in AWS while the operator was down is found by the next resync.
    """
    try:
        desired = _desired(request, connection)[2]
    except failures.ReconcileFailure:
        return False
    arn = connection.function_arn(desired.name)
    deployed = (request.status.get("functionArn"), request.status.get("codeSha256"))
    return (arn, desired.code_sha256) == deployed and known_functions(request, default) == [arn]


def _desired(request: Request, connection: AwsConnection) -> tuple[dict, MetricSpec, DesiredFunction]:
    """The spec with its code resolved, parsed, and the function it asks for; PermanentFailure when invalid."""
    resolved = target.resolved_spec(request)
    spec = target.parsed(resolved)
    return resolved, spec, desired_function(spec, request.owner, connection.execution_role_arn)


def _change_expected(request: Request, desired: DesiredFunction, arn: str) -> str | None:
    """The call a pass will likely make, when status says the function is not yet the desired code."""
    if request.status.get("functionArn") != arn:
        return "CreateFunction"
    return "UpdateFunctionCode" if request.status.get("codeSha256") != desired.code_sha256 else None


def known_functions(request: Request, default: AwsConnection | None) -> list[str]:
    """The ARNs recorded in status (functionArn too, for metrics deployed before names were recorded); a bare
    name, as recorded before 0.2.0, read as the `default` connection's (kept bare without one)."""
    status = request.status
    recorded = [*(status.get("functionNames") or ()), status.get("functionArn") or status.get("functionName")]
    return list(dict.fromkeys(default.function_arn(entry) if default and not is_arn(entry) else entry
                              for entry in recorded if entry))


def recorded(arns: list[str], default: AwsConnection | None) -> list[str]:
    """status.functionNames as written: the default connection's functions by bare name, as 0.1.0 wrote and reads
    them (so a rollback to it finds its own functions), every other account's by ARN."""
    prefix = default.function_arn("") if default else None
    return [arn.removeprefix(prefix) if prefix and arn.startswith(prefix) else arn for arn in arns]


def is_arn(entry: str) -> bool:
    return entry.startswith("arn:")


def name_of(entry: str) -> str:
    """A function's name, from its ARN or its bare name."""
    return entry.rsplit(":", 1)[-1]


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


def _retire(old: str, owner: Owner, policy: str, place: Placement, events: list[Event]) -> bool:
    """The function moved (a new prefix, or another connection): remove the old one (kept under Retain). False
    when no connection reaches it: it stays recorded, so that it is not forgotten."""
    if policy == "Retain":
        events.append(Event("Retained", f"kept the function {old} (deletionPolicy Retain)"))
        return True
    functions = place.elsewhere(old)
    if functions is None:
        events.append(Event("FunctionUnreachable", f"function {old} is in an account or region no AWS connection of "
                            "this operator reaches; it stays in status.functionNames until one does, or delete it "
                            "there yourself and remove it from the list", warning=True))
        return False
    ownership.delete_if_ours(name_of(old), owner, functions, events)
    return True


def delete(request: Request, place: Placement | LambdaFunctions) -> list[Event]:
    """Remove every function the metric may own unless the policy says Retain. One already gone is fine.
    Without the metric's connection (place.connection None), what it recorded is still removed."""
    if not isinstance(place, Placement):
        place = Placement.alone(place, None)
    connection, elsewhere, default = place.connection, place.elsewhere, place.default
    spec = request.spec
    if spec.get("deletionPolicy") == "Retain":
        deployed = request.status.get("functionArn") or request.status.get("functionName")
        return [Event("Retained", f"kept function {deployed or '(none)'} (deletionPolicy Retain)")]
    events: list[Event] = []
    recorded = known_functions(request, default)
    if naming.prefix_problem(spec.get("prefix")) is None:
        name = naming.function_name(spec.get("prefix"), request.owner.namespace, request.owner.name)
        recorded.append(connection.function_arn(name) if connection else name)
    for entry in dict.fromkeys(recorded):
        functions = elsewhere(entry)
        if functions is None:
            events.append(Event("FunctionUnreachable", f"function {entry} is in an account or region no AWS "
                                "connection of this operator reaches: delete it there yourself", warning=True))
            continue
        ownership.delete_if_ours(name_of(entry), request.owner, functions, events)
    return events
