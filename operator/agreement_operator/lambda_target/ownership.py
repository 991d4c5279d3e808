"""Whose a Lambda function is, judged by its ownership tags, and what that lets a metric do with it.

A function is the metric's own when its tags name the metric's cluster, namespace and name (a
new uid only means the resource was recreated). One tagged for another metric is never
touched; one without tags is taken over only on request, from a namespace allowed to.
"""

import enum
from collections.abc import Mapping

from agreement_operator import failures, target
from agreement_operator.config import Config
from agreement_operator.lambda_target.lambda_api import DeployedFunction, LambdaFunctions
from agreement_operator.metric.owner import Owner
from agreement_operator.metric.tags import TAG_CLUSTER, TAG_NAME, TAG_NAMESPACE
from agreement_operator.target import Event, Request


class Ownership(enum.Enum):
    OURS = "ours"
    ELSEWHERE = "elsewhere"
    UNMANAGED = "unmanaged"


def ownership(function_tags: Mapping[str, str], owner: Owner) -> Ownership:
    """Whose function this is, judged by its tags; the uid may differ (resource recreated)."""
    claimed = (
        function_tags.get(TAG_CLUSTER),
        function_tags.get(TAG_NAMESPACE),
        function_tags.get(TAG_NAME),
    )
    if claimed == (None, None, None):
        return Ownership.UNMANAGED
    if claimed == (owner.cluster, owner.namespace, owner.name):
        return Ownership.OURS
    return Ownership.ELSEWHERE


def describe_owner(function_tags: Mapping[str, str]) -> str:
    return "{}/{} in cluster {!r}".format(
        function_tags.get(TAG_NAMESPACE, "?"),
        function_tags.get(TAG_NAME, "?"),
        function_tags.get(TAG_CLUSTER, "?"),
    )


def claim(current: DeployedFunction, request: Request, config: Config, events: list[Event]) -> None:
    """Refuse to touch a function that belongs to someone else, or that this namespace may not adopt."""
    owner = ownership(current.tags, request.owner)
    if owner is Ownership.OURS:
        return
    if owner is Ownership.ELSEWHERE:
        raise failures.PermanentFailure(
            "FunctionOwnedElsewhere",
            f"function {current.name} belongs to AgreementMetric {describe_owner(current.tags)}; "
            "change spec.prefix to deploy under another name, or delete the other resource",
        )
    target.require_adoption(request, config, f"function {current.name} exists and",
                            "change spec.prefix to deploy under another name")
    events.append(Event("Adopted", f"adopted existing function {current.name}"))


def delete_if_ours(name: str, owner: Owner, functions: LambdaFunctions, events: list[Event]) -> None:
    current = functions.read(name)
    if current is None:
        return
    if ownership(current.tags, owner) is not Ownership.OURS:
        events.append(Event(
            "NotDeleted", f"left function {name} in place: it belongs to {describe_owner(current.tags)}"
        ))
        return
    if functions.delete(name):
        events.append(Event("Deleted", f"deleted function {name}"))
