"""kstatus conditions (Ready, Reconciling, Stalled) and the status written for an Outcome."""

import datetime
from collections.abc import Mapping, Sequence

from agreement_operator.target import Outcome, Phase

MAX_MESSAGE = 2048


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def conditions(
    phase: Phase, reason: str, message: str, generation: int | None,
    previous: Sequence[Mapping] = (), now: str | None = None,
) -> list[dict]:
    """All three conditions for `phase`; lastTransitionTime only moves when a status flips."""
    message = message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."
    wanted = {
        "Ready": phase is Phase.READY,
        "Reconciling": phase is Phase.RECONCILING,
        "Stalled": phase is Phase.STALLED,
    }
    earlier = {condition.get("type"): condition for condition in previous}
    timestamp = now or now_rfc3339()
    result = []
    for kind, is_true in wanted.items():
        status = "True" if is_true else "False"
        before = earlier.get(kind, {})
        result.append({
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message if is_true or kind == "Ready" else "",
            "lastTransitionTime": before.get("lastTransitionTime", timestamp)
            if before.get("status") == status else timestamp,
            "observedGeneration": generation,
        })
    return result


def find(status: Mapping, kind: str) -> Mapping:
    """The condition of type `kind` in a status (empty when there is none)."""
    return next((c for c in status.get("conditions") or () if c.get("type") == kind), {})


def is_true(status: Mapping, kind: str, generation: int | None = None) -> bool:
    """Whether condition `kind` is True (at `generation`, when given)."""
    condition = find(status, kind)
    at_generation = generation is None or condition.get("observedGeneration") == generation
    return condition.get("status") == "True" and at_generation


def in_progress(status: Mapping, generation: int | None) -> bool:
    """Whether kstatus sees the resource in progress: status describes an older generation, or says Reconciling."""
    observed = status.get("observedGeneration")
    return (observed is not None and observed != generation) or is_true(status, "Reconciling", generation)


def status_for(outcome: Outcome, generation: int | None, previous: Mapping, now: str | None = None) -> dict:
    """The status patch for `outcome`: the conditions, and the target's fields it carries."""
    return {
        "observedGeneration": generation,
        "conditions": conditions(
            outcome.phase, outcome.reason, outcome.message, generation, previous.get("conditions") or (), now
        ),
        **outcome.status,
    }


def merge_patch(previous: Mapping, fields: Mapping) -> dict:
    """The status merge patch that leaves `fields` exactly as given. A merge patch merges objects key by key,
    so a key the new value of an object no longer has (a failure message, once the read works again; a
    metricName no longer asked for) would stay for good: here it is set to null, which removes it. Every
    status write of the operator goes through this (controller/handlers.py)."""
    patch = dict(fields)
    for key, value in fields.items():
        before = previous.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            patch[key] = {**{gone: None for gone in before if gone not in value}, **merge_patch(before, value)}
    return patch
