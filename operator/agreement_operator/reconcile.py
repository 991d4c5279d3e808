"""Bring one metric's Lambda function to its desired state, one pass at a time, and remove it on delete.

Plain functions over a LambdaFunctions; the kopf handlers only call these and write the
Outcome back. A pass never sleeps: it reads the function once, makes at most one change
(create, code, configuration, or tags), and uses what Lambda answered. While Lambda is
still applying a change, the pass ends Reconciling (FunctionUpdating) and the handler
comes back after a short, growing delay. So code and configuration are never updated in
one step, and a slow function holds no worker.
"""

import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from agreement_operator import configmap_code, errors, metric_spec, naming, smoke_tests, tags
from agreement_operator.config import Config
from agreement_operator.crd import ADOPT_ANNOTATION
from agreement_operator.desired import DesiredFunction, desired_function
from agreement_operator.lambda_api import DeployedFunction, LambdaFunctions


class Phase(enum.Enum):
    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"


@dataclass(frozen=True)
class Event:
    reason: str
    message: str
    warning: bool = False


@dataclass(frozen=True)
class Request:
    """One metric as the reconciler sees it."""

    spec: Mapping
    owner: tags.Owner
    adopt: bool = False
    deployed_name: str | None = None  # status.functionName: what an earlier reconcile deployed
    read_configmap: configmap_code.ConfigMapReader | None = None  # for spec.codeFrom
    previous_tests: Mapping | None = None  # status.tests: results of the last smoke tests
    # status.functionNames: every name this metric may own a function under.
    owned_names: Sequence[str] = ()
    # Persists owned names before a function is created under a new one (the operator may die right after).
    record_names: Callable[[list[str]], None] | None = None
    attempt: int = 0  # passes so far in this round of retries: the delays grow with it


@dataclass
class Outcome:
    phase: Phase
    reason: str
    message: str
    function: DeployedFunction | None = None
    events: list[Event] = field(default_factory=list)
    retry_delay: float | None = None
    tests: dict | None = None  # status.tests, when the function was checked
    owned_names: list[str] | None = None  # status.functionNames, when known
    label_studio: dict | None = None  # status.labelStudio: the project's function, for spec.labelStudio


def reconcile(request: Request, functions: LambdaFunctions, config: Config) -> Outcome:
    events: list[Event] = []
    owned = _known_names(request)
    try:
        resolved, spec, desired = _desired(request, config)
        if desired.name not in owned:
            owned.append(desired.name)
            if request.record_names is not None:
                request.record_names(owned)
        function = _converge(desired, request, config, functions, events)
        if spec.warnings and any(event.reason in ("Created", "CodeUpdated") for event in events):
            events.append(Event("CodeWarning", "; ".join(spec.warnings), warning=True))
        for name in owned:
            if name != desired.name:
                _retire(name, request.owner, spec.deletion_policy, functions, events)
        owned = [desired.name]
        report = _smoke_test(function, resolved.get("tests") or [], request.previous_tests, functions, events)
    except errors.PermanentFailure as failure:
        events.append(Event(failure.reason, failure.message, warning=True))
        return Outcome(Phase.STALLED, failure.reason, failure.message, events=events, owned_names=owned)
    except errors.InProgress as progress:
        busy = progress.function if isinstance(progress.function, DeployedFunction) else None
        previous_tests = dict(request.previous_tests) if request.previous_tests else None
        return Outcome(Phase.RECONCILING, progress.reason, progress.message, function=busy, events=events,
                       retry_delay=progress.delay, owned_names=owned, tests=previous_tests)
    except errors.RetryableFailure as failure:
        events.append(Event(failure.reason, failure.message, warning=True))
        delay = failure.delay if failure.delay is not None else errors.backoff(request.attempt)
        return Outcome(Phase.RECONCILING, failure.reason, failure.message, events=events,
                       retry_delay=delay, owned_names=owned)
    tests = report.as_status() if report else None
    if report and report.failed:
        return Outcome(Phase.STALLED, "SmokeTestsFailed", smoke_tests.describe_failures(report),
                       function=function, events=events, tests=tests, owned_names=owned)
    passed = f"; {len(report.results)} smoke tests passed" if report else ""
    warnings = "".join(f"; warning: {warning}" for warning in spec.warnings)
    return Outcome(
        Phase.READY, "Deployed",
        f"function {function.name} is {function.state} with CodeSha256 {function.code_sha256}{passed}{warnings}",
        function=function, events=events, tests=tests, owned_names=owned,
    )


def deployed_as_specified(request: Request, config: Config, deployed_sha256: str | None) -> bool:
    """Whether the spec would deploy exactly the function status describes: a restart needs no AWS call then.

    Drift made in AWS while the operator was down is found by the next resync.
    """
    try:
        desired = _desired(request, config)[2]
    except errors.ReconcileFailure:
        return False
    return (desired.name, desired.code_sha256) == (request.deployed_name, deployed_sha256) and \
        _known_names(request) == [desired.name]


def _desired(request: Request, config: Config) -> tuple[dict, metric_spec.MetricSpec, DesiredFunction]:
    """The spec with its code resolved, parsed, and the function it asks for; PermanentFailure when invalid."""
    resolved = resolved_spec(request)
    spec, problems = metric_spec.parse(resolved)
    if spec is None:
        raise errors.PermanentFailure(problems[0].reason, "; ".join(str(problem) for problem in problems))
    return resolved, spec, desired_function(spec, request.owner, config)


def resolved_spec(request: Request) -> dict:
    """The spec with spec.codeFrom replaced by the code it names."""
    return configmap_code.resolve(request.spec, request.owner.namespace, _reader(request))


def _known_names(request: Request) -> list[str]:
    """Names recorded in status; functionName too, for metrics deployed before names were recorded."""
    return list(dict.fromkeys(filter(None, [*request.owned_names, request.deployed_name])))


def _smoke_test(
    function: DeployedFunction, tests: list, previous: Mapping | None, functions: LambdaFunctions,
    events: list[Event],
) -> smoke_tests.Report | None:
    """Invoke the deployed function with spec.tests, unless these tests already ran on this code."""
    if not tests:
        return None
    wanted = smoke_tests.digest(function.code_sha256, tests)
    if previous and previous.get("digest") == wanted:
        return smoke_tests.Report.from_status(previous)

    report = smoke_tests.run(tests, lambda event: functions.invoke(function.name, event), wanted)
    if report.failed:
        events.append(Event("SmokeTestsFailed", smoke_tests.describe_failures(report), warning=True))
    else:
        events.append(Event("SmokeTestsPassed", f"{len(report.results)} smoke tests passed on {function.name}"))
    return report


def _reader(request: Request) -> configmap_code.ConfigMapReader:
    if request.read_configmap is not None:
        return request.read_configmap

    def unavailable(namespace: str, name: str) -> None:
        raise errors.PermanentFailure("CodeFromUnavailable", f"cannot read ConfigMap {namespace}/{name} here")

    return unavailable


def _converge(
    desired: DesiredFunction, request: Request, config: Config, functions: LambdaFunctions, events: list[Event]
) -> DeployedFunction:
    """One pass: the function once it is as desired; InProgress while Lambda is busy or a change remains."""
    current = functions.read(desired.name)
    if current is None:
        created = functions.create(desired.name, desired.zip_bytes, desired.configuration, desired.tags)
        events.append(Event("Created", f"created function {desired.name} with CodeSha256 {desired.code_sha256}"))
        return _settled(created, request.attempt)
    _claim(current, request, config, events)
    if current.busy:
        _settled(current, request.attempt)
    change = _next_change(current, desired)
    if change is None:
        return _settled(current, request.attempt)
    changed = _settled(_apply(change, current, desired, functions, events), request.attempt)
    if remaining := _next_change(changed, desired):
        raise errors.InProgress("FunctionUpdating", f"updated the {change} of {desired.name}; its {remaining} next",
                                delay=0.0, function=changed)
    return changed


def _settled(function: DeployedFunction, attempt: int) -> DeployedFunction:
    """The function if Lambda has applied everything; FunctionFailed or InProgress otherwise."""
    if function.failed:
        reason = function.state_reason or f"State={function.state}, LastUpdateStatus={function.last_update_status}"
        raise errors.PermanentFailure("FunctionFailed", f"Lambda could not apply function {function.name}: {reason}")
    if function.busy:
        raise errors.InProgress(
            "FunctionUpdating",
            f"function {function.name} is {function.state} (last update {function.last_update_status}); "
            "checking again shortly",
            delay=errors.progress_delay(attempt), function=function,
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
    if change == "code":
        events.append(Event("CodeUpdated", f"deployed CodeSha256 {desired.code_sha256} to {desired.name}"))
        return functions.update_code(current, desired.zip_bytes)
    if change == "configuration":
        drift = configuration_drift(current, desired)
        events.append(Event("ConfigurationUpdated", f"updated {', '.join(sorted(drift))} of {desired.name}"))
        return functions.update_configuration(current, drift)
    to_set, to_remove = tag_drift(current.tags, desired.tags)
    if to_set:
        functions.tag(current.arn, to_set)
    if to_remove:
        functions.untag(current.arn, to_remove)
    events.append(Event("TagsUpdated", _describe_tag_change(to_set, to_remove, desired.name)))
    kept = {key: value for key, value in current.tags.items() if key not in to_remove}
    return dataclasses.replace(current, tags={**kept, **to_set})


def _claim(current: DeployedFunction, request: Request, config: Config, events: list[Event]) -> None:
    """Refuse to touch a function that belongs to someone else, or that this namespace may not adopt."""
    owner = tags.ownership(current.tags, request.owner)
    if owner is tags.Ownership.OURS:
        return
    if owner is tags.Ownership.ELSEWHERE:
        raise errors.PermanentFailure(
            "FunctionOwnedElsewhere",
            f"function {current.name} belongs to AgreementMetric {tags.describe_owner(current.tags)}; "
            "change spec.prefix to deploy under another name, or delete the other resource",
        )
    if not request.adopt:
        raise errors.PermanentFailure(
            "FunctionNotManaged",
            f"function {current.name} exists and was not created by agreement-operator; "
            f"to take it over, annotate this resource with {ADOPT_ANNOTATION}: \"true\", "
            "or change spec.prefix to deploy under another name",
        )
    if not config.may_adopt(request.owner.namespace):
        raise errors.PermanentFailure(
            "AdoptionNotAllowed",
            f"function {current.name} exists and was not created by agreement-operator, and namespace "
            f"{request.owner.namespace} may not adopt functions; ask the operator's administrators to add it "
            "to the adoptNamespaces setting (AGREEMENT_OPERATOR_ADOPT_NAMESPACES), or change spec.prefix",
        )
    events.append(Event("Adopted", f"adopted existing function {current.name}"))


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


def _retire(name: str, owner: tags.Owner, policy: str, functions: LambdaFunctions, events: list[Event]) -> None:
    """The function name changed (new prefix): remove the function under the old name (kept under Retain)."""
    if policy == "Retain":
        events.append(Event("Retained", f"kept the function under the old name {name} (deletionPolicy Retain)"))
        return
    _delete_if_ours(name, owner, functions, events)


def _delete_if_ours(name: str, owner: tags.Owner, functions: LambdaFunctions, events: list[Event]) -> None:
    current = functions.read(name)
    if current is None:
        return
    if tags.ownership(current.tags, owner) is not tags.Ownership.OURS:
        events.append(Event(
            "NotDeleted", f"left function {name} in place: it belongs to {tags.describe_owner(current.tags)}"
        ))
        return
    if functions.delete(name):
        events.append(Event("Deleted", f"deleted function {name}"))


def delete(request: Request, functions: LambdaFunctions) -> list[Event]:
    """Remove every function the metric may own unless the policy says Retain. One already gone is fine."""
    spec = request.spec
    if spec.get("deletionPolicy") == "Retain":
        return [Event("Retained", f"kept function {request.deployed_name or '(none)'} (deletionPolicy Retain)")]
    events: list[Event] = []
    names = _known_names(request)
    if naming.prefix_problem(spec.get("prefix")) is None:
        names.append(naming.function_name(spec.get("prefix"), request.owner.namespace, request.owner.name))
    for name in dict.fromkeys(names):
        _delete_if_ours(name, request.owner, functions, events)
    return events
