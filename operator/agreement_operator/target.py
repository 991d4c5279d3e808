"""The seam between the control loop and the places a metric deploys to (its targets).

A target brings one metric to its desired state one pass at a time. The control loop hands it
a Request (the resource as it is) and writes back the Outcome: the phase, the reason and
message of the conditions, the Events to post, when to come back, and the target's own block
of status fields. The control loop knows nothing else of a target, and no target knows the
control loop (kopf) or another target. Today's targets: a Lambda function of the metric's own
(lambda_target), and the function of a Label Studio project (label_studio_target).
"""

import datetime
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from agreement_operator import failures
from agreement_operator.config import Config
from agreement_operator.crd import ADOPT_ANNOTATION
from agreement_operator.metric import code_from
from agreement_operator.metric import spec as metric_spec
from agreement_operator.metric.owner import Owner


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
    """One metric as a target sees it."""

    spec: Mapping
    owner: Owner
    read_configmap: code_from.ConfigMapReader  # for spec.codeFrom
    status: Mapping = field(default_factory=dict)  # what earlier passes wrote
    adopt: bool = False  # the resource asks to take over what it finds
    # Writes part of the status at once, mid-pass (before a step the operator may die right after).
    write_status: Callable[[dict], None] | None = None
    attempt: int = 0  # passes so far in this round of retries: the delays grow with it
    created: str | None = None  # metadata.creationTimestamp (RFC 3339)
    # Whether an AgreementMetric (namespace, name) exists in this cluster (None: cannot tell).
    metric_exists: Callable[[str, str], bool] | None = None
    # A person changed an existing metric: its AWS calls go ahead of bulk work (creates, resyncs).
    urgent: bool = False


@dataclass
class Outcome:
    phase: Phase
    reason: str
    message: str
    events: list[Event] = field(default_factory=list)
    retry_delay: float | None = None
    # The target's fields of status (a merge patch: None removes a field).
    status: dict = field(default_factory=dict)
    # The target is applying a change: no failure, look again soon.
    settling: bool = False
    # The pass waits for its turn at the quota: no failure either, and back at the turn.
    quota_turn: bool = False


@dataclass(frozen=True)
class ErrorLook:
    """What one look at a function's log found.

    `summary`: status.functionErrors without the fields of `ErrorReader.scope`;
    `pending`: a query still running, handed back to the next look;
    `never_invoked`: the function has no log yet, worth writing only over an earlier summary.
    """

    summary: dict | None = None
    pending: str | None = None
    never_invoked: bool = False


class ErrorReader(Protocol):
    """Reads the errors a deployed function raised, for status.functionErrors."""

    @property
    def scope(self) -> dict:
        """What the look covers, as status.functionErrors says it: {"window": "1h"}, {"since": DATE}."""
        ...

    def look(self, pending: str | None) -> ErrorLook:
        """Read (or start reading) the errors; failures.ReconcileFailure when the log cannot be read."""
        ...


@dataclass(frozen=True)
class UsageLook:
    """A status field that says how the deployed function is used, and the Events worth posting about it."""

    status: dict
    events: list[Event] = field(default_factory=list)


class UsageReader(Protocol):
    """Reads how a deployed function is used, on the ticks of the function-error looks: how often Lambda
    invoked it (status.usage), or the agreement the project computes with it (status.labelStudio)."""

    @property
    def field(self) -> str:
        """The status field it fills: usage, labelStudio."""
        ...

    def look(self, previous: Mapping | None) -> UsageLook:
        """The field's new value, `previous` being the field as last written."""
        ...


class Target(Protocol):
    @property
    def name(self) -> str:
        """What metric.spec.target_name calls it, also its Prometheus label: lambda, label_studio."""
        ...

    def reconcile(self, request: Request) -> Outcome:
        """One pass: at most one change, never a wait."""
        ...

    def deployed_as_specified(self, request: Request) -> bool:
        """Whether status shows exactly this spec deployed: a restart then makes no request."""
        ...

    def delete(self, request: Request) -> list[Event]:
        """Remove what the metric deployed; failures.ReconcileFailure keeps the resource."""
        ...

    def error_reader(self, request: Request) -> ErrorReader | None:
        """Where the deployed function's errors are read; None when they cannot be."""
        ...

    def usage_reader(self, request: Request) -> UsageReader | None:
        """Where it is read whether anyone invokes the deployed function; None when it cannot be."""
        ...


@dataclass(frozen=True)
class Unconfigured:
    """A target this operator has no connection for: its metrics are Stalled, saying what to set."""

    name: str
    reason: str
    message: str
    on_delete: Callable[[Request], list[Event]] = lambda _: []

    def reconcile(self, request: Request) -> Outcome:
        return failed(failures.PermanentFailure(self.reason, self.message), request.attempt, [], {})

    def deployed_as_specified(self, request: Request) -> bool:
        return False

    def delete(self, request: Request) -> list[Event]:
        return self.on_delete(request)

    def error_reader(self, request: Request) -> ErrorReader | None:
        return None

    def usage_reader(self, request: Request) -> UsageReader | None:
        return None


def require_adoption(request: Request, config: Config, found: str, instead: str) -> None:
    """Nothing when the metric may take over `found`, something agreement-operator did not deploy (it asks
    with the adopt annotation, from a namespace allowed to); otherwise the PermanentFailure that says how."""
    if not request.adopt:
        raise failures.PermanentFailure(
            "FunctionNotManaged",
            f"{found} was not deployed by agreement-operator; to take it over, annotate this resource with "
            f'{ADOPT_ANNOTATION}: "true", or {instead}',
        )
    if not config.may_adopt(request.owner.namespace):
        raise failures.PermanentFailure(
            "AdoptionNotAllowed",
            f"{found} was not deployed by agreement-operator, and namespace {request.owner.namespace} may not adopt; "
            "ask the operator's administrators to add it to the adoptNamespaces setting "
            f"(AGREEMENT_OPERATOR_ADOPT_NAMESPACES), or {instead}",
        )


def resolved_spec(request: Request) -> dict:
    """The spec with spec.codeFrom replaced by the code it names."""
    return code_from.resolve(request.spec, request.owner.namespace, request.read_configmap)


def parsed(resolved: Mapping) -> metric_spec.MetricSpec:
    """The metric a resolved spec describes; PermanentFailure naming every problem when it is invalid."""
    metric, problems = metric_spec.parse(resolved)
    if metric is None:
        raise failures.PermanentFailure(problems[0].reason, "; ".join(str(problem) for problem in problems))
    return metric


def failed(failure: failures.ReconcileFailure, attempt: int, events: list[Event], status: dict) -> Outcome:
    """The Outcome of a pass that ended in `failure`: Stalled, or Reconciling and back after a delay.

    Lambda or Label Studio still applying a change (InProgress) is no failure and posts no Event.
    """
    status = {**status, **failure.status}
    if isinstance(failure, failures.InProgress):
        # A wait for the quota's turn may carry names to record before the create: always written.
        waiting = isinstance(failure, failures.QuotaWait)
        return Outcome(Phase.RECONCILING, failure.reason, failure.message, events, failure.delay, status,
                       settling=not waiting, quota_turn=waiting)
    events.append(Event(failure.reason, failure.message, warning=True))
    if isinstance(failure, failures.RetryableFailure):
        delay = failure.delay if failure.delay is not None else failures.backoff(attempt)
        return Outcome(Phase.RECONCILING, failure.reason, failure.message, events, delay, status)
    return Outcome(Phase.STALLED, failure.reason, failure.message, events, status=status)


def failed_read(what: str, cause: str, at: datetime.datetime | None = None) -> str:
    """The status message of a read that failed (function errors, invocations): what, when, and why. The
    numbers already known stay beside it; cause_of gives the why back, so each cause is warned about once."""
    moment = (at or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
    return f"{what} could not be read at {moment.strftime('%Y-%m-%dT%H:%M:%SZ')}: {cause}"


def cause_of(message: str | None) -> str | None:
    """Why a read failed, from a message failed_read wrote (None for any other message)."""
    if not message or " could not be read at " not in message:
        return None
    return message.split(" could not be read at ", 1)[1].partition(": ")[2]
